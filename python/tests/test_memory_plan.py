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


def _estimates(runner, w, h, n, flow="pro"):
    facts = MEM.model_facts(runner, runner.pipe)
    plan = P.flow_plan(flow, 2)
    f = P.model_frame_count(n)
    return {s: MEM.estimate(facts, plan, P.size_plan(w, h, render_scale=s), f, "none", on_gpu_tiling=False).total
            for s in (1.0, 0.75, 0.5, 0.375, 0.25)}


def test_the_estimate_grows_with_size_and_frames_and_follows_the_offload_mode(runner):
    facts = MEM.model_facts(runner, runner.pipe)
    plan = P.flow_plan("pro", 2)
    e = lambda w, h, n, off="none", s=1.0: MEM.estimate(facts, plan, P.size_plan(w, h, render_scale=s), P.model_frame_count(n), off, False)
    # Activations grow with tokens (size x frames); the streamed decode's share grows with size only.
    assert e(1920, 1080, 241).activations > e(1920, 1080, 121).activations > e(960, 544, 121).activations
    assert e(1920, 1080, 241).decode == e(1920, 1080, 121).decode > e(960, 544, 121).decode
    assert e(1920, 1080, 241).stage2_tokens == 31 * 34 * 60
    # A small grid, so the denoise phase sets the peak: its weights follow the offload mode.
    assert e(64, 64, 241, "model").phase == "denoise"
    assert e(64, 64, 241, "model").weights == facts.dit_bytes < facts.resident_bytes == e(64, 64, 241).weights
    assert e(64, 64, 241, "sequential").weights <= facts.dit_bytes  # two of its blocks
    # The real LTX-2.3 numbers: 1080p @ 25 fps 10 s, pro flow, model offload on an 80 GB card.
    real = MEM.ModelFacts(dit_bytes=int(42.4 * 2**30), resident_bytes=int(110 * 2**30), vae_bytes=int(1.7 * 2**30),
                          text_encoder_bytes=int(22.8 * 2**30), hidden=4096, num_layers=48, dtype_bytes=2, spatial=32)
    est = MEM.estimate(real, plan, P.size_plan(1920, 1080), P.model_frame_count(250), "model", True)
    assert est.phase == "denoise" and 45 * 2**30 < est.total < 80 * 2**30


def test_a_job_over_the_budget_runs_at_a_lower_render_scale_and_says_so(runner, monkeypatch):
    est = _estimates(runner, 3840, 2160, 121)
    # The 2160p default scale is 0.5: allow 0.375 but not 0.5.
    budget = (est[0.5] + est[0.375]) / 2
    monkeypatch.setattr(runner.opts, "memory_budget_gb", budget / 2**30)
    ctx, logs = _ctx(3840, 2160)
    size = runner._job_size(ctx, P.flow_plan("pro", 2), P.model_frame_count(121))
    assert size.render_scale == 0.375
    warn = [m for lvl, m in logs if lvl == "WARN"]
    assert len(warn) == 1 and "lowered to render scale 0.375 for this job" in warn[0] and "LTX_MEMORY_BUDGET_GB=" in warn[0]
    assert any("render scale 0.375 (lowered from 0.5 to fit memory): the model generates 1440x810" in m for _, m in logs)
    assert runner._last_estimate.total <= budget


def test_a_job_that_fits_at_no_scale_fails_at_once_naming_the_limit(runner, monkeypatch):
    est = _estimates(runner, 3840, 2160, 121)
    monkeypatch.setattr(runner.opts, "memory_budget_gb", est[0.25] / 2 / 2**30)
    ctx, _ = _ctx(3840, 2160)
    with pytest.raises(MEM.MemoryBudgetError, match=r"3840x2160: this job needs an estimated .* GiB .* more than the .* GiB limit \(LTX_MEMORY_BUDGET_GB=.*\); even at render scale 0.25"):
        runner._job_size(ctx, P.flow_plan("pro", 2), P.model_frame_count(121))


def test_run_refuses_the_job_before_any_stage_runs(runner, monkeypatch, tmp_path):
    monkeypatch.setattr(runner.opts, "memory_budget_gb", 1e-6)
    stages = []
    ctx, _ = _ctx(128, 120, n=9)
    ctx.progress = lambda stage, *_: stages.append(stage)
    with pytest.raises(MEM.MemoryBudgetError):
        runner.run(ctx)
    assert stages == []


def test_doctor_rows_with_the_real_model_sizes_tell_fits_lowered_and_refused_apart():
    limit = int(80 * MEM.GIB * (1 - MEM.HEADROOM_FRACTION))
    status = lambda rows: {(r["resolution"], r["fps"]): (r["status"], r["scale"]) for r in rows}  # noqa: E731
    # The defaults on an 80 GB card with model offload: every resolution fits (1440p/2160p on the 1080p grid).
    rows = MEM.doctor_rows(limit, "GPU 0 (80 GiB)", "model", None, both_flows=True)
    assert {v[0] for v in status(rows).values()} == {"fits"}
    assert status(rows)[("2160p", 50)] == ("fits", 0.5)
    assert all(r["estimate_bytes"] < 60 * MEM.GIB for r in rows)
    # Native 2160p @ 50 fps does not fit 80 GB: lowered, the rest native.
    native = status(MEM.doctor_rows(limit, "GPU 0 (80 GiB)", "model", "1", both_flows=False))
    assert native[("2160p", 50)] == ("lowered", 0.75) and native[("2160p", 25)] == ("fits", 1.0)
    # Everything resident on 80 GB: the weights alone are too large, refused at every scale.
    refused = MEM.doctor_rows(limit, "GPU 0 (80 GiB)", "none", None, both_flows=True)
    assert {r["status"] for r in refused} == {"refused"} and "LTX_OFFLOAD=model" in refused[0]["message"]
