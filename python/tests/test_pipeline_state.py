# Tests against diffusers itself (pinned): the scheduler takes our sigma lists unchanged, the keyframe
# override pins the end image to pixel N-1, and per-job state is reset. Uses a tiny random model.
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ltx_worker import plan as P  # noqa: E402
from ltx_worker.encode import fit_audio  # noqa: E402
from ltx_worker.runner import LtxRunner, WorkerOptions, fresh_scheduler, make_pipeline_class  # noqa: E402
from ltx_worker.tiny_model import build_tiny_pipeline  # noqa: E402


@pytest.fixture(scope="session")
def runner(tiny_model_dir):
    model_dir = tiny_model_dir
    return LtxRunner(WorkerOptions(model_dir=str(model_dir), device="cpu", max_sequence_length=256), log=lambda *_: None)


@pytest.mark.parametrize("sigmas", [P.reference_sigmas(30), P.reference_sigmas(4), P.DISTILLED_STAGE1_SIGMAS, P.STAGE2_SIGMAS])
def test_the_scheduler_uses_the_given_sigmas_unshifted_and_appends_zero(runner, sigmas):
    # A config with dynamic shifting on, as the convert script writes for LTX-2.3.
    cfg = dict(runner.base_scheduler_config, use_dynamic_shifting=True, shift_terminal=0.1, shift=3.0)
    sched = fresh_scheduler(cfg)
    sched.set_timesteps(sigmas=sigmas, mu=6.8)
    got = sched.sigmas.tolist()
    assert got[-1] == 0.0
    assert got[:-1] == pytest.approx(sigmas, abs=1e-6)


@pytest.mark.parametrize("n,fps", [(8, 24), (16, 25), (120, 24)])
def test_the_end_keyframe_time_span_is_the_last_output_frame(runner, n, fps):
    pipe = runner.pipe
    f = P.model_frame_count(n)
    pipe.keyframe_pixel_index = P.keyframe_pixel_index(n)
    try:
        coords = pipe._prepare_keyframe_coords(
            keyframe_latent_num_frames=1, keyframe_latent_height=2, keyframe_latent_width=2,
            pixel_frame_idx=(P.latent_frame_count(f) - 2) * 8 + 1,  # what diffusers computes for index=-1
            num_pixel_frames=1, fps=float(fps), device=torch.device("cpu"),
        )
    finally:
        pipe.keyframe_pixel_index = None
    t = coords[0, 0]  # [num_patches, 2] start/end seconds
    assert torch.allclose(t[:, 0], torch.full_like(t[:, 0], (n - 1) / fps))
    assert torch.allclose(t[:, 1], torch.full_like(t[:, 1], n / fps))


def test_without_the_override_diffusers_would_place_the_keyframe_seven_frames_early(runner):
    pipe = runner.pipe
    n, fps = 121, 24.0
    f = P.model_frame_count(n)  # 121
    diffusers_idx = (P.latent_frame_count(f) - 1 - 1) * 8 + 1  # index=-1 -> latent 15 -> pixel 113
    coords = pipe._prepare_keyframe_coords(
        keyframe_latent_num_frames=1, keyframe_latent_height=1, keyframe_latent_width=1,
        pixel_frame_idx=diffusers_idx, num_pixel_frames=1, fps=fps, device=torch.device("cpu"),
    )
    assert coords[0, 0, 0, 0].item() == pytest.approx(113 / fps)
    assert diffusers_idx == n - 8


def test_reset_state_restores_a_fresh_unshifted_scheduler_and_clears_the_keyframe(runner):
    used = runner.pipe.scheduler
    used.set_timesteps(sigmas=[0.5, 0.25])
    runner.pipe.keyframe_pixel_index = 7
    runner.pipe._interrupt = True
    runner.reset_state()
    assert runner.pipe.keyframe_pixel_index is None
    assert runner.pipe._interrupt is False
    assert runner.pipe.scheduler.config.use_dynamic_shifting is False
    assert runner.pipe.scheduler.config.shift == 1.0
    assert runner.pipe.scheduler is not used


def test_the_worker_pipeline_class_overrides_only_keyframe_placement():
    cls = make_pipeline_class()
    assert "_prepare_keyframe_coords" in cls.__dict__
    assert cls.__mro__[1].__name__ == "LTX2ConditionPipeline"


def test_audio_is_fitted_to_exactly_n_over_fps_at_48khz_stereo():
    short = np.ones((1, 2, 15840), np.float32) * 0.5
    out = fit_audio(short, 48000, 9, 24)
    assert out.shape == (2, 18000) and out[:, 15840:].max() == 0.0
    mono24k = np.ones((1, 1, 12000), np.float32) * 0.25
    out = fit_audio(mono24k, 24000, 8, 24)
    assert out.shape == (2, 16000)


def _lora_layers(pipe):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in pipe.transformer.modules() if isinstance(m, BaseTunerLayer)]


def test_the_distilled_lora_is_loaded_and_left_disabled_after_reset(runner):
    layers = _lora_layers(runner.pipe)
    assert runner.has_lora and layers
    runner.pipe.enable_lora()
    assert not any(m.disable_adapters for m in layers)
    runner.reset_state()
    assert all(m.disable_adapters for m in layers)


def test_a_job_cancelled_in_stage_two_with_the_lora_on_leaves_no_state_behind(runner, tmp_path):
    import threading

    from PIL import Image

    from ltx_worker.runner import Job, JobCancelled, JobContext

    img = tmp_path / "start.png"
    Image.fromarray(np.full((90, 160, 3), 128, np.uint8)).save(img)
    cancel = threading.Event()
    seen = {}

    def progress(stage, step, total):
        if stage == "denoise-2" and step == 1:
            layers = _lora_layers(runner.pipe)
            seen["lora_on_in_stage2"] = not any(m.disable_adapters for m in layers)
            seen["scheduler_in_stage2"] = runner.pipe.scheduler
            cancel.set()

    job = Job(id="c1", prompt="a cat", start_image=str(img), end_image=str(img), width=64, height=64, fps=24.0,
              num_frames=8, seed=1, generate_audio=True, flow="pro", output_path=str(tmp_path / "out.mp4"))
    runner.opts.pro_stage1_steps = 2
    try:
        with pytest.raises(JobCancelled):
            runner.run(JobContext(job=job, cancel=cancel, progress=progress, log=lambda *_: None))
    finally:
        runner.opts.pro_stage1_steps = None
    assert seen["lora_on_in_stage2"] is True
    assert all(m.disable_adapters for m in _lora_layers(runner.pipe))
    assert runner.pipe.scheduler is not seen["scheduler_in_stage2"]
    assert runner.pipe.keyframe_pixel_index is None
    assert not (tmp_path / "out.mp4").exists()
