#pragma once
// Shared helpers of the CUDA kernels: launch sizes, grid-stride loops, the current stream,
// and deterministic warp/block reductions (fixed shapes, fixed order: no atomics).
// Indexing rule: element indices and offsets are int64 (GPUNET_GRID_STRIDE's counter, and any
// product of dimensions), so a kernel is correct past 2^31 elements; the grid is capped at
// kMaxBlocks and the loop wraps. Where a library indexes in 32 bits (cuDNN's descriptors), the op
// front end rejects larger sizes with a one-line error (ops::detail::check_numel).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda/context.h"
#include "core/device_api.h"

namespace gpunet::kernels::cuda_detail {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

// Blocks for a grid-stride loop over n elements (n > 0).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::min<int64_t>((n + threads - 1) / threads, kMaxBlocks));
}

inline cudaStream_t stream() { return ::gpunet::cuda::detail::stream(); }

#define GPUNET_GRID_STRIDE(i, n)                                                                 \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);      \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); the result is
// valid in thread 0. Every thread of the block must call it.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int nwarps = blockDim.x / 32;
  T r = T(0);
  if (warp == 0) {
    r = lane < nwarps ? partial[lane] : T(0);
    r = warp_sum(r);
  }
  return r;
}

}  // namespace gpunet::kernels::cuda_detail
