// max_pool2d on the CPU: plain loops, one (n, c) plane at a time.
#include <algorithm>
#include <cmath>

#include "kernels/max_pool2d.h"

namespace gpunet::kernels::cpu {

template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* out, int32_t* argmax) {
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * s.H * s.W;
    T* op = out + pl * s.OH * s.OW;
    int32_t* ap = argmax + pl * s.OH * s.OW;
    if (s.K == 2 && s.stride == 2) {  // the seed's MaxPool2d(2, 2): the same rule, unrolled
      for (int oh = 0; oh < s.OH; ++oh) {
        const T* r0 = xp + 2 * oh * s.W;
        const T* r1 = r0 + s.W;
        const int base = 2 * oh * s.W;
        for (int ow = 0; ow < s.OW; ++ow) {
          const int c = 2 * ow;
          T bv = r0[c];
          int bi = base + c;
          T v = r0[c + 1];
          bool t = (v > bv) | (v != v);
          bv = t ? v : bv;
          bi = t ? base + c + 1 : bi;
          v = r1[c];
          t = (v > bv) | (v != v);
          bv = t ? v : bv;
          bi = t ? base + s.W + c : bi;
          v = r1[c + 1];
          t = (v > bv) | (v != v);
          bv = t ? v : bv;
          bi = t ? base + s.W + c + 1 : bi;
          op[oh * s.OW + ow] = bv;
          ap[oh * s.OW + ow] = bi;
        }
      }
      continue;
    }
    for (int oh = 0; oh < s.OH; ++oh)
      for (int ow = 0; ow < s.OW; ++ow) {
        const int h0 = oh * s.stride, w0 = ow * s.stride;
        int best = h0 * s.W + w0;
        T best_v = xp[best];
        for (int kh = 0; kh < s.K; ++kh)
          for (int kw = 0; kw < s.K; ++kw) {
            const int idx = (h0 + kh) * s.W + (w0 + kw);
            const T v = xp[idx];
            // PyTorch's rule: a strictly larger value or a NaN takes over (branch-free: the
            // comparison is data-dependent and mispredicts half the time).
            const bool take = (v > best_v) | (v != v);
            best_v = take ? v : best_v;
            best = take ? idx : best;
          }
        op[oh * s.OW + ow] = best_v;
        ap[oh * s.OW + ow] = best;
      }
  }
}

template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dout, const int32_t* argmax, T* dx) {
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* dp = dx + pl * s.H * s.W;
    std::fill(dp, dp + s.H * s.W, T(0));
    const T* g = dout + pl * s.OH * s.OW;
    const int32_t* ap = argmax + pl * s.OH * s.OW;
    // Overlapping windows (stride < K) may pick the same element: add, do not overwrite.
    for (int i = 0; i < s.OH * s.OW; ++i) dp[ap[i]] += g[i];
  }
}

template void max_pool2d_forward<float>(const Pool2dShape&, const float*, float*, int32_t*);
template void max_pool2d_forward<double>(const Pool2dShape&, const double*, double*, int32_t*);
template void max_pool2d_backward<float>(const Pool2dShape&, const float*, const int32_t*, float*);
template void max_pool2d_backward<double>(const Pool2dShape&, const double*, const int32_t*, double*);

}  // namespace gpunet::kernels::cpu
