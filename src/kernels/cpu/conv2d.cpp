// conv2d on the CPU: im2col + OpenBLAS gemm over a chunk of images at once.
// With K = IC*KH*KW, P = OH*OW and a chunk of B images, columns laid side by side:
//   col (K, B*P)        = [im2col(x_0) | im2col(x_1) | ...]
//   tmp (OC, B*P)       = w (OC, K) · col               -> out_n (OC, P) = tmp[:, n*P:(n+1)*P] + b
//   dw (OC, K)         += dout_t (OC, B*P) · colᵀ        (dout_t: dout regrouped like tmp)
//   dcol (K, B*P)       = wᵀ (K, OC) · dout_t;  dx_n = col2im(dcol[:, n*P:(n+1)*P])
// One gemm per chunk instead of one per image: LeNet's matrices are thin (OC = 6 or 16), so
// per-image gemms spend most of their time packing. Chunks bound the scratch memory.
// Scratch buffers are thread_local and grow-only: a steady-state step allocates nothing.
// For float32, conv2d_path(s) (below) picks per shape between this path, the direct kernels of
// conv2d_direct.cpp (LeNet's small channel counts) and oneDNN (conv2d_dnnl.cpp, wide layers). Neither is the oracle: both are tested
// against the plain loops of conv2d_reference.cpp (kernels::cpu::reference).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_dnnl.h"
#include "kernels/cpu/gemm.h"

namespace gpunet::kernels::cpu {
using detail::ConvAlgo;
using detail::DnnlLayout;
namespace {

template <typename T>
T* scratch(size_t n, int slot) {
  thread_local std::vector<T> buf[3];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// Images per chunk: the column buffer (K x B*P) stays under ~256K elements (1 MiB of
// float32, in L2): larger chunks made im2col memory-bound.
int chunk_images(const Conv2dShape& s) {
  const int64_t per_image = static_cast<int64_t>(s.IC) * s.KH * s.KW * s.OH * s.OW;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(s.N, (int64_t(1) << 18) / std::max<int64_t>(per_image, 1))));
}

// x: (IC, H, W) -> col rows (IC*KH*KW) of length P starting at `col`, row stride ld;
// zeros where the window hangs over the padding.
template <typename T>
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void im2col(const Conv2dShape& s, const T* x, T* col, int64_t ld) {
  const bool plain = s.stride == 1 && s.pad == 0;
  for (int ic = 0; ic < s.IC; ++ic)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((ic * s.KH + kh) * s.KW + kw) * ld;
        for (int oh = 0; oh < s.OH; ++oh) {
          T* dst = row + oh * s.OW;
          if (plain) {  // a contiguous run of the input row (short: an inline loop beats a memcpy call)
            const T* __restrict src = x + (ic * s.H + oh + kh) * s.W + kw;
            T* __restrict d = dst;
            for (int ow = 0; ow < s.OW; ++ow) d[ow] = src[ow];
            continue;
          }
          const int ih = oh * s.stride - s.pad + kh;
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

// col rows (length P, stride ld) -> dx: (IC, H, W), summing overlapping windows; dx is overwritten.
template <typename T>
void col2im(const Conv2dShape& s, const T* col, int64_t ld, T* dx) {
  std::fill(dx, dx + static_cast<size_t>(s.IC) * s.H * s.W, T(0));
  const bool plain = s.stride == 1 && s.pad == 0;
  for (int ic = 0; ic < s.IC; ++ic)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) {
        const T* row = col + ((ic * s.KH + kh) * s.KW + kw) * ld;
        for (int oh = 0; oh < s.OH; ++oh) {
          const T* src = row + oh * s.OW;
          if (plain) {
            T* __restrict dst = dx + (ic * s.H + oh + kh) * s.W + kw;
            for (int ow = 0; ow < s.OW; ++ow) dst[ow] += src[ow];
            continue;
          }
          const int ih = oh * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.H) continue;
          T* dst = dx + (ic * s.H + ih) * s.W;
          for (int ow = 0; ow < s.OW; ++ow) {
            const int iw = ow * s.stride - s.pad + kw;
            if (iw >= 0 && iw < s.W) dst[iw] += src[ow];
          }
        }
      }
}

// col (K, B*P) for images n0..n0+B-1.
template <typename T>
void im2col_chunk(const Conv2dShape& s, const T* x, int n0, int B, T* col) {
  const int P = s.OH * s.OW;
  const size_t x_img = static_cast<size_t>(s.IC) * s.H * s.W;
  const int64_t ld = static_cast<int64_t>(B) * P;
#pragma omp parallel for schedule(static) if (B >= 16)
  for (int j = 0; j < B; ++j) im2col(s, x + (n0 + j) * x_img, col + static_cast<int64_t>(j) * P, ld);
}

DnnlLayout layout_of(ConvAlgo a) { return a == ConvAlgo::DnnlPlain ? DnnlLayout::Plain : DnnlLayout::Blocked; }
bool is_dnnl(ConvAlgo a) { return a == ConvAlgo::Dnnl || a == ConvAlgo::DnnlPlain; }

}  // namespace

namespace detail {
// The rule (docs/PERFORMANCE.md, "Convolution paths", measured by bench/conv_paths.cpp):
//   1. the direct kernels where they run (conv2d_direct_supported: AVX2/AVX-512, stride 1, up
//      to 64 channels each way) and one side has fewer than 32 channels: LeNet, airbench's
//      whitening (3->24) and first (24->64) layers, ResNet-18's stem (3->64). There the direct
//      kernels measured 1.1x-17x faster than oneDNN;
//   2. else oneDNN, where gpunet has it: in its plain layout for 1x1 kernels (too little work
//      per element for the reorders to pay: 1.4x), else in its blocked layout (1.3x-3x faster
//      than plain, and 1.6x-14x faster than the direct kernels from 32 channels each way);
//   3. without oneDNN: the direct kernels where they run (the rule of conv2d_direct_supported),
//      else im2col + OpenBLAS.
// A forced algorithm (set_conv_algo_for_testing) overrides it.
ConvAlgo conv2d_path(const Conv2dShape& s) {
  const ConvAlgo forced = conv_algo_for_testing();
  if (is_dnnl(forced)) return dnnl_available() ? forced : ConvAlgo::Im2col;
  const bool direct = conv2d_direct_supported(s);  // false when Im2col is forced
  if (forced != ConvAlgo::Auto || !dnnl_available()) return direct ? ConvAlgo::Direct : ConvAlgo::Im2col;
  if (direct && std::min(s.IC, s.OC) < 32) return ConvAlgo::Direct;
  return s.KH * s.KW == 1 ? ConvAlgo::DnnlPlain : ConvAlgo::Dnnl;
}
}  // namespace detail

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    const ConvAlgo path = detail::conv2d_path(s);
    if (path == ConvAlgo::Direct) return detail::conv2d_direct_forward(s, x, w, b, out);
    if (is_dnnl(path) && detail::conv2d_dnnl_forward(s, x, w, b, out, layout_of(path))) return;
  }
  const int K = s.IC * s.KH * s.KW, P = s.OH * s.OW, CB = chunk_images(s);
  const size_t out_img = static_cast<size_t>(s.OC) * P;
  T* col = scratch<T>(static_cast<size_t>(K) * CB * P, 0);
  T* tmp = scratch<T>(static_cast<size_t>(s.OC) * CB * P, 1);
  for (int n0 = 0; n0 < s.N; n0 += CB) {
    const int B = std::min(CB, s.N - n0);
    const int64_t ld = static_cast<int64_t>(B) * P;
    im2col_chunk(s, x, n0, B, col);
    detail::gemm(false, false, s.OC, static_cast<int>(ld), K, T(1), w, K, col, static_cast<int>(ld), T(0), tmp,
                 static_cast<int>(ld));
    // tmp (OC, B*P) -> out (B, OC, P), adding the bias (as PyTorch: the sum, then + b).
    for (int j = 0; j < B; ++j)
      for (int oc = 0; oc < s.OC; ++oc) {
        const T* __restrict src = tmp + oc * ld + static_cast<int64_t>(j) * P;
        T* __restrict dst = out + (n0 + j) * out_img + static_cast<size_t>(oc) * P;
        const T bias = b ? b[oc] : T(0);
        for (int p = 0; p < P; ++p) dst[p] = src[p] + bias;
      }
  }
}

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db) {
  const int K = s.IC * s.KH * s.KW, P = s.OH * s.OW, CB = chunk_images(s);
  const size_t x_img = static_cast<size_t>(s.IC) * s.H * s.W, out_img = static_cast<size_t>(s.OC) * P;
  if constexpr (std::is_same_v<T, float>) {
    const ConvAlgo path = detail::conv2d_path(s);
    if (is_dnnl(path) && detail::conv2d_dnnl_backward(s, x, w, dout, dx, dw, db, layout_of(path))) return;
  }
  if (db) {  // both paths: a double sum per channel
    for (int oc = 0; oc < s.OC; ++oc) {
      double acc = 0.0;
      for (int n = 0; n < s.N; ++n) {
        const T* d = dout + n * out_img + oc * P;
        for (int p = 0; p < P; ++p) acc += d[p];
      }
      db[oc] = static_cast<T>(acc);
    }
  }
  if (!dx && !dw) return;
  if constexpr (std::is_same_v<T, float>) {
    if (detail::conv2d_path(s) == ConvAlgo::Direct) return detail::conv2d_direct_backward(s, x, w, dout, dx, dw);
  }
  if (dw && s.N == 0) std::fill(dw, dw + static_cast<size_t>(s.OC) * K, T(0));
  T* col = scratch<T>(static_cast<size_t>(K) * CB * P, 0);
  T* dt = scratch<T>(static_cast<size_t>(s.OC) * CB * P, 1);
  for (int n0 = 0; n0 < s.N; n0 += CB) {
    const int B = std::min(CB, s.N - n0);
    const int64_t ld = static_cast<int64_t>(B) * P;
    // dout (B, OC, P) -> dt (OC, B*P): one contiguous block of OC*P per image when B == 1
    if (B == 1) {
      std::memcpy(dt, dout + n0 * out_img, sizeof(T) * out_img);
    } else {
      for (int j = 0; j < B; ++j)
        for (int oc = 0; oc < s.OC; ++oc)
          std::memcpy(dt + oc * ld + static_cast<int64_t>(j) * P,
                      dout + (n0 + j) * out_img + static_cast<size_t>(oc) * P, sizeof(T) * P);
    }
    if (dw) {
      im2col_chunk(s, x, n0, B, col);
      detail::gemm(false, true, s.OC, K, static_cast<int>(ld), T(1), dt, static_cast<int>(ld), col,
                   static_cast<int>(ld), n0 == 0 ? T(0) : T(1), dw, K);
    }
    if (dx) {
      T* dcol = col;  // the columns are no longer needed
      detail::gemm(true, false, K, static_cast<int>(ld), s.OC, T(1), w, K, dt, static_cast<int>(ld), T(0), dcol,
                   static_cast<int>(ld));
#pragma omp parallel for schedule(static) if (B >= 16)
      for (int j = 0; j < B; ++j) col2im(s, dcol + static_cast<int64_t>(j) * P, ld, dx + (n0 + j) * x_img);
    }
  }
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, float*,
                                     float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*, const double*, double*,
                                      double*, double*);

}  // namespace gpunet::kernels::cpu
