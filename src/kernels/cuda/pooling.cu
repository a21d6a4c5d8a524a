// avg_pool2d and adaptive_avg_pool2d on the GPU: one thread per output (forward, the CPU's
// summation order) and one thread per input element (backward: gathers dout / divisor from
// the outputs whose window holds it, so dx is written fresh without atomics).
#include "kernels/pooling.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void avg_pool2d_forward_kernel(Pool2dShape s, bool cip, const float* x, float* out) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.OH * s.OW;
  GPUNET_GRID_STRIDE(i, total) {
    const int ow = static_cast<int>(i % s.OW);
    const int oh = static_cast<int>((i / s.OW) % s.OH);
    const int64_t plane = i / (static_cast<int64_t>(s.OW) * s.OH);
    const float* xp = x + plane * s.H * s.W;
    const PoolWindow wh = avg_window(oh, s.stride, s.pad, s.K, s.H, cip);
    const PoolWindow ww = avg_window(ow, s.stride, s.pad, s.K, s.W, cip);
    float acc = 0.0f;
    for (int h = wh.start; h < wh.end; ++h)
      for (int w = ww.start; w < ww.end; ++w) acc += xp[h * s.W + w];
    out[i] = acc / static_cast<float>(wh.divisor_len * ww.divisor_len);
  }
}

__global__ void avg_pool2d_backward_kernel(Pool2dShape s, bool cip, const float* dout, float* dx) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.H * s.W;
  GPUNET_GRID_STRIDE(i, total) {
    const int w = static_cast<int>(i % s.W);
    const int h = static_cast<int>((i / s.W) % s.H);
    const int64_t plane = i / (static_cast<int64_t>(s.W) * s.H);
    const int hp = h + s.pad, wp = w + s.pad;
    const int oh_lo = hp < s.K ? 0 : (hp - s.K) / s.stride + 1;
    const int oh_hi = min(hp / s.stride, s.OH - 1);
    const int ow_lo = wp < s.K ? 0 : (wp - s.K) / s.stride + 1;
    const int ow_hi = min(wp / s.stride, s.OW - 1);
    const float* g = dout + plane * s.OH * s.OW;
    float acc = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; ++oh) {
      const PoolWindow wh = avg_window(oh, s.stride, s.pad, s.K, s.H, cip);
      for (int ow = ow_lo; ow <= ow_hi; ++ow) {
        const PoolWindow ww = avg_window(ow, s.stride, s.pad, s.K, s.W, cip);
        acc += g[oh * s.OW + ow] / static_cast<float>(wh.divisor_len * ww.divisor_len);
      }
    }
    dx[i] = acc;
  }
}

__global__ void adaptive_forward_kernel(AdaptivePool2dShape s, const float* x, float* out) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.OH * s.OW;
  GPUNET_GRID_STRIDE(i, total) {
    const int ow = static_cast<int>(i % s.OW);
    const int oh = static_cast<int>((i / s.OW) % s.OH);
    const int64_t plane = i / (static_cast<int64_t>(s.OW) * s.OH);
    const float* xp = x + plane * s.H * s.W;
    const PoolWindow wh = adaptive_window(oh, s.OH, s.H), ww = adaptive_window(ow, s.OW, s.W);
    float acc = 0.0f;
    for (int h = wh.start; h < wh.end; ++h)
      for (int w = ww.start; w < ww.end; ++w) acc += xp[h * s.W + w];
    out[i] = acc / static_cast<float>(wh.divisor_len * ww.divisor_len);
  }
}

// Output cells o of an axis whose window holds position p: floor(p*OL/L) <= o < ceil((p+1)*OL/L).
__device__ __forceinline__ void adaptive_range(int p, int OL, int L, int& lo, int& hi) {
  lo = static_cast<int>((static_cast<int64_t>(p) * OL) / L);
  hi = min(static_cast<int>((static_cast<int64_t>(p + 1) * OL + L - 1) / L), OL);  // exclusive
}

__global__ void adaptive_backward_kernel(AdaptivePool2dShape s, const float* dout, float* dx) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.H * s.W;
  GPUNET_GRID_STRIDE(i, total) {
    const int w = static_cast<int>(i % s.W);
    const int h = static_cast<int>((i / s.W) % s.H);
    const int64_t plane = i / (static_cast<int64_t>(s.W) * s.H);
    int oh_lo, oh_hi, ow_lo, ow_hi;
    adaptive_range(h, s.OH, s.H, oh_lo, oh_hi);
    adaptive_range(w, s.OW, s.W, ow_lo, ow_hi);
    const float* g = dout + plane * s.OH * s.OW;
    float acc = 0.0f;
    for (int oh = oh_lo; oh < oh_hi; ++oh) {
      const PoolWindow wh = adaptive_window(oh, s.OH, s.H);
      if (h < wh.start || h >= wh.end) continue;
      for (int ow = ow_lo; ow < ow_hi; ++ow) {
        const PoolWindow ww = adaptive_window(ow, s.OW, s.W);
        if (w < ww.start || w >= ww.end) continue;
        acc += g[oh * s.OW + ow] / static_cast<float>(wh.divisor_len * ww.divisor_len);
      }
    }
    dx[i] = acc;
  }
}

}  // namespace

void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const float* x, float* out) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.OH * s.OW;
  if (total <= 0) return;
  avg_pool2d_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(s, count_include_pad, x, out);
  GPUNET_KERNEL_CHECK();
}

void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const float* dout, float* dx) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.H * s.W;
  if (total <= 0) return;
  avg_pool2d_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(s, count_include_pad, dout, dx);
  GPUNET_KERNEL_CHECK();
}

void adaptive_avg_pool2d_forward(const AdaptivePool2dShape& s, const float* x, float* out) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.OH * s.OW;
  if (total <= 0) return;
  adaptive_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(s, x, out);
  GPUNET_KERNEL_CHECK();
}

void adaptive_avg_pool2d_backward(const AdaptivePool2dShape& s, const float* dout, float* dx) {
  const int64_t total = static_cast<int64_t>(s.N) * s.C * s.H * s.W;
  if (total <= 0) return;
  adaptive_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(s, dout, dx);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
