// dropout on the GPU: one thread per element (grid-stride), the CPU's mask bit for bit.
#include "kernels/dropout.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void dropout_kernel(int64_t n, const float* x, uint32_t thr, float scale, uint64_t seed, uint64_t offset,
                               float* out) {
  GPUNET_GRID_STRIDE(i, n) {
    out[i] = dropout_u24(seed, offset + static_cast<uint64_t>(i)) >= thr ? x[i] * scale : 0.0f;
  }
}

}  // namespace

void dropout_apply(int64_t n, const float* x, double p, uint64_t seed, uint64_t offset, float* out) {
  if (n <= 0) return;
  const float scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, dropout_threshold(p), scale, seed, offset, out);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
