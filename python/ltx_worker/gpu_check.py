# GPU check: `python -m ltx_worker.gpu_check [--tiny] [--device cuda:0] [--budget-gib 80]` builds the
# full-size LTX-2.3 architecture (DiT, Gemma-3-12B-shaped text encoder, connectors, VAEs, vocoder, x2
# upsampler, rank-384 LoRA) with random bf16 weights on the device, injects it into the real LtxRunner
# (its _load runs with the component constructors swapped for in-memory builds) and prints one JSON line
# per probe. --tiny (automatic on the CPU) runs the same code on the tiny test model. No weights are
# downloaded; the numbers are speed and memory, never quality. See docs/ltx-engine.md ("GPU check").
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

GIB = 1024**3
LORA_RANK = 384
# Published bf16 sizes of the LTX-2.3 components (GB) to compare the random build against.
REFERENCE_GB = {"transformer": 35.38, "connectors": 5.91, "text_encoder": 24.4, "vae": 1.39, "audio_vae": 0.10,
                "vocoder": 0.25, "latent_upsampler": 0.95}


def emit(probe: str, **fields: Any) -> None:
    print(json.dumps({"probe": probe, **fields}, default=str), flush=True)


# ---- full-size configs ------------------------------------------------------------------------------
# Size keys of the tiny model's configs that are dropped, so the diffusers defaults (the released LTX-2
# sizes) apply; the LTX-2.3 flags of the tiny model (gated attention, split RoPE, ...) are kept.
_DROP = {
    "transformer": ["num_attention_heads", "attention_head_dim", "cross_attention_dim", "audio_num_attention_heads",
                    "audio_attention_head_dim", "audio_cross_attention_dim", "num_layers", "caption_channels"],
    "connectors": ["caption_channels", "text_proj_in_factor", "video_connector_num_attention_heads",
                   "video_connector_attention_head_dim", "audio_connector_num_attention_heads",
                   "audio_connector_attention_head_dim", "video_hidden_dim", "audio_hidden_dim"],
    "vae": ["block_out_channels", "decoder_block_out_channels", "layers_per_block", "decoder_layers_per_block",
            "spatio_temporal_scaling", "decoder_spatio_temporal_scaling", "decoder_inject_noise", "upsample_type",
            "upsample_residual", "upsample_factor", "decoder_causal", "decoder_spatial_padding_mode"],
    "audio_vae": ["ch_mult", "num_res_blocks"],
    "vocoder": ["hidden_channels", "resnet_kernel_sizes", "resnet_dilations", "bwe_hidden_channels",
                "bwe_resnet_kernel_sizes", "bwe_resnet_dilations"],
    "latent_upsampler": ["mid_channels", "num_blocks_per_stage"],
}
_SET = {"connectors": dict(video_connector_num_layers=5, audio_connector_num_layers=5)}


def full_config(name: str, tiny_cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = {k: v for k, v in tiny_cfg.items() if not k.startswith("_") and k not in _DROP.get(name, [])}
    cfg.update(_SET.get(name, {}))
    return cfg


def gemma_12b_config(tiny_te_config):
    """Gemma-3-12B shapes (text: 48 layers, 3840 wide; SigLIP vision tower) with the tiny model's token ids."""
    from transformers import Gemma3Config

    return Gemma3Config(
        text_config=dict(hidden_size=3840, num_hidden_layers=48, num_attention_heads=16, num_key_value_heads=8,
                         head_dim=256, intermediate_size=15360, vocab_size=262208, max_position_embeddings=131072,
                         sliding_window=1024),
        vision_config=dict(hidden_size=1152, num_hidden_layers=27, num_attention_heads=16, intermediate_size=4304,
                           image_size=896, patch_size=14),
        mm_tokens_per_image=256,
        boi_token_index=tiny_te_config.boi_token_index,
        eoi_token_index=tiny_te_config.eoi_token_index,
        image_token_index=tiny_te_config.image_token_index,
    )


def _read_config(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@contextlib.contextmanager
def full_size_injection(model_dir: Path, device: str, dtype) -> Iterator[dict[str, Any]]:
    """While active, LtxRunner._load builds full-size random components on the device instead of reading
    the (tiny) weights in model_dir: the pipeline, upsampler and distilled-transformer loaders and the LoRA
    loader are swapped for in-memory builds. Yields a dict that collects the parameter counts."""
    import torch
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel, LTX2TextConnectors, LTX2VocoderWithBWE
    from peft import LoraConfig
    from transformers import AutoTokenizer, Gemma3Config, Gemma3ForConditionalGeneration

    from . import runner as R

    params: dict[str, Any] = {}
    built: dict[str, Any] = {}

    def build(name: str, fn: Callable[[], Any]):
        t = time.perf_counter()
        prev = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device), torch.no_grad():
                module = fn()
        finally:
            torch.set_default_dtype(prev)
        module.to(device=device, dtype=dtype)
        module.eval()
        n = sum(p.numel() for p in module.parameters())
        params[name] = {"params": n, "gb_bf16": round(n * 2 / 1e9, 2), "reference_gb": REFERENCE_GB.get(name),
                        "build_s": round(time.perf_counter() - t, 2)}
        return module

    def dit():
        cfg = full_config("transformer", _read_config(model_dir / "transformer" / "config.json"))
        return LTX2VideoTransformer3DModel(**cfg)

    orig = {}

    def fake_pipe_from_pretrained(cls, path, **kw):
        from diffusers import FlowMatchEulerDiscreteScheduler

        te_tiny = Gemma3Config.from_pretrained(str(model_dir / "text_encoder"))
        comps = dict(
            scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(str(model_dir / "scheduler")),
            tokenizer=AutoTokenizer.from_pretrained(str(model_dir / "tokenizer")),
            transformer=build("transformer", dit),
            connectors=build("connectors", lambda: LTX2TextConnectors(**full_config("connectors", _read_config(model_dir / "connectors" / "config.json")))),
            vae=build("vae", lambda: AutoencoderKLLTX2Video(**full_config("vae", _read_config(model_dir / "vae" / "config.json")))),
            audio_vae=build("audio_vae", lambda: AutoencoderKLLTX2Audio(**full_config("audio_vae", _read_config(model_dir / "audio_vae" / "config.json")))),
            vocoder=build("vocoder", lambda: LTX2VocoderWithBWE(**full_config("vocoder", _read_config(model_dir / "vocoder" / "config.json")))),
            text_encoder=build("text_encoder", lambda: Gemma3ForConditionalGeneration(gemma_12b_config(te_tiny))),
            audio_scheduler=None, processor=None, prompt_enhancer=None, duration_head=None,
        )
        pipe = cls(**comps)
        built["pipe"] = pipe
        return pipe

    def fake_upsampler(cls, path, **kw):
        cfg = full_config("latent_upsampler", _read_config(Path(path) / "config.json"))
        return build("latent_upsampler", lambda: LTX2LatentUpsamplerModel(**cfg))

    def fake_distilled(cls, path, **kw):
        return build("distilled_transformer", dit)

    def fake_lora(pipe, file, adapter_name):
        pipe.transformer.add_adapter(
            LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2"],
                       init_lora_weights="gaussian"),
            adapter_name=adapter_name,
        )
        pipe.transformer.to(device=device, dtype=dtype)
        n = sum(p.numel() for k, p in pipe.transformer.named_parameters() if "lora_" in k)
        params["lora"] = {"params": n, "gb_bf16": round(n * 2 / 1e9, 2), "reference_gb": 7.08, "rank": LORA_RANK}
        return 0

    pipe_cls = R.make_pipeline_class
    orig["make"] = pipe_cls

    def make_cls():
        cls = pipe_cls()

        class Injected(cls):  # type: ignore[misc, valid-type]
            from_pretrained = classmethod(fake_pipe_from_pretrained)

        Injected.__name__ = cls.__name__
        return Injected

    saved = (R.make_pipeline_class, R.load_dit_lora, LTX2LatentUpsamplerModel.__dict__.get("from_pretrained"),
             LTX2VideoTransformer3DModel.__dict__.get("from_pretrained"))
    R.make_pipeline_class = make_cls
    R.load_dit_lora = fake_lora
    LTX2LatentUpsamplerModel.from_pretrained = classmethod(fake_upsampler)
    LTX2VideoTransformer3DModel.from_pretrained = classmethod(fake_distilled)
    try:
        yield params
    finally:
        R.make_pipeline_class, R.load_dit_lora = saved[0], saved[1]
        if saved[2] is None:
            del LTX2LatentUpsamplerModel.from_pretrained
        else:
            LTX2LatentUpsamplerModel.from_pretrained = saved[2]
        if saved[3] is None:
            del LTX2VideoTransformer3DModel.from_pretrained
        else:
            LTX2VideoTransformer3DModel.from_pretrained = saved[3]


# ---- probes -----------------------------------------------------------------------------------------

class Meter:
    """Peak device memory per stage (reset at each stage change) and seconds per step, from progress events."""

    def __init__(self, torch, device: str):
        self.torch, self.device = torch, device
        self.cuda = device.startswith("cuda")
        self.stage: str | None = None
        self.stage_t = 0.0
        self.stages: dict[str, dict[str, Any]] = {}
        self.on_progress: Callable[[str, int, int], None] | None = None

    def peak(self) -> int | None:
        return int(self.torch.cuda.max_memory_allocated(self.device)) if self.cuda else None

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def _close(self, now: float) -> None:
        if self.stage is not None:
            st = self.stages.setdefault(self.stage, {"seconds": 0.0, "steps": 0})
            st["seconds"] = round(st["seconds"] + now - self.stage_t, 4)
            p = self.peak()
            st["peak_gib"] = None if p is None else round(p / GIB, 2)

    def progress(self, stage: str, step: int, total: int) -> None:
        now = time.perf_counter()
        if stage != self.stage:
            self._close(now)
            self.reset()
            self.stage, self.stage_t = stage, now
        elif step > 0:
            self.stages.setdefault(stage, {"seconds": 0.0, "steps": 0})["steps"] = step
        if self.on_progress:
            self.on_progress(stage, step, total)

    def finish(self) -> dict[str, Any]:
        self._close(time.perf_counter())
        self.stage = None
        for st in self.stages.values():
            if st["steps"]:
                st["seconds_per_step"] = round(st["seconds"] / st["steps"], 4)
        return self.stages


def _image(path: Path) -> str:
    import numpy as np
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((256, 448, 3)) * 255).astype("uint8")).save(path)
    return str(path)


def _job(tmp: Path, name: str, width: int, height: int, frames: int, fps: float, flow: str = "pro", prompt: str = "a cat walks"):
    from .runner import Job

    return Job(id=name, prompt=prompt, start_image=_image(tmp / f"{name}.png"), end_image=None, width=width, height=height,
               fps=fps, num_frames=frames, seed=1, generate_audio=True, flow=flow, output_path=str(tmp / f"{name}.mp4"))


def _ctx(job, meter: Meter | None = None, cancel=None):
    from .cancel import CancelEvent
    from .runner import JobContext

    return JobContext(job=job, cancel=cancel or CancelEvent(), progress=meter.progress if meter else (lambda *_: None),
                      log=lambda level, msg: print(json.dumps({"log": level, "message": msg}), file=sys.stderr))


def probe_stages(runner, tmp: Path, size: dict[str, Any]) -> None:
    meter = Meter(runner.torch, runner.device)
    for flow in runner.describe()["flows"]:
        meter.stages = {}
        t = time.perf_counter()
        metrics = runner.run(_ctx(_job(tmp, f"stages-{flow}", size["width"], size["height"], size["frames"], size["fps"], flow), meter))
        emit("stages", flow=flow, size=size, stages=meter.finish(), total_s=round(time.perf_counter() - t, 2),
             peak_gib=None if metrics["peak_gpu_memory_bytes"] is None else round(metrics["peak_gpu_memory_bytes"] / GIB, 2))


def probe_decode(runner, name: str, width: int, height: int, frames: int) -> None:
    """Peak memory of decoding a clip of this size from random latents (the runner's own decode)."""
    torch = runner.torch
    pipe = runner.pipe
    r_s, r_t = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
    grid_w, grid_h = -(-width // 64) * 64, -(-height // 64) * 64
    shape = (1, 128, (frames - 1) // r_t + 1, grid_h // r_s, grid_w // r_s)
    meter = Meter(torch, runner.device)
    gc.collect()
    if meter.cuda:
        torch.cuda.empty_cache()
    before = meter.peak() if meter.cuda else None
    meter.reset()
    t = time.perf_counter()
    try:
        lat = torch.randn(shape, device=runner.device, dtype=runner.dtype)
        out = runner._decode_video(pipe, lat)
        n_frames = int(getattr(out, "shape", [0])[0]) if hasattr(out, "shape") else None
        del lat, out
        emit("decode", clip=name, latent_shape=list(shape), frames=n_frames, seconds=round(time.perf_counter() - t, 2),
             peak_gib=None if meter.peak() is None else round(meter.peak() / GIB, 2),
             resident_gib=None if before is None else round(torch.cuda.memory_allocated(runner.device) / GIB, 2), ok=True)
    except Exception as err:  # noqa: BLE001 - the probe reports it
        emit("decode", clip=name, latent_shape=list(shape), ok=False, error=f"{type(err).__name__}: {str(err)[:300]}")
    finally:
        gc.collect()
        if meter.cuda:
            torch.cuda.empty_cache()


def probe_prompt_cache(runner, n: int) -> None:
    torch = runner.torch
    cuda = runner.device.startswith("cuda")
    mem = (lambda: torch.cuda.memory_allocated(runner.device)) if cuda else (lambda: 0)
    start, size0 = mem(), len(runner._prompt_cache)
    for i in range(n):
        runner._prompt_embeds(runner.pipe, f"probe prompt number {i} a dog runs")
    entry_bytes = [sum(int(t.numel() * t.element_size()) for t in v if hasattr(t, "numel")) for v in list(runner._prompt_cache.values())[-n:]]
    devices = sorted({str(t.device) for v in runner._prompt_cache.values() for t in v if hasattr(t, "device")})
    emit("prompt_cache", prompts=n, entries=len(runner._prompt_cache) - size0, entry_mib=round(max(entry_bytes or [0]) / 2**20, 1),
         device_growth_mib=round((mem() - start) / 2**20, 1), entry_devices=devices)


def probe_oom_recovery(runner, tmp: Path, size: dict[str, Any]) -> None:
    torch = runner.torch
    cuda = runner.device.startswith("cuda")

    def blow(stage, step, total):
        if stage == "denoise-1" and step == 1:
            if cuda:
                torch.empty(int(torch.cuda.get_device_properties(runner.device).total_memory * 2), dtype=torch.uint8, device=runner.device)
            raise MemoryError("simulated out of memory")

    meter = Meter(torch, runner.device)
    meter.on_progress = blow
    first_error = None
    try:
        runner.run(_ctx(_job(tmp, "oom", size["width"], size["height"], size["frames"], size["fps"]), meter))
    except BaseException as err:  # noqa: BLE001
        first_error = type(err).__name__
    after = round(torch.cuda.memory_allocated(runner.device) / GIB, 2) if cuda else None
    ok = True
    try:
        runner.run(_ctx(_job(tmp, "after-oom", size["width"], size["height"], size["frames"], size["fps"])))
    except Exception as err:  # noqa: BLE001
        ok = False
        first_error = f"{first_error}; next job: {type(err).__name__}: {str(err)[:200]}"
    emit("oom_recovery", oom_raised=first_error, allocated_after_oom_gib=after, next_job_ok=ok)


def probe_cancel(runner, tmp: Path, size: dict[str, Any]) -> None:
    from .cancel import CancelEvent
    from .runner import JobCancelled

    for at in ("denoise-1", "denoise-2", "decode"):
        cancel = CancelEvent()
        meter = Meter(runner.torch, runner.device)
        meter.on_progress = lambda stage, step, total, at=at: cancel.set() if stage == at and (step == 1 or at == "decode") else None
        stopped = None
        try:
            runner.run(_ctx(_job(tmp, f"cancel-{at}", size["width"], size["height"], size["frames"], size["fps"]), meter, cancel))
        except JobCancelled:
            stopped = cancel.latency_ms()
        emit("cancel", stage=at, cancelled=stopped is not None, latency_ms=None if stopped is None else round(stopped, 1))


def probe_model_offload(make_runner, tmp: Path, size: dict[str, Any], budget_gib: float, device: str) -> None:
    if not device.startswith("cuda"):
        emit("model_offload", skipped="offload needs a CUDA device", budget_gib=budget_gib, fits=None)
        return
    runner = make_runner("model")
    meter = Meter(runner.torch, runner.device)
    metrics = runner.run(_ctx(_job(tmp, "offload", size["width"], size["height"], size["frames"], size["fps"]), meter))
    peak = metrics["peak_gpu_memory_bytes"] / GIB
    emit("model_offload", budget_gib=budget_gib, peak_gib=round(peak, 2), fits=peak <= budget_gib, size=size, stages=meter.finish())


# ---- main -------------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ltx_worker.gpu_check", description=__doc__)
    ap.add_argument("--tiny", action="store_true", help="tiny random model (automatic without CUDA)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--budget-gib", type=float, default=80.0, help="memory budget for the model-offload probe")
    ap.add_argument("--stage1-steps", type=int, default=2, help="pro stage-1 steps per probe job (time per step is what is measured)")
    ap.add_argument("--probes", default="stages,decode,prompt_cache,oom,cancel,offload")
    args = ap.parse_args(argv)
    import torch

    from .runner import LtxRunner, WorkerOptions
    from .tiny_model import build_tiny_pipeline

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    tiny = args.tiny or not device.startswith("cuda")
    probes = set(args.probes.split(","))
    with tempfile.TemporaryDirectory(prefix="ltx-gpu-check-") as tmp_s:
        tmp = Path(tmp_s)
        model_dir = build_tiny_pipeline(tmp / "model")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        emit("setup", device=device, tiny=tiny, torch=torch.__version__,
             gpu=torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
             total_gib=round(torch.cuda.get_device_properties(device).total_memory / GIB, 1) if device.startswith("cuda") else None)

        def make_runner(offload: str):
            # The offload probe runs the pro flow alone: host RAM holds every weight in offload modes.
            mdir = model_dir if offload == "none" else build_tiny_pipeline(tmp / "model-pro", with_distilled=False)
            opts = WorkerOptions(model_dir=str(mdir), device=device, offload=offload,
                                 max_sequence_length=1024 if not tiny else 128, pro_stage1_steps=args.stage1_steps)
            t = time.perf_counter()
            if tiny:
                runner = LtxRunner(opts, log=lambda *_: None)
                params = {}
            else:
                with full_size_injection(mdir, device if offload == "none" else "cpu", dtype) as params:
                    runner = LtxRunner(opts, log=lambda *_: None)
            emit("load", offload=offload, seconds=round(time.perf_counter() - t, 2), components=params,
                 allocated_gib=round(torch.cuda.memory_allocated(device) / GIB, 2) if device.startswith("cuda") else None)
            return runner

        size = dict(width=64, height=64, frames=9, fps=24.0) if tiny else dict(width=1920, height=1080, frames=25, fps=25.0)
        runner = make_runner("none")
        if "stages" in probes:
            probe_stages(runner, tmp, size)
        if "decode" in probes:
            if tiny:
                probe_decode(runner, "1080p50-10s (tiny: 128x128, 17 frames)", 128, 128, 17)
                probe_decode(runner, "2160p (tiny: 256x128, 9 frames)", 256, 128, 9)
            else:
                probe_decode(runner, "1080p50-10s", 1920, 1080, 505)
                probe_decode(runner, "2160p25-10s", 3840, 2160, 257)
        if "prompt_cache" in probes:
            probe_prompt_cache(runner, 4 if tiny else 8)
        if "oom" in probes:
            probe_oom_recovery(runner, tmp, size)
        if "cancel" in probes:
            probe_cancel(runner, tmp, size)
        del runner
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        if "offload" in probes:
            probe_model_offload(make_runner, tmp, size, args.budget_gib, device)
    emit("done", ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
