# Builds a tiny, randomly initialised LTX-2.3-shaped pipeline (plus the x2 latent upsampler) offline,
# for tests: `python -m ltx_worker.tiny_model OUT_DIR`. Nothing is downloaded; see docs/ltx-engine.md ("What CI verifies").
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from . import models as M

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
WORDS = (
    "a the of and in on with at to from is are red blue green white black cat dog bird car tree sky sea "
    "walks runs flies moves slowly quickly camera pans zooms over under city street night day sun light "
    "small big river mountain person woman man child"
).split()
VOCAB_SIZE = 64


def _build_tokenizer(out_dir: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in SPECIAL_TOKENS + WORDS:
        if token not in vocab and len(vocab) < VOCAB_SIZE:
            vocab[token] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok_dir = out_dir / "tokenizer"
    tok_dir.mkdir(parents=True, exist_ok=True)
    backend.save(str(tok_dir / "tokenizer.json"))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tok_dir / "tokenizer.json"),
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=1024,
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    return tokenizer, vocab


def build_tiny_pipeline(out_dir: str | os.PathLike, seed: int = 0, with_distilled: bool = True) -> Path:
    """Writes a Diffusers-format tiny pipeline to out_dir, the upsampler to out_dir/latent_upsampler and,
    with_distilled, a second transformer (other random weights) to out_dir/distilled/transformer for the
    fast flow: the layout docs/ltx-engine.md asks of real weights."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2ConditionPipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline, LTX2LatentUpsamplerModel, LTX2TextConnectors, LTX2VocoderWithBWE
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer, vocab = _build_tokenizer(out)

    gemma_config = Gemma3Config(
        text_config={
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "intermediate_size": 64,
            "vocab_size": VOCAB_SIZE,
            "max_position_embeddings": 2048,
            "sliding_window": 512,
        },
        vision_config={
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "image_size": 28,
            "patch_size": 14,
        },
        mm_tokens_per_image=4,
        boi_token_index=vocab["<start_of_image>"],
        eoi_token_index=vocab["<end_of_image>"],
        image_token_index=vocab["<image_soft_token>"],
    )
    text_encoder = Gemma3ForConditionalGeneration(gemma_config)

    transformer_config = dict(
        in_channels=128,
        out_channels=128,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        audio_in_channels=128,
        audio_out_channels=128,
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=2,
        caption_channels=32,
        gated_attn=True,
        cross_attn_mod=True,
        audio_gated_attn=True,
        audio_cross_attn_mod=True,
        perturbed_attn=True,
        qk_norm="rms_norm_across_heads",
        rope_type="split",
        rope_double_precision=True,
        use_prompt_embeddings=False,
    )
    transformer = LTX2VideoTransformer3DModel(**transformer_config)
    connectors = LTX2TextConnectors(
        caption_channels=32,
        text_proj_in_factor=3,
        video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=128,
        video_gated_attn=True,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=4,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=128,
        audio_gated_attn=True,
        connector_rope_base_seq_len=4096,
        rope_type="split",
        per_modality_projections=True,
        video_hidden_dim=16,
        audio_hidden_dim=8,
        proj_bias=True,
    )
    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=128,
        block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        down_block_types=("LTX2VideoDownBlock3D",) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True, True),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        encoder_spatial_padding_mode="zeros",
        decoder_spatial_padding_mode="zeros",
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=128,
        output_channels=2,
        ch_mult=(1, 1, 1),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=256,
        latent_channels=8,
        norm_type="pixel",
        causality_axis="height",
        is_causal=True,
        mel_bins=64,
        sample_rate=16000,
        mel_hop_length=160,
    )
    vocoder = LTX2VocoderWithBWE(
        hidden_channels=64,
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        bwe_hidden_channels=32,
        bwe_resnet_kernel_sizes=[3],
        bwe_resnet_dilations=[[1, 3, 5]],
    )
    pipe = LTX2ConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
        audio_scheduler=None,
        processor=None,
        prompt_enhancer=None,
        duration_head=None,
    )
    pipe.save_pretrained(str(out))
    # The upsampler as `models download` lays it out: the LTX2LatentUpsamplePipeline folder without its vae/
    # copy (model_index.json + latent_upsampler/), under DIR/latent_upsampler.
    upsampler = LTX2LatentUpsamplerModel(in_channels=128, mid_channels=32, num_blocks_per_stage=1)
    LTX2LatentUpsamplePipeline(vae=vae, latent_upsampler=upsampler).save_pretrained(str(out / "latent_upsampler"))
    shutil.rmtree(out / "latent_upsampler" / "vae")
    if with_distilled:
        torch.manual_seed(seed + 1)
        LTX2VideoTransformer3DModel(**transformer_config).save_pretrained(str(out / "distilled" / "transformer"))
        _save_tiny_lora(transformer, out / "distilled_lora", seed + 2)
    (out / M.TINY_MARKER).write_text(json.dumps({"tiny": True, "seed": seed}))
    M.manifest_for_existing(out, ["pro", "fast"] if with_distilled else ["pro"], tiny=True)
    return out


def _save_tiny_lora(transformer, lora_dir: Path, seed: int) -> None:
    """A random rank-4 LoRA on the attention projections, in diffusers' LoRA format, standing in for
    ltx-2.3-22b-distilled-lora-384 (exercises load_lora_weights and the per-stage adapter switching)."""
    import torch
    from diffusers import LTX2ConditionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False),
        adapter_name="tiny",
    )
    layers = get_peft_model_state_dict(transformer, adapter_name="tiny")
    LTX2ConditionPipeline.save_lora_weights(lora_dir, transformer_lora_layers=layers, weight_name="tiny-distilled-lora.safetensors")
    transformer.delete_adapters("tiny")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m ltx_worker.tiny_model OUT_DIR", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # `npm run ltx:tiny-model -- DIR` runs in the package root: a relative DIR is the caller's.
    out = Path(argv[1])
    if not out.is_absolute() and os.environ.get("INIT_CWD"):
        out = Path(os.environ["INIT_CWD"]) / out
    path = build_tiny_pipeline(out)
    print(str(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
