# Tests of the torch build choice of setup:ltx (ltx_worker.torch_build) against faked nvidia-smi output,
# and of the worker refusing to load a full-size model on a CPU it was not told to use.
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ltx_worker import torch_build as TB

SMI = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {drv}              Driver Version: {drv}      CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |
+-----------------------------------------------------------------------------------------+
"""


@pytest.mark.parametrize(
    "drv,cuda,url",
    [
        ("580.65.06", "13.0", ""),
        ("590.10", "13.1", ""),
        ("570.124.06", "12.8", "https://download.pytorch.org/whl/cu128"),
        ("575.51.03", "12.9", "https://download.pytorch.org/whl/cu128"),
        ("560.35.03", "12.6", "https://download.pytorch.org/whl/cu126"),
    ],
)
def test_the_build_follows_the_driver_cuda_line(drv, cuda, url):
    assert TB.choose(TB.parse_driver_cuda(SMI.format(drv=drv, cuda=cuda)))[0] == url


def test_an_old_driver_is_an_error_with_the_fix_and_no_driver_means_cpu():
    with pytest.raises(TB.DriverTooOld, match="upgrade the driver"):
        TB.choose(TB.parse_driver_cuda(SMI.format(drv="535.183.01", cuda="12.2")))
    url, reason = TB.choose(None)
    assert url == "" and "CPU host" in reason and TB.CPU_INDEX in reason


def _fake_smi(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "nvidia-smi"
    p.write_text("#!/bin/sh\ncat <<'X'\n" + text + "X\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return p


def test_the_command_setup_ltx_runs_reads_nvidia_smi(tmp_path):
    py_dir = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(py_dir), "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    _fake_smi(tmp_path, SMI.format(drv="570.124.06", cuda="12.8"))
    out = subprocess.run([sys.executable, "-m", "ltx_worker.torch_build"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\t")[0] == "https://download.pytorch.org/whl/cu128"
    _fake_smi(tmp_path, SMI.format(drv="535.183.01", cuda="12.2"))
    bad = subprocess.run([sys.executable, "-m", "ltx_worker.torch_build"], env=env, capture_output=True, text=True)
    assert bad.returncode == 3 and "12.2" in bad.stderr
    none = subprocess.run([sys.executable, "-m", "ltx_worker.torch_build", str(tmp_path / "absent-smi")], env=env, capture_output=True, text=True, check=True)
    assert none.stdout.startswith("\t")


def test_the_worker_refuses_a_full_size_model_on_an_implicit_cpu(tiny_model_dir, tmp_path):
    import torch

    from ltx_worker.runner import LtxRunner, WorkerOptions

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: auto resolves to cuda")
    full = tmp_path / "full"
    shutil.copytree(tiny_model_dir, full)
    (full / "ltx_worker_tiny.json").unlink()  # not a tiny test model any more
    with pytest.raises(RuntimeError, match="LTX_DEVICE=cpu"):
        LtxRunner(WorkerOptions(model_dir=str(full), device="auto"), log=lambda *_: None)
    # Explicit LTX_DEVICE=cpu is obeyed.
    LtxRunner(WorkerOptions(model_dir=str(full), device="cpu", max_sequence_length=128), log=lambda *_: None)
