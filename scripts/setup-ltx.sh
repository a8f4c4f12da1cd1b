#!/usr/bin/env bash
# Creates python/.venv for the ltx engine's worker: torch first and alone (an unpinned torch pulls a
# multi-GB CUDA build), then the pinned requirements. The worker runs from python/ on PYTHONPATH (no package install).
# Env: LTX_SETUP_PYTHON (interpreter for the venv; default python3.11, else python3),
#      LTX_TORCH_SPEC (default torch==2.13.0), LTX_TORCH_INDEX_URL (optional: a PyTorch wheel index that
#      overrides the automatic choice). Without it the build follows the driver's CUDA version from
#      nvidia-smi (python/ltx_worker/torch_build.py; table in docs/ltx-engine.md); no GPU: pip's default index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${LTX_SETUP_PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV=python/.venv
TORCH_SPEC="${LTX_TORCH_SPEC:-torch==2.13.0}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup-ltx: creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# This machine's pip config adds local mirrors that lack most packages; pip warns once per package.
quiet() {
  local status=0
  "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) || status=$?
  return "$status"
}
# torch alone and first, so nothing else can pull another build; a no-op when already satisfied.
INDEX_URL="${LTX_TORCH_INDEX_URL:-}"
if [ -z "${LTX_TORCH_INDEX_URL+set}" ]; then
  CHOICE="$(PYTHONPATH=python "$PY" -m ltx_worker.torch_build)" || { echo "setup-ltx: FAILED - see above" >&2; exit 3; }
  INDEX_URL="${CHOICE%%$'\t'*}"
  echo "setup-ltx: ${CHOICE#*$'\t'}"
fi
echo "setup-ltx: installing $TORCH_SPEC${INDEX_URL:+ from $INDEX_URL}"
if [ -n "$INDEX_URL" ]; then
  quiet "${PIP[@]}" install --quiet "$TORCH_SPEC" --index-url "$INDEX_URL"
else
  quiet "${PIP[@]}" install --quiet "$TORCH_SPEC"
fi
echo "setup-ltx: installing python/requirements.txt"
quiet "${PIP[@]}" install --quiet -r python/requirements.txt
"$VENV/bin/python" -c "import torch, diffusers, transformers; from diffusers import LTX2ConditionPipeline; print('setup-ltx: ok torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
if command -v nvidia-smi >/dev/null 2>&1; then
  "$VENV/bin/python" -c "import torch, sys; ok = torch.cuda.is_available(); print('setup-ltx: CUDA', 'ok' if ok else 'NOT usable', 'with torch built for CUDA', torch.version.cuda); sys.exit(0 if ok else 4)" \
    || { echo "setup-ltx: FAILED - torch cannot use the GPU; run \`npx ltx-serve doctor\`" >&2; exit 4; }
fi
