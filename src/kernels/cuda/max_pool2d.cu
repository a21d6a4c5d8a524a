// max_pool2d on the GPU (any kernel, stride, padding; clipped windows): one thread per output (forward, the CPU's scan order and NaN rule)
// and one thread per input element (backward: gathers the outputs whose argmax it is, in the
// CPU's order, so overlapping windows need no atomics and dx is written fresh).
#include "kernels/max_pool2d.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void max_pool2d_forward_kernel(Pool2dShape s, const float* x, float* out, int32_t* argmax) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.OH * s.OW;
  GPUNET_GRID_STRIDE(i, total) {
    const int ow = static_cast<int>(i % s.OW);
    const int oh = static_cast<int>((i / s.OW) % s.OH);
    const int64_t plane = i / (static_cast<int64_t>(s.OW) * s.OH);
    const float* xp = x + plane * s.H * s.W;
    const int hs = oh * s.stride - s.pad, ws = ow * s.stride - s.pad;
    const int h0 = max(hs, 0), w0 = max(ws, 0);
    const int h1 = min(hs + s.K, s.H), w1 = min(ws + s.K, s.W);
    int best = h0 * s.W + w0;
    float best_v = xp[best];
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) {
        const int idx = h * s.W + w;
        const float v = xp[idx];
        if (v > best_v || isnan(v)) {  // PyTorch's rule: a strictly larger value or a NaN takes over
          best_v = v;
          best = idx;
        }
      }
    out[i] = best_v;
    argmax[i] = best;
  }
}

__global__ void max_pool2d_backward_kernel(Pool2dShape s, const float* dout, const int32_t* argmax, float* dx) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.H * s.W;
  GPUNET_GRID_STRIDE(i, total) {
    const int w = static_cast<int>(i % s.W);
    const int h = static_cast<int>((i / s.W) % s.H);
    const int64_t plane = i / (static_cast<int64_t>(s.W) * s.H);
    const int idx = h * s.W + w;
    // Outputs whose window holds (h, w): oh*stride - pad <= h < oh*stride - pad + K.
    const int hp = h + s.pad, wp = w + s.pad;
    const int oh_lo = hp < s.K ? 0 : (hp - s.K) / s.stride + 1;
    const int oh_hi = min(hp / s.stride, s.OH - 1);
    const int ow_lo = wp < s.K ? 0 : (wp - s.K) / s.stride + 1;
    const int ow_hi = min(wp / s.stride, s.OW - 1);
    const float* g = dout + plane * s.OH * s.OW;
    const int32_t* ap = argmax + plane * s.OH * s.OW;
    float acc = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; ++oh)
      for (int ow = ow_lo; ow <= ow_hi; ++ow) {
        const int o = oh * s.OW + ow;
        if (ap[o] == idx) acc += g[o];
      }
    dx[i] = acc;
  }
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* out, int32_t* argmax) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.OH * s.OW;
  if (total <= 0) return;
  max_pool2d_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(s, x, out, argmax);
  GPUNET_KERNEL_CHECK();
}

void max_pool2d_backward(const Pool2dShape& s, const float* dout, const int32_t* argmax, float* dx) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.H * s.W;
  if (total <= 0) return;
  max_pool2d_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(s, dout, argmax, dx);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
