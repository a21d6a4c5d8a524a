#!/usr/bin/env bash
# Prepares gpu/ (git-ignored) for a run on the lent GPU machine (see ../shared/GPU.md):
# a Release build with the CUDA backend for Hopper, the binaries, the shared libraries the
# GPU machine lacks, one CIFAR-10 training file, the PyTorch peer and tools/gpu_check.sh.
# Then, with the device tool: run `bash gpu/gpu_check.sh` with carry ["gpu"].
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
cmake -S . -B build-h100 -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build build-h100 -j"$(nproc)"
rm -rf gpu && mkdir -p gpu/bin gpu/lib gpu/data
cp build-h100/bin/gpunet build-h100/bin/test_* build-h100/bin/bench_bn_cuda gpu/bin/
# Shared libraries that are not libc, CUDA or cuDNN (the GPU machine has those).
for b in gpu/bin/*; do ldd "$b"; done | awk '/=> \// {print $3}' | sort -u |
  grep -v -E 'libc\.so|libm\.so|libpthread|libdl|librt|ld-linux|libcuda|libcudart|libcublas|libcudnn|libnvrtc|libstdc\+\+|libgcc_s' |
  xargs -r -I{} cp -L {} gpu/lib/
cp -L /usr/lib/x86_64-linux-gnu/libstdc++.so.6 gpu/lib/ 2>/dev/null || true
cp "$SHARED/datasets/cifar10/cifar-10-batches-bin/data_batch_1.bin" "$SHARED/datasets/cifar10/cifar-10-batches-bin/batches.meta.txt" gpu/data/
cp "$SHARED/peers/pytorch_seed.py" "$SHARED/peers/pytorch_airbench.py" gpu/
cp tools/gpu_check.sh gpu/
# The test binaries hold this build's source path (GPUNET_SOURCE_DIR): gpu_check.sh links it to
# the checkout it runs in.
pwd > gpu/source_dir
# The carry limit is 64 MiB: binaries and libraries travel xz-compressed (~23 MB instead of 108),
# tools/gpu_check.sh unpacks them (with Python's tarfile, which the GPU machine has).
rm -f gpu/bin/test_cli  # runs the CLI through CTest paths; not useful there
tar -cJf gpu/pack.tar.xz -C gpu bin lib && rm -rf gpu/bin gpu/lib
grep -q '^/gpu/' .git/info/exclude 2>/dev/null || echo '/gpu/' >> .git/info/exclude
du -sh gpu
# The device tool carries at most 64 MiB: refuse a pack that would not travel.
size=$(du -sm gpu | cut -f1)
if [ "$size" -gt 60 ]; then
  echo "gpu_prepare.sh: gpu/ is ${size} MiB, over the 60 MiB this script allows under the device tool's 64 MiB carry limit; leave out the largest binaries (see du -a gpu)" >&2
  exit 2
fi
