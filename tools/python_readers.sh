#!/usr/bin/env bash
# Provides the Python that the interop tests run their readers with (GPUNET_TORCH_PYTHON):
#   - Debian's python3-torch (1.13) and python3-torchvision (0.14), installed with apt when
#     missing: the PyTorch checks need only the CPU, and PyPI's torch wheel drags in gigabytes
#     of CUDA libraries;
#   - a venv in .venv-interop/ (git-ignored; GPUNET_INTEROP_VENV to move it) made with
#     --system-site-packages from Debian's /usr/bin/python3, so that it sees that torch, with
#     PyPI's readers in it: onnx + onnxruntime (the ONNX checks), tensorboard (its own event
#     reader), safetensors. Debian's torch 1.13 is built against numpy 1.x, so numpy stays < 2
#     (pip keeps Debian's python3-numpy 1.24).
# Prints the venv's python on stdout and exits 0. When the venv already imports everything it
# does nothing else (once per clone). When apt or pip fails (no network, no root) it prints one
# warning line on stderr and exits 1; the tests that need these readers then skip with a reason.
# Usage: export GPUNET_TORCH_PYTHON=$(bash tools/python_readers.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${GPUNET_INTEROP_VENV:-.venv-interop}
case $VENV in /*) ;; *) VENV=$PWD/$VENV ;; esac
PY=$VENV/bin/python
IMPORTS="import torch, torchvision, numpy, safetensors.torch, onnx, onnxruntime, tensorboard
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
assert numpy.__version__.split('.')[0] == '1', 'numpy ' + numpy.__version__ + ' (Debian torch needs 1.x)'"

ready() { [ -x "$PY" ] && "$PY" -c "$IMPORTS" >/dev/null 2>&1; }
if ready; then echo "$PY"; exit 0; fi

LOG=$(mktemp /tmp/gpunet-python-readers.XXXXXX.log)
fail() { echo "warning: the interop tests' Python readers are not available ($1; log: $LOG): the ONNX, TensorBoard and PyTorch interop tests will skip" >&2; exit 1; }

echo "preparing the interop tests' Python in $VENV (log: $LOG)" >&2
PKGS=(python3-torch python3-torchvision python3-venv)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  # --no-install-recommends: torch's recommends add ~90 more packages the checks never use.
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } >>"$LOG" 2>&1 || fail "apt-get install ${missing[*]} failed"
fi
if [ ! -x "$PY" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV" >>"$LOG" 2>&1 || fail "python3 -m venv failed"
fi
"$PY" -m pip install -q --disable-pip-version-check onnx onnxruntime tensorboard safetensors "numpy<2" >>"$LOG" 2>&1 ||
  fail "pip install onnx onnxruntime tensorboard safetensors failed"
ready || fail "$("$PY" -c "$IMPORTS" 2>&1 | tail -1)"
"$PY" -c 'import torch, numpy, onnxruntime, tensorboard
print(f"interop Python ready: torch {torch.__version__}, numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__}, tensorboard {tensorboard.__version__}")' >&2
rm -f "$LOG"
echo "$PY"
