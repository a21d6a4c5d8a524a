// conv2d on the CPU: im2col + OpenBLAS gemm, one image at a time.
// Per image n, with K = IC*KH*KW and P = OH*OW:
//   col (K, P)         = im2col(x_n)
//   out_n (OC, P)      = w (OC, K) · col + b
//   dw (OC, K)        += dout_n (OC, P) · colᵀ
//   dcol (K, P)        = wᵀ (K, OC) · dout_n;   dx_n = col2im(dcol)
// Scratch buffers are thread_local and grow-only: a steady-state step allocates nothing.
#include <algorithm>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"

namespace gpunet::kernels::cpu {
namespace {

template <typename T>
T* scratch(size_t n, int slot) {
  thread_local std::vector<T> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// x: (IC, H, W) -> col: (IC*KH*KW, OH*OW); zeros where the window hangs over the padding.
template <typename T>
void im2col(const Conv2dShape& s, const T* x, T* col) {
  const int P = s.OH * s.OW;
  for (int ic = 0; ic < s.IC; ++ic)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((ic * s.KH + kh) * s.KW + kw) * P;
        for (int oh = 0; oh < s.OH; ++oh) {
          const int ih = oh * s.stride - s.pad + kh;
          T* dst = row + oh * s.OW;
          if (ih < 0 || ih >= s.H) {
            std::fill(dst, dst + s.OW, T(0));
            continue;
          }
          const T* src = x + (ic * s.H + ih) * s.W;
          for (int ow = 0; ow < s.OW; ++ow) {
            const int iw = ow * s.stride - s.pad + kw;
            dst[ow] = (iw >= 0 && iw < s.W) ? src[iw] : T(0);
          }
        }
      }
}

// col: (IC*KH*KW, OH*OW) -> dx: (IC, H, W), summing overlapping windows; dx is overwritten.
template <typename T>
void col2im(const Conv2dShape& s, const T* col, T* dx) {
  const int P = s.OH * s.OW;
  std::fill(dx, dx + static_cast<size_t>(s.IC) * s.H * s.W, T(0));
  for (int ic = 0; ic < s.IC; ++ic)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) {
        const T* row = col + ((ic * s.KH + kh) * s.KW + kw) * P;
        for (int oh = 0; oh < s.OH; ++oh) {
          const int ih = oh * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.H) continue;
          T* dst = dx + (ic * s.H + ih) * s.W;
          const T* src = row + oh * s.OW;
          for (int ow = 0; ow < s.OW; ++ow) {
            const int iw = ow * s.stride - s.pad + kw;
            if (iw >= 0 && iw < s.W) dst[iw] += src[ow];
          }
        }
      }
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* out) {
  const int K = s.IC * s.KH * s.KW, P = s.OH * s.OW;
  const size_t x_img = static_cast<size_t>(s.IC) * s.H * s.W, out_img = static_cast<size_t>(s.OC) * P;
#pragma omp parallel for schedule(static) if (s.N > 1)
  for (int n = 0; n < s.N; ++n) {
    T* col = scratch<T>(static_cast<size_t>(K) * P, 0);
    im2col(s, x + n * x_img, col);
    T* o = out + n * out_img;
    if (b) {
      for (int oc = 0; oc < s.OC; ++oc) std::fill(o + oc * P, o + (oc + 1) * P, b[oc]);
    }
    detail::gemm(false, false, s.OC, P, K, T(1), w, K, col, P, b ? T(1) : T(0), o, P);
  }
}

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db) {
  const int K = s.IC * s.KH * s.KW, P = s.OH * s.OW;
  const size_t x_img = static_cast<size_t>(s.IC) * s.H * s.W, out_img = static_cast<size_t>(s.OC) * P;
  if (db) {
    for (int oc = 0; oc < s.OC; ++oc) {
      double acc = 0.0;
      for (int n = 0; n < s.N; ++n) {
        const T* d = dout + n * out_img + oc * P;
        for (int p = 0; p < P; ++p) acc += d[p];
      }
      db[oc] = static_cast<T>(acc);
    }
  }
  if (dx) {
#pragma omp parallel for schedule(static) if (s.N > 1)
    for (int n = 0; n < s.N; ++n) {
      T* dcol = scratch<T>(static_cast<size_t>(K) * P, 1);
      detail::gemm(true, false, K, P, s.OC, T(1), w, K, dout + n * out_img, P, T(0), dcol, P);
      col2im(s, dcol, dx + n * x_img);
    }
  }
  if (dw) {
    // Sequential over the batch: each image adds its share into dw (beta 1 after the first).
    T* col = scratch<T>(static_cast<size_t>(K) * P, 0);
    for (int n = 0; n < s.N; ++n) {
      im2col(s, x + n * x_img, col);
      detail::gemm(false, true, s.OC, K, P, T(1), dout + n * out_img, P, col, P, n == 0 ? T(0) : T(1), dw, K);
    }
    if (s.N == 0) std::fill(dw, dw + static_cast<size_t>(s.OC) * K, T(0));
  }
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, float*,
                                     float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*, const double*, double*,
                                      double*, double*);

}  // namespace gpunet::kernels::cpu
