// The plain conv2d reference (kernels::cpu::reference, declared in kernels/conv2d.h): direct
// loops over the definition, one double accumulator per output element, no gemm library and no
// instruction-set selection. Slow on purpose; tests use it as the oracle for the fast CPU paths
// (im2col + OpenBLAS, the AVX direct kernels) and for the CUDA twin.
#include "kernels/conv2d.h"

namespace gpunet::kernels::cpu::reference {
namespace {

inline int64_t x_at(const Conv2dShape& s, int64_t n, int64_t c, int64_t h, int64_t w) {
  return ((n * s.IC + c) * s.H + h) * s.W + w;
}
inline int64_t w_at(const Conv2dShape& s, int64_t o, int64_t c, int64_t kh, int64_t kw) {
  return ((o * s.IC + c) * s.KH + kh) * s.KW + kw;
}
inline int64_t y_at(const Conv2dShape& s, int64_t n, int64_t o, int64_t oh, int64_t ow) {
  return ((n * s.OC + o) * s.OH + oh) * s.OW + ow;
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* out) {
  for (int n = 0; n < s.N; ++n)
    for (int o = 0; o < s.OC; ++o)
      for (int oh = 0; oh < s.OH; ++oh)
        for (int ow = 0; ow < s.OW; ++ow) {
          double acc = 0.0;
          for (int c = 0; c < s.IC; ++c)
            for (int kh = 0; kh < s.KH; ++kh) {
              const int ih = oh * s.stride - s.pad + kh;
              if (ih < 0 || ih >= s.H) continue;
              for (int kw = 0; kw < s.KW; ++kw) {
                const int iw = ow * s.stride - s.pad + kw;
                if (iw < 0 || iw >= s.W) continue;
                acc += static_cast<double>(x[x_at(s, n, c, ih, iw)]) * static_cast<double>(w[w_at(s, o, c, kh, kw)]);
              }
            }
          if (b) acc += static_cast<double>(b[o]);
          out[y_at(s, n, o, oh, ow)] = static_cast<T>(acc);
        }
}

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db) {
  if (db)
    for (int o = 0; o < s.OC; ++o) {
      double acc = 0.0;
      for (int n = 0; n < s.N; ++n)
        for (int oh = 0; oh < s.OH; ++oh)
          for (int ow = 0; ow < s.OW; ++ow) acc += static_cast<double>(dout[y_at(s, n, o, oh, ow)]);
      db[o] = static_cast<T>(acc);
    }
  if (dw)
    for (int o = 0; o < s.OC; ++o)
      for (int c = 0; c < s.IC; ++c)
        for (int kh = 0; kh < s.KH; ++kh)
          for (int kw = 0; kw < s.KW; ++kw) {
            double acc = 0.0;
            for (int n = 0; n < s.N; ++n)
              for (int oh = 0; oh < s.OH; ++oh) {
                const int ih = oh * s.stride - s.pad + kh;
                if (ih < 0 || ih >= s.H) continue;
                for (int ow = 0; ow < s.OW; ++ow) {
                  const int iw = ow * s.stride - s.pad + kw;
                  if (iw < 0 || iw >= s.W) continue;
                  acc +=
                      static_cast<double>(dout[y_at(s, n, o, oh, ow)]) * static_cast<double>(x[x_at(s, n, c, ih, iw)]);
                }
              }
            dw[w_at(s, o, c, kh, kw)] = static_cast<T>(acc);
          }
  if (dx)  // gathered per input element: the taps (oh, kh) with oh*stride - pad + kh == ih
    for (int n = 0; n < s.N; ++n)
      for (int c = 0; c < s.IC; ++c)
        for (int ih = 0; ih < s.H; ++ih)
          for (int iw = 0; iw < s.W; ++iw) {
            double acc = 0.0;
            for (int o = 0; o < s.OC; ++o)
              for (int kh = 0; kh < s.KH; ++kh) {
                const int th = ih + s.pad - kh;
                if (th < 0 || th % s.stride != 0 || th / s.stride >= s.OH) continue;
                for (int kw = 0; kw < s.KW; ++kw) {
                  const int tw = iw + s.pad - kw;
                  if (tw < 0 || tw % s.stride != 0 || tw / s.stride >= s.OW) continue;
                  acc += static_cast<double>(dout[y_at(s, n, o, th / s.stride, tw / s.stride)]) *
                         static_cast<double>(w[w_at(s, o, c, kh, kw)]);
                }
              }
            dx[x_at(s, n, c, ih, iw)] = static_cast<T>(acc);
          }
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, float*,
                                     float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*, const double*, double*, double*,
                                      double*);

}  // namespace gpunet::kernels::cpu::reference
