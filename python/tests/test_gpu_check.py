# `python -m ltx_worker.gpu_check` at tiny size on the CPU (the code path the GPU run takes): every probe
# prints one JSON line that parses, and the probes report what docs/ltx-engine.md ("GPU check") says.
import json
import os
import subprocess
import sys
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_at_tiny_size_and_prints_one_json_line_per_probe():
    env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-m", "ltx_worker.gpu_check", "--tiny", "--device", "cpu"], cwd=PYTHON_DIR,
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    by = {}
    for line in lines:
        by.setdefault(line["probe"], []).append(line)
    assert set(by) == {"setup", "load", "stages", "decode", "prompt_cache", "oom_recovery", "cancel", "model_offload", "done"}
    assert by["setup"][0]["tiny"] is True
    flows = {s["flow"] for s in by["stages"]}
    assert flows == {"pro", "fast"}
    for s in by["stages"]:
        assert s["stages"]["denoise-1"]["seconds_per_step"] > 0 and s["stages"]["denoise-2"]["steps"] == 3
        assert "decode" in s["stages"]
    assert len(by["decode"]) == 2 and all(d["ok"] for d in by["decode"])
    assert by["prompt_cache"][0]["entries"] == 4
    assert by["oom_recovery"][0]["oom_raised"] == "MemoryError" and by["oom_recovery"][0]["next_job_ok"] is True
    assert {c["stage"] for c in by["cancel"]} == {"denoise-1", "denoise-2", "decode"}
    assert all(c["cancelled"] and c["latency_ms"] >= 0 for c in by["cancel"])
    assert by["model_offload"][0]["fits"] is None and "skipped" in by["model_offload"][0]
    assert by["done"] == [{"probe": "done", "ok": True}]
