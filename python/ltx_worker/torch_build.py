# Picks the torch build for this host from the NVIDIA driver's CUDA version (the "CUDA Version" that
# `nvidia-smi` prints is the newest CUDA runtime the driver can run). Used by scripts/setup-ltx.sh before
# torch is installed, so it needs only the standard library:
#   python -m ltx_worker.torch_build            -> prints `INDEX_URL<TAB>REASON` (INDEX_URL empty: pip's default index)
# The table is documented in docs/ltx-engine.md ("The right torch for the host").
from __future__ import annotations

import re
import shutil
import subprocess
import sys

# torch 2.13.0 on PyPI is a CUDA 13.0 build (it needs an R580+ driver). Older drivers need a wheel from
# PyTorch's own index for their CUDA line. (CUDA line, index URL), newest first; a driver runs every
# runtime up to its own CUDA version.
PYTORCH_INDEX = "https://download.pytorch.org/whl"
CUDA_LINES: list[tuple[tuple[int, int], str]] = [
    ((13, 0), ""),  # PyPI's default build (cu130); same as f"{PYTORCH_INDEX}/cu130"
    ((12, 8), f"{PYTORCH_INDEX}/cu128"),
    ((12, 6), f"{PYTORCH_INDEX}/cu126"),
]
CPU_INDEX = f"{PYTORCH_INDEX}/cpu"
MIN_DRIVER_CUDA = (12, 6)


class DriverTooOld(RuntimeError):
    pass


def parse_driver_cuda(nvidia_smi_output: str) -> tuple[int, int] | None:
    """The "CUDA Version: 12.4" of nvidia-smi's header, or None when absent."""
    m = re.search(r"CUDA Version\s*:\s*(\d+)\.(\d+)", nvidia_smi_output)
    return (int(m.group(1)), int(m.group(2))) if m else None


def choose(driver_cuda: tuple[int, int] | None) -> tuple[str, str]:
    """(index URL or "" for pip's default index, reason). No driver: the default index (on the project's CI a
    local CPU wheel of the pinned version wins there; elsewhere use LTX_TORCH_INDEX_URL=CPU_INDEX for a
    small CPU-only wheel). Raises DriverTooOld below CUDA 12.6."""
    if driver_cuda is None:
        return "", f"no NVIDIA driver found (nvidia-smi): CPU host; pip's default index (for a CPU-only wheel set LTX_TORCH_INDEX_URL={CPU_INDEX})"
    for line, url in CUDA_LINES:
        if driver_cuda >= line:
            where = url or "PyPI (the default CUDA 13.0 build)"
            return url, f"driver supports CUDA {driver_cuda[0]}.{driver_cuda[1]}: torch built for CUDA {line[0]}.{line[1]} from {where}"
    raise DriverTooOld(
        f"the NVIDIA driver supports CUDA {driver_cuda[0]}.{driver_cuda[1]}, older than the oldest torch 2.13 CUDA line "
        f"({MIN_DRIVER_CUDA[0]}.{MIN_DRIVER_CUDA[1]}); upgrade the driver (R580+ runs the default CUDA 13 build)"
    )


def query_nvidia_smi(binary: str = "nvidia-smi") -> str | None:
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        return subprocess.run([path], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str]) -> int:
    out = query_nvidia_smi(argv[0] if argv else "nvidia-smi")
    try:
        url, reason = choose(parse_driver_cuda(out) if out else None)
    except DriverTooOld as err:
        print(str(err), file=sys.stderr)
        return 3
    print(f"{url}\t{reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
