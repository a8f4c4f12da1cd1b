# Text-to-video on the worker: a job without a start image runs the same pro (two-stage) and fast
# (distilled) flows with no conditioning frame at all. Runs the tiny random model (conftest.py).
import json
import os
import subprocess
import threading

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ltx_worker import runner as R  # noqa: E402
from ltx_worker.runner import Job, JobContext, LtxRunner, WorkerOptions  # noqa: E402


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return LtxRunner(WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=256, pro_stage1_steps=2), log=lambda *_: None)


BASE = {"id": "t", "prompt": "a lake at dawn", "width": 64, "height": 64, "fps": 24, "num_frames": 9, "seed": 3, "output_path": "/tmp/x.mp4"}


def test_a_job_message_without_a_start_image_is_text_to_video_and_drops_an_end_image():
    job = Job.from_message({**BASE, "start_image": None, "end_image": "/tmp/end.png"})
    assert (job.start_image, job.end_image) == (None, None)
    assert Job.from_message({**BASE, "start_image": "/tmp/a.png", "end_image": None}).start_image == "/tmp/a.png"


def _probe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,width,height,nb_read_frames", "-of", "json", path],
        check=True, capture_output=True, text=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.mark.parametrize("flow", ["pro", "fast"])
def test_text_to_video_runs_each_flow_without_conditioning_and_writes_the_exact_clip(runner, tmp_path, monkeypatch, flow):
    def no_image(*_a, **_k):
        raise AssertionError("text-to-video must not prepare a condition image")

    monkeypatch.setattr(R, "prepare_condition_image", no_image)
    calls = []
    pipe = runner._pipe_for(flow)
    original = type(pipe).__call__

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("conditions"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    out = tmp_path / f"{flow}.mp4"
    job = Job.from_message({**BASE, "id": f"t2v-{flow}", "start_image": None, "end_image": None, "flow": flow, "output_path": str(out)})
    logs = []
    runner.run(JobContext(job=job, cancel=threading.Event(), progress=lambda *_: None, log=lambda lvl, msg: logs.append(msg)))
    assert calls and all(c is None for c in calls), calls
    assert any("text-to-video: no conditioning frame" in m for m in logs)
    streams = _probe(str(out))
    assert (streams["video"]["width"], streams["video"]["height"], int(streams["video"]["nb_read_frames"])) == (64, 64, 9)
    assert "audio" in streams
