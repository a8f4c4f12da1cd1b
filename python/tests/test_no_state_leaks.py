# No state leaks between jobs (tiny model, CPU): the same input and seed give identical frames before and
# after a job of another size that left VAE tiling and the LoRA switched on; a simulated OOM inside a stage
# frees what the job held (even while the exception is still referenced) and the next job succeeds with the
# same frames; after a cancel or an OOM with LTX_OFFLOAD=model, switching flow leaves one DiT on the device.
import gc
import threading
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from ltx_worker import runner as R


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return R.LtxRunner(R.WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=256, pro_stage1_steps=2),
                       log=lambda *_: None)


@pytest.fixture()
def frames_written(monkeypatch):
    """The exact uint8 frames each job hands to the encoder, per job id."""
    seen: dict[str, list[np.ndarray]] = {}
    real = R.write_mp4

    def spy(path, frames, *args, **kwargs):
        kept = seen.setdefault(path, [])

        def tee():
            for f in frames:
                kept.append(np.array(f))
                yield f

        return real(path, tee(), *args, **kwargs)

    monkeypatch.setattr(R, "write_mp4", spy)
    return seen


def _job(tmp_path, name, w=64, h=64, n=9, seed=5, flow="pro"):
    img = tmp_path / "start.png"
    if not img.exists():
        y, x = np.mgrid[0:90, 0:160]
        Image.fromarray(np.stack([x * 1.5, y * 2.5, (x + y)], -1).astype(np.uint8)).save(img)
    return R.Job(id=name, prompt="a lighthouse at dusk", start_image=str(img), end_image=None, width=w, height=h, fps=24.0,
                 num_frames=n, seed=seed, generate_audio=False, flow=flow, output_path=str(tmp_path / f"{name}.mp4"))


def _run(runner, job, progress=lambda *a: None):
    return runner.run(R.JobContext(job=job, cancel=threading.Event(), progress=progress, log=lambda *_: None))


def test_the_same_input_and_seed_give_identical_frames_before_and_after_a_job_of_another_size(runner, tmp_path, frames_written):
    first = _job(tmp_path, "a1")
    _run(runner, first)
    vae = runner.pipe.vae

    def leave_state_behind(stage, step, total):
        # What a previous job's decode or stage 2 could leave switched on: VAE tiling (small tiles, so a
        # tiled condition encode would differ) and the LoRA.
        if stage == "decode" and step == 0:
            vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=32, tile_sample_stride_height=16, tile_sample_stride_width=16)
            vae.use_framewise_encoding = True
            if runner.has_lora:
                runner.pipe.enable_lora()

    try:
        _run(runner, _job(tmp_path, "other", w=128, h=96, n=17, seed=9), progress=leave_state_behind)
    finally:
        vae.tile_sample_min_height = vae.tile_sample_min_width = 512
        vae.tile_sample_stride_height = vae.tile_sample_stride_width = 448
    assert vae.use_tiling is False and vae.use_framewise_encoding is False  # reset after the job
    _run(runner, _job(tmp_path, "a2"))
    a1, a2 = frames_written[first.output_path], frames_written[str(tmp_path / "a2.mp4")]
    assert len(a1) == len(a2) == 9
    assert all(np.array_equal(x, y) for x, y in zip(a1, a2))


def test_a_simulated_oom_in_a_stage_frees_what_the_job_held_and_the_next_job_succeeds(runner, tmp_path, frames_written):
    clean = _job(tmp_path, "clean")
    _run(runner, clean)
    held: list[weakref.ref] = []
    block = runner.pipe.transformer.transformer_blocks[0]
    calls = {"n": 0}

    def oom(_module, args, kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # inside stage 1, after a step: latents, embeddings and activations exist
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            held.append(weakref.ref(hidden))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")

    handle = block.register_forward_pre_hook(oom, with_kwargs=True)
    try:
        with pytest.raises(torch.OutOfMemoryError) as info:
            _run(runner, _job(tmp_path, "oom"))
    finally:
        handle.remove()
    gc.collect()
    # The exception is still referenced (pytest keeps it), yet the job's tensors are gone: the runner released
    # the traceback's frames (kept as text in a note) before emptying the CUDA cache.
    assert info.value is not None and held and held[0]() is None
    assert "out of memory" in str(info.value).lower()  # what __main__ maps to the out_of_memory error type
    assert any("test_no_state_leaks.py" in note for note in info.value.__notes__)  # the traceback, as text
    if runner.has_lora:
        assert not any(getattr(m, "_disable_adapters", False) is False and getattr(m, "merged", False) for m in runner.pipe.transformer.modules())
    again = _job(tmp_path, "again")
    metrics = _run(runner, again)
    assert metrics["frames_written"] == 9
    a, b = frames_written[clean.output_path], frames_written[again.output_path]
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b) == 9


class _Module:
    """A model as far as offload bookkeeping goes: where its weights are."""

    def __init__(self, name):
        self.name, self.where = name, "cpu"

    def to(self, device):
        self.where = str(device)
        return self


class _OffloadPipe:
    """diffusers' enable_model_cpu_offload contract: moves *this* pipeline's models to the CPU and attaches
    hooks that bring each one to the device when it runs (use())."""

    def __init__(self, transformer, shared):
        self.transformer = transformer
        self.components = {"transformer": transformer, **shared}
        self.offload_device = None

    def enable_model_cpu_offload(self, device):
        for m in self.components.values():
            m.to("cpu")
        self.offload_device = device

    def use(self, name):
        for m in self.components.values():  # the previous model's hook offloads it
            if m.where != "cpu" and m.name != name:
                m.to("cpu")
        self.components[name].to(self.offload_device)


def _offload_runner():
    shared = {"vae": _Module("vae"), "text_encoder": _Module("text_encoder")}
    r = R.LtxRunner.__new__(R.LtxRunner)
    r.device, r.opts, r.has_lora = "cuda:0", R.WorkerOptions(model_dir="-", offload="model"), True
    r.pipe, r.fast_pipe = _OffloadPipe(_Module("dev-dit"), shared), _OffloadPipe(_Module("distilled-dit"), shared)
    r._active_offload_flow = None
    return r


def _resident_transformers(r):
    return [p.transformer.name for p in (r.pipe, r.fast_pipe) if p.transformer.where != "cpu"]


@pytest.mark.parametrize("failure", [R.JobCancelled(), torch.OutOfMemoryError("CUDA out of memory (simulated)")])
def test_after_a_cancel_or_oom_with_model_offload_switching_flow_leaves_one_transformer_resident(failure):
    r = _offload_runner()
    pipe = r._pipe_for("pro")
    pipe.use("transformer")  # the job dies mid-denoise: its DiT stays on the device, hooks never ran
    assert _resident_transformers(r) == ["dev-dit"]
    r._release_after_failure(failure)
    assert _resident_transformers(r) == [] and r._active_offload_flow is None
    fast = r._pipe_for("fast")
    fast.use("transformer")
    assert _resident_transformers(r) == ["distilled-dit"]


def test_switching_flow_parks_the_other_dit_even_without_a_failure():
    r = _offload_runner()
    r._pipe_for("pro").use("transformer")
    # A successful job leaves the hooks' state as is; the flow switch itself must park the dev DiT.
    r._pipe_for("fast").use("transformer")
    assert _resident_transformers(r) == ["distilled-dit"]
    r._pipe_for("pro").use("transformer")
    assert _resident_transformers(r) == ["dev-dit"]
