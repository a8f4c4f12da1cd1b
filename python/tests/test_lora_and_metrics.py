# The distilled LoRA lands on the DiT only, never on the text connectors (diffusers' own loader would put
# it there); peak-memory metrics read the job's device; the negative prompt is the reference release's.
import pytest
import torch

from ltx_worker import plan as P
from ltx_worker.lora import load_dit_lora
from ltx_worker.models import lora_files


def _lora_with_connector_keys(tiny_model_dir, tmp_path):
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from ltx_worker.runner import make_pipeline_class

    src = lora_files(tiny_model_dir)[0]
    tensors = load_file(str(src))
    pipe = make_pipeline_class().from_pretrained(str(tiny_model_dir), local_files_only=True)
    pipe.connectors.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False), adapter_name="c")
    for k, v in get_peft_model_state_dict(pipe.connectors, adapter_name="c").items():
        tensors[f"connectors.{k}"] = v.contiguous()
    pipe.connectors.delete_adapters("c")
    out = tmp_path / "lora-with-connectors.safetensors"
    save_file(tensors, str(out))
    return pipe, out


def _adapters(module):
    return {name for m in module.modules() if hasattr(m, "lora_A") for name in m.lora_A.keys()}


def test_the_lora_goes_on_the_dit_and_never_on_the_text_connectors(tiny_model_dir, tmp_path):
    pipe, file = _lora_with_connector_keys(tiny_model_dir, tmp_path)
    # diffusers' loader alone would adapt the connectors too: the file really has connector keys.
    pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name="plain")
    assert "plain" in _adapters(pipe.connectors)
    dropped = load_dit_lora(pipe, file, "dit_only")
    assert dropped > 0
    assert "dit_only" in _adapters(pipe.transformer)
    assert "dit_only" not in _adapters(pipe.connectors)


def test_peak_memory_is_read_on_the_jobs_own_device(tiny_model_dir, monkeypatch):
    from ltx_worker.runner import JobContext, LtxRunner, WorkerOptions

    runner = LtxRunner(WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=64), log=lambda *_: None)
    seen = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: seen.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: seen.append(("max", device)) or 123)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(runner, "_run", lambda ctx: {})
    runner.device = "cuda:1"
    import threading

    metrics = runner.run(JobContext(job=None, cancel=threading.Event(), progress=lambda *_: None, log=lambda *_: None))
    assert ("reset", "cuda:1") in seen and ("max", "cuda:1") in seen
    assert metrics["peak_gpu_memory_bytes"] == 123


def test_the_negative_prompt_starts_with_the_reference_release_tags():
    assert P.DEFAULT_NEGATIVE_PROMPT.startswith(
        "has_subtitles, has_blurbox, transition from black, transition to black, speech_ending_short, blurry, out of focus"
    )
    assert P.DEFAULT_NEGATIVE_PROMPT.endswith("stylized filters, or AI artifacts.")
