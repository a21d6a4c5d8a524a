#!/usr/bin/env bash
# Installs what gpunet needs on Debian 12 (when missing) and builds it in build/ (Release;
# the CUDA backend when nvcc is found at /usr/local/cuda). Usage: bash tools/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build pkg-config libopenblas-dev liblapacke-dev libgtest-dev libgmock-dev libcli11-dev
      nlohmann-json3-dev libstb-dev libcurl4-openssl-dev libarchive-dev
      libonnx-dev libprotobuf-dev protobuf-compiler libdnnl-dev ocl-icd-opencl-dev openmpi-bin libopenmpi-dev
      libjpeg62-turbo-dev libpng-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

BUILD=${GPUNET_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUNET_CUDA="${GPUNET_CUDA:-AUTO}" ${GPUNET_CMAKE_ARGS:-}
cmake --build "$BUILD" -j"$(nproc)"
