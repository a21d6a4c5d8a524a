#pragma once
// avg_pool2d (square kernel K, stride, padding, PyTorch's count_include_pad divisor) and
// adaptive_avg_pool2d (output cell o of a size-L axis averages [floor(o*L/OL), ceil((o+1)*L/OL))).
#include <cstdint>

#include "kernels/max_pool2d.h"  // Pool2dShape

namespace gpunet::kernels {

struct AdaptivePool2dShape {
  int N, C, H, W;
  int OH, OW;
};

namespace cpu {
// x: (N, C, H, W) -> out: (N, C, OH, OW). Window o: [o*stride - pad, + K) clipped to H + pad for
// the divisor (count_include_pad) and to [0, H) for the sum; without count_include_pad the
// divisor is the number of in-plane elements.
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const T* x, T* out);
// dout: (N, C, OH, OW) -> dx: (N, C, H, W), written fresh.
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const T* dout, T* dx);
template <typename T>
void adaptive_avg_pool2d_forward(const AdaptivePool2dShape& s, const T* x, T* out);
template <typename T>
void adaptive_avg_pool2d_backward(const AdaptivePool2dShape& s, const T* dout, T* dx);
}  // namespace cpu

namespace cuda {
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const float* x, float* out);
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const float* dout, float* dx);
void adaptive_avg_pool2d_forward(const AdaptivePool2dShape& s, const float* x, float* out);
void adaptive_avg_pool2d_backward(const AdaptivePool2dShape& s, const float* dout, float* dx);
}  // namespace cuda

// Shared by both twins: the window of output cell o along one axis.
struct PoolWindow {
  int start, end, divisor_len;  // [start, end) inside the plane; divisor_len counts padding
};
#if defined(__CUDACC__)
__host__ __device__
#endif
inline PoolWindow avg_window(int o, int stride, int pad, int K, int L, bool count_include_pad) {
  int start = o * stride - pad;
  int end = start + K < L + pad ? start + K : L + pad;
  const int padded_len = end - start;
  start = start > 0 ? start : 0;
  end = end < L ? end : L;
  return {start, end, count_include_pad ? padded_len : end - start};
}
#if defined(__CUDACC__)
__host__ __device__
#endif
inline PoolWindow adaptive_window(int o, int OL, int L) {
  const int start = static_cast<int>((static_cast<int64_t>(o) * L) / OL);
  const int end = static_cast<int>((static_cast<int64_t>(o + 1) * L + OL - 1) / OL);
  return {start, end, end - start};
}

}  // namespace gpunet::kernels
