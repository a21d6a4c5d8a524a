#!/usr/bin/env bash
# Builds gpunet in both configurations (CUDA backend when nvcc is present, and CPU-only)
# and runs the test suite (GoogleTest through CTest). GPU tests are skipped, with the
# reason, when no GPU is usable. Usage: bash tools/test.sh
# With CI=true or GPUNET_FULL_CHECKS=1 it also runs the sanitizer build and the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
# The full CIFAR-10 for the dataset tests, when it sits beside the repo (as in CI).
if [ -z "${GPUNET_CIFAR10_DIR:-}" ] && [ -d ../shared/datasets/cifar10/cifar-10-batches-bin ]; then
  export GPUNET_CIFAR10_DIR=$(cd ../shared/datasets/cifar10/cifar-10-batches-bin && pwd)
fi

bash tools/setup.sh                                            # build/: AUTO (CUDA when nvcc is found)
GPUNET_BUILD_DIR=build-cpu GPUNET_CUDA=OFF bash tools/setup.sh # build-cpu/: the CPU-only configuration

status=0
# In CI (CI=true) or when asked (GPUNET_FULL_CHECKS=1): the whole suite under AddressSanitizer
# + UBSan, and the libFuzzer targets for the untrusted-input readers (FUZZ_SECONDS each, 60).
if [ "${CI:-}" = "true" ] || [ "${GPUNET_FULL_CHECKS:-0}" = "1" ]; then
  bash tools/sanitize.sh || status=1
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash tools/fuzz.sh || status=1
fi
# Last, so that CTest's summary closes the output.
for b in build build-cpu; do
  echo "== ctest in $b ($(grep -o 'GPUNET_HAVE_CUDA [01]' $b/include/gpunet/config.h))"
  (cd "$b" && ctest --output-on-failure -j2 --timeout 900) || status=1
done
exit $status
