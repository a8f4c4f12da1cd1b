# Planning a job before it runs: the render scale per resolution (LTX_RENDER_SCALE "1,1440p=0.75,2160p=0.5"),
# the request-log lines that say at what size the model generates, and the pre-job memory estimate against a
# (faked) budget, which lowers the render scale or refuses the job with the limit named. Tiny model, CPU.
import threading

import pytest

from ltx_worker import memory as MEM
from ltx_worker import plan as P
from ltx_worker import runner as R


def test_the_default_spec_scales_1440p_and_2160p_onto_the_1080p_grid():
    scales = P.parse_render_scales(None)
    assert scales.spec() == P.DEFAULT_RENDER_SCALE_SPEC == "1,1440p=0.75,2160p=0.5"
    for (w, h), want in {(1920, 1080): 1.0, (1080, 1920): 1.0, (2560, 1440): 0.75, (1440, 2560): 0.75, (3840, 2160): 0.5, (2160, 3840): 0.5, (128, 120): 1.0}.items():
        scale, _ = P.render_scale_for(w, h, scales)
        assert scale == want, (w, h)
        size = P.size_plan(w, h, render_scale=scale)
        if min(w, h) >= 1080:
            assert {size.grid_width, size.grid_height} == {1920, 1088}


def test_a_single_number_applies_to_every_size_and_entries_replace_the_defaults():
    assert P.parse_render_scales("0.5") == P.RenderScales(0.5, ())
    s = P.parse_render_scales("2160p=0.5,1440p=0.75")
    assert s == P.RenderScales(1.0, ((2160, 0.5), (1440, 0.75)))
    assert P.render_scale_for(3000, 2000, s) == (0.75, "1440p")
    assert P.parse_render_scales("0.9, 2160P=0.25").spec() == "0.9,2160p=0.25"


@pytest.mark.parametrize("spec,match", [
    ("0", "fraction"), ("1.5", "fraction"), ("2160p=0", "fraction"), ("half", "number"),
    ("4k=0.5", "entries look like"), ("2160p=0.5,2160p=0.4", "twice"), ("0.5,0.4", "more than one"),
])
def test_bad_specs_are_refused_naming_the_setting(spec, match):
    with pytest.raises(P.PlanError, match=f"LTX_RENDER_SCALE.*{match}"):
        P.parse_render_scales(spec)


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return R.LtxRunner(R.WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=256), log=lambda *_: None)


def _ctx(w, h, n=121, flow="pro", scale=None):
    logs = []
    job = R.Job(id="j", prompt="p", start_image="x.png", end_image=None, width=w, height=h, fps=24.0, num_frames=n,
                seed=1, generate_audio=False, flow=flow, output_path="/tmp/x.mp4", render_scale=scale)
    return R.JobContext(job=job, cancel=threading.Event(), progress=lambda *a: None, log=lambda lvl, msg: logs.append((lvl, msg))), logs


def test_a_2160p_request_plans_at_the_reduced_scale_and_says_so_in_its_logs(runner):
    ctx, logs = _ctx(3840, 2160)
    size = runner._job_size(ctx, P.flow_plan("pro", 2), P.model_frame_count(121))
    assert (size.render_scale, size.grid_width, size.grid_height, size.stage1_width, size.stage1_height) == (0.5, 1920, 1088, 960, 544)
    text = "\n".join(m for _, m in logs)
    assert "render scale 0.5 (LTX_RENDER_SCALE 2160p=0.5): the model generates 1920x1080 (grid 1920x1088); the output is upscaled to 3840x2160" in text
    ctx, logs = _ctx(1920, 1080)
    assert runner._job_size(ctx, P.flow_plan("pro", 2), 121).render_scale == 1.0
    assert any("render scale 1 (LTX_RENDER_SCALE 1): the model generates 1920x1080 (grid 1920x1088), no upscaling" in m for _, m in logs)
    # A job's own render_scale wins over the table.
    ctx, _ = _ctx(3840, 2160, scale=0.25)
    assert runner._job_size(ctx, P.flow_plan("pro", 2), 121).render_scale == 0.25


def test_the_job_message_render_scale_is_optional():
    msg = dict(id="a", start_image="s.png", width=64, height=64, fps=24, num_frames=9, seed=0, output_path="/tmp/o.mp4")
    assert R.Job.from_message(msg).render_scale is None
    assert R.Job.from_message({**msg, "render_scale": 0.5}).render_scale == 0.5
