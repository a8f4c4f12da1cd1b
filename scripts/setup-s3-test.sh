#!/usr/bin/env bash
# Creates .cache/moto-venv: the S3-compatible server (moto, pinned) that the S3 tests start
# (test/helpers/s3.ts). A no-op when the pinned version is already installed.
# Env: S3_TEST_PYTHON (interpreter for the venv; default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${S3_TEST_PYTHON:-$(command -v python3)}"
VENV=.cache/moto-venv
MOTO_SPEC="moto[s3]==5.2.5"
if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '5.2.5')" 2>/dev/null; then
  echo "setup-s3-test: $VENV already has $MOTO_SPEC"
  exit 0
fi
echo "setup-s3-test: creating $VENV with $("$PY" --version)"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip --disable-pip-version-check install --quiet "$MOTO_SPEC" "flask==3.1.2" "flask-cors==6.0.1" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$VENV/bin/python" -c "import importlib.metadata as m; print('setup-s3-test: ok moto', m.version('moto'))"
