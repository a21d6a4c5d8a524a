#!/usr/bin/env bash
# Builds gpunet in both configurations (CUDA backend when nvcc is present, and CPU-only)
# and runs the test suite (GoogleTest through CTest). GPU tests are skipped, with the
# reason, when no GPU is usable. Usage: bash tools/test.sh
# With CI=true or GPUNET_FULL_CHECKS=1 it also runs the sanitizer build and the fuzzers.
# With CI=true the CPU-only configuration is built and tested only as the sanitizer build
# (build-asan/, the same GPUNET_CUDA=OFF configuration; every test but the slow end-to-end runs),
# not a second time in Release as build-cpu/: CI's 2 cores spent 11 min building it and its
# tests repeat what build/ (Release, every test, the CPU paths without a GPU) and build-asan/ run.
# GPUNET_CPU_BUILD=1 keeps build-cpu/ in CI, GPUNET_CPU_BUILD=0 skips it elsewhere.
# The interop tests (TorchInterop, ONNX through onnxruntime, TensorBoard's reader, the ResNet-18,
# airbench94 and torchvision ImageFolder checks) run their readers with $GPUNET_TORCH_PYTHON;
# unless it is set, tools/python_readers.sh provides one (Debian's torch + a venv in
# .venv-interop/ with PyPI's onnx, onnxruntime, tensorboard, safetensors), prepared while
# build-cpu/ builds. Without network they skip, saying why.
# Where each test runs:
#   build/ (CUDA config), build-cpu/ (not in CI): every test (ctest, all labels).
#   build-asan/ (CI only, tools/sanitize.sh): all but the labels install and slow (the end-to-end
#     runs listed in tests/CMakeLists.txt); the dist tests without leak detection.
#   build-fuzz/ (CI only, tools/fuzz.sh): the three libFuzzer targets, FUZZ_SECONDS each.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
stamp() { echo "== [$(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s] $*"; }
cpu_build=${GPUNET_CPU_BUILD:-1}; [ "${CI:-}" = "true" ] && cpu_build=${GPUNET_CPU_BUILD:-0}
# The full CIFAR-10 for the dataset tests, when it sits beside the repo (as in CI).
if [ -z "${GPUNET_CIFAR10_DIR:-}" ] && [ -d ../shared/datasets/cifar10/cifar-10-batches-bin ]; then
  export GPUNET_CIFAR10_DIR=$(cd ../shared/datasets/cifar10/cifar-10-batches-bin && pwd)
fi

# build/: AUTO (CUDA when nvcc is found). CI has no GPU to run the CUDA code, so it compiles the
# kernels for one architecture (sm_90, the H200 of tools/gpu_check.sh) rather than the default
# 80 and 90: half of nvcc's time.
main_args=${GPUNET_CMAKE_ARGS:-}; [ "${CI:-}" = "true" ] && main_args="$main_args -DCMAKE_CUDA_ARCHITECTURES=90"
stamp "setup.sh: packages, build/"
GPUNET_CMAKE_ARGS=$main_args bash tools/setup.sh
# After setup.sh's apt step and before fuzz.sh's, so that no two apt-get runs meet.
readers_pid=""
if [ -z "${GPUNET_TORCH_PYTHON:-}" ]; then
  readers_out=$(mktemp); bash tools/python_readers.sh >"$readers_out" & readers_pid=$!
fi
# build-cpu/: the CPU-only configuration in Release (not in CI, see the top).
builds=(build)
if [ "$cpu_build" = "1" ]; then
  stamp "build-cpu/"
  GPUNET_BUILD_DIR=build-cpu GPUNET_CUDA=OFF GPUNET_CMAKE_ARGS=${GPUNET_CMAKE_ARGS:-} bash tools/setup.sh
  builds+=(build-cpu)
fi
if [ -n "$readers_pid" ]; then
  wait "$readers_pid" && export GPUNET_TORCH_PYTHON=$(cat "$readers_out")  # else it printed the warning
  rm -f "$readers_out"
fi
echo "== interop Python: ${GPUNET_TORCH_PYTHON:-none (the interop tests skip)}"

status=0
# In CI (CI=true) or when asked (GPUNET_FULL_CHECKS=1): the whole suite under AddressSanitizer
# + UBSan, and the libFuzzer targets for the untrusted-input readers (FUZZ_SECONDS each, 60).
if [ "${CI:-}" = "true" ] || [ "${GPUNET_FULL_CHECKS:-0}" = "1" ]; then
  stamp "sanitize.sh: build-asan/"
  bash tools/sanitize.sh || status=1
  stamp "fuzz.sh: build-fuzz/"
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash tools/fuzz.sh || status=1
fi
# Last, so that CTest's summary closes the output.
for b in "${builds[@]}"; do
  stamp "ctest in $b ($(grep -o 'GPUNET_HAVE_CUDA [01]' $b/include/gpunet/config.h))"
  (cd "$b" && ctest --output-on-failure -j2 --timeout 900) || status=1
done
exit $status
