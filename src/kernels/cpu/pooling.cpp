// avg_pool2d and adaptive_avg_pool2d on the CPU: plain loops, one (n, c) plane at a time,
// sums in T in the window's row-major order. Backward scatters dout / divisor into dx.
// For float, where isa() allows, pooling_vector.cpp runs instead (rows summed first;
// tests/ops/test_cnn_vector.cpp bounds the difference); these loops are its oracle.
#include <algorithm>
#include <type_traits>

#include "kernels/cpu/cnn_vector.h"
#include "kernels/pooling.h"

namespace gpunet::kernels::cpu {

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const T* x, T* out) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::avg_pool2d_forward(isa(), s, count_include_pad, x, out)) return;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * s.H * s.W;
    T* op = out + pl * s.OH * s.OW;
    for (int oh = 0; oh < s.OH; ++oh) {
      const PoolWindow wh = avg_window(oh, s.stride, s.pad, s.K, s.H, count_include_pad);
      for (int ow = 0; ow < s.OW; ++ow) {
        const PoolWindow ww = avg_window(ow, s.stride, s.pad, s.K, s.W, count_include_pad);
        T acc = 0;
        for (int h = wh.start; h < wh.end; ++h)
          for (int w = ww.start; w < ww.end; ++w) acc += xp[h * s.W + w];
        op[oh * s.OW + ow] = acc / static_cast<T>(wh.divisor_len * ww.divisor_len);
      }
    }
  }
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const T* dout, T* dx) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::avg_pool2d_backward(isa(), s, count_include_pad, dout, dx)) return;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* dp = dx + pl * s.H * s.W;
    const T* g = dout + pl * s.OH * s.OW;
    std::fill(dp, dp + static_cast<int64_t>(s.H) * s.W, T(0));
    for (int oh = 0; oh < s.OH; ++oh) {
      const PoolWindow wh = avg_window(oh, s.stride, s.pad, s.K, s.H, count_include_pad);
      for (int ow = 0; ow < s.OW; ++ow) {
        const PoolWindow ww = avg_window(ow, s.stride, s.pad, s.K, s.W, count_include_pad);
        const T v = g[oh * s.OW + ow] / static_cast<T>(wh.divisor_len * ww.divisor_len);
        for (int h = wh.start; h < wh.end; ++h)
          for (int w = ww.start; w < ww.end; ++w) dp[h * s.W + w] += v;
      }
    }
  }
}

template <typename T>
void adaptive_avg_pool2d_forward(const AdaptivePool2dShape& s, const T* x, T* out) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::adaptive_avg_pool2d_forward(isa(), s, x, out)) return;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * s.H * s.W;
    T* op = out + pl * s.OH * s.OW;
    for (int oh = 0; oh < s.OH; ++oh) {
      const PoolWindow wh = adaptive_window(oh, s.OH, s.H);
      for (int ow = 0; ow < s.OW; ++ow) {
        const PoolWindow ww = adaptive_window(ow, s.OW, s.W);
        T acc = 0;
        for (int h = wh.start; h < wh.end; ++h)
          for (int w = ww.start; w < ww.end; ++w) acc += xp[h * s.W + w];
        op[oh * s.OW + ow] = acc / static_cast<T>(wh.divisor_len * ww.divisor_len);
      }
    }
  }
}

template <typename T>
void adaptive_avg_pool2d_backward(const AdaptivePool2dShape& s, const T* dout, T* dx) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::adaptive_avg_pool2d_backward(isa(), s, dout, dx)) return;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* dp = dx + pl * s.H * s.W;
    const T* g = dout + pl * s.OH * s.OW;
    std::fill(dp, dp + static_cast<int64_t>(s.H) * s.W, T(0));
    for (int oh = 0; oh < s.OH; ++oh) {
      const PoolWindow wh = adaptive_window(oh, s.OH, s.H);
      for (int ow = 0; ow < s.OW; ++ow) {
        const PoolWindow ww = adaptive_window(ow, s.OW, s.W);
        const T v = g[oh * s.OW + ow] / static_cast<T>(wh.divisor_len * ww.divisor_len);
        for (int h = wh.start; h < wh.end; ++h)
          for (int w = ww.start; w < ww.end; ++w) dp[h * s.W + w] += v;
      }
    }
  }
}

#define GPUNET_INSTANTIATE(T)                                                                         \
  template void avg_pool2d_forward<T>(const Pool2dShape&, bool, const T*, T*);                       \
  template void avg_pool2d_backward<T>(const Pool2dShape&, bool, const T*, T*);                      \
  template void adaptive_avg_pool2d_forward<T>(const AdaptivePool2dShape&, const T*, T*);            \
  template void adaptive_avg_pool2d_backward<T>(const AdaptivePool2dShape&, const T*, T*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
