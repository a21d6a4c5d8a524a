#pragma once
// conv2d kernels. Twins: kernels::cpu (templated on T: float, double for tests; im2col + OpenBLAS,
// for float also oneDNN or the AVX direct kernels, picked per shape by detail::conv2d_path;
// src/kernels/cpu/conv2d.cpp) and kernels::cuda (float; cuDNN),
// with one parameter list, called through GPUNET_DISPATCH (src/ops/conv2d.cpp). And the oracle:
// kernels::cpu::reference, plain loops that tests compare both twins against.
// Inputs are contiguous and valid (checked in src/ops/conv2d.cpp).
#include <cstdint>

namespace gpunet::kernels {

struct Conv2dShape {
  int N, IC, H, W;    // input
  int OC, KH, KW;     // weight
  int stride, pad;
  int OH, OW;         // output: (H + 2*pad - KH) / stride + 1
};

namespace cpu {
// x: (N, IC, H, W), w: (OC, IC, KH, KW), b: (OC) or nullptr -> out: (N, OC, OH, OW)
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* out);
// dout: (N, OC, OH, OW) -> dx: (N, IC, H, W) or nullptr, dw: (OC, IC, KH, KW) or nullptr,
// db: (OC) or nullptr. Each is written fresh (overwritten, not accumulated).
template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db);

// Autocast bf16 (CPU only; no CUDA twin yet): the float32 contract above, but the products in
// bfloat16 with float32 accumulation: x, w and dout are rounded to bf16 (nearest even) on the
// way in (inside oneDNN's reorders, or into scratch copies: kernels/cpu/bf16.h), and out, dx, dw
// and db are written in float32. Expect a relative error of about 2^-8 * sqrt(K) against
// float32 (K = IC*KH*KW, or N*OH*OW for dw): tests/ops/test_conv_bf16.cpp.
//   conv2d_forward_bf16(s, x, w, b, out);
void conv2d_forward_bf16(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out);
void conv2d_backward_bf16(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db);
}  // namespace cpu

namespace cpu::reference {
// The plain reference: the definition's loops, a double accumulator per output element, no gemm
// library and no instruction-set paths (slow; for tests). Same contract as the twins above:
//   Conv2dShape s{...}; reference::conv2d_forward<float>(s, x, w, b, out);
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* out);
template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db);
}  // namespace cpu::reference

namespace cuda {
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx, float* dw,
                     float* db);
}  // namespace cuda

}  // namespace gpunet::kernels
