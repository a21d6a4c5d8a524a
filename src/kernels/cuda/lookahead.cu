// The lookahead EMA on the GPU: the CPU twin's arithmetic (PyTorch's lerp with one fma, then
// net <- ema), one grid-stride kernel; the decay is read from device memory.
#include "kernels/lookahead.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void lookahead_kernel(int64_t n, const double* decay, float* ema, float* net) {
  const float w = static_cast<float>(__dadd_rn(1.0, -*decay));
  const bool small = fabsf(w) < 0.5f;
  const float coeff = small ? w : __fsub_rn(w, 1.0f);
  GPUNET_GRID_STRIDE(i, n) {
    const float e = ema[i], x = net[i];
    const float r = __fmaf_rn(coeff, __fsub_rn(x, e), small ? e : x);
    ema[i] = r;
    net[i] = r;
  }
}

}  // namespace

void lookahead_update(int64_t n, const double* decay, float* ema, float* net) {
  if (n <= 0) return;
  lookahead_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, decay, ema, net);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
