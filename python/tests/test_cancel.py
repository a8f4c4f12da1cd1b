# A cancel that arrives while the VAE decodes (or mid-step) stops the call at the next block, instead of
# after the whole decode, and the cancel event reports its latency. Tiny random model on the CPU.
import numpy as np
import pytest

from ltx_worker.cancel import CancelEvent, block_modules, cancel_checks
from ltx_worker.runner import Job, JobCancelled, JobContext, LtxRunner, WorkerOptions


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return LtxRunner(WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=256), log=lambda *_: None)


def _job(tmp_path, flow="fast"):
    from PIL import Image

    img = tmp_path / "start.png"
    Image.fromarray(np.full((90, 160, 3), 100, np.uint8)).save(img)
    return Job(id="cd", prompt="a dog", start_image=str(img), end_image=None, width=64, height=64, fps=24.0,
               num_frames=9, seed=3, generate_audio=False, flow=flow, output_path=str(tmp_path / "out.mp4"))


def test_a_cancel_during_decode_stops_before_the_next_decoder_block(runner, tmp_path):
    decoder = runner.pipe.vae.decoder
    blocks = block_modules(decoder)
    assert len(blocks) >= 2
    cancel = CancelEvent()
    ran_after_cancel = []
    handles = [b.register_forward_hook(lambda m, a, o: ran_after_cancel.append(m) if cancel.is_set() else None) for b in blocks]

    def progress(stage, step, total):
        if stage == "decode" and step == 0:
            cancel.set()

    try:
        with pytest.raises(JobCancelled):
            runner.run(JobContext(job=_job(tmp_path), cancel=cancel, progress=progress, log=lambda *_: None))
    finally:
        for h in handles:
            h.remove()
    assert ran_after_cancel == []
    assert cancel.latency_ms() is not None and cancel.latency_ms() >= 0
    assert not (tmp_path / "out.mp4").exists()
    # The hooks are gone after the job: a later decode runs every block.
    assert all(len(b._forward_pre_hooks) == 0 for b in blocks)


def test_a_cancel_mid_step_stops_at_the_next_transformer_block(runner, tmp_path):
    blocks = block_modules(runner.fast_pipe.transformer)
    cancel = CancelEvent()
    calls = {"n": 0}

    def count(_m, _a):
        calls["n"] += 1
        if calls["n"] == 1:
            cancel.set()  # arrives while the first block of the first step runs

    first = blocks[0].register_forward_pre_hook(count, prepend=True)
    after = []
    post = [b.register_forward_hook(lambda m, a, o: after.append(m) if cancel.is_set() else None) for b in blocks[1:]]
    try:
        with pytest.raises(JobCancelled):
            runner.run(JobContext(job=_job(tmp_path), cancel=cancel, progress=lambda *_: None, log=lambda *_: None))
    finally:
        first.remove()
        for h in post:
            h.remove()
    assert after == []


def test_cancel_checks_removes_its_hooks_and_an_event_without_set_has_no_latency():
    import torch

    mod = torch.nn.Module()
    mod.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    with cancel_checks([mod], lambda: None) as n:
        assert n == 3
    assert all(len(b._forward_pre_hooks) == 0 for b in mod.blocks)
    assert CancelEvent().latency_ms() is None
