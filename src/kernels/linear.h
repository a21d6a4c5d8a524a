#pragma once
// linear kernels: out = x·Wᵀ + b. CPU: OpenBLAS gemm; CUDA: cuBLAS (TF32 off).
#include <cstdint>

namespace gpunet::kernels {

namespace cpu {
// x: (N, IN), w: (OUT, IN), b: (OUT) or nullptr -> out: (N, OUT)
template <typename T>
void linear_forward(int N, int IN, int OUT, const T* x, const T* w, const T* b, T* out);
// dout: (N, OUT) -> dx: (N, IN) or nullptr, dw: (OUT, IN) or nullptr, db: (OUT) or nullptr (fresh).
template <typename T>
void linear_backward(int N, int IN, int OUT, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db);

// Autocast bf16 (CPU only): the float32 contract above with x, w and dout rounded to bfloat16
// (nearest even) into scratch copies, then OpenBLAS sgemm: bf16 products (exact in float32),
// float32 accumulation; out, dx, dw and db in float32.
void linear_forward_bf16(int N, int IN, int OUT, const float* x, const float* w, const float* b, float* out);
void linear_backward_bf16(int N, int IN, int OUT, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db);
}  // namespace cpu

namespace cuda {
void linear_forward(int N, int IN, int OUT, const float* x, const float* w, const float* b, float* out);
void linear_backward(int N, int IN, int OUT, const float* x, const float* w, const float* dout, float* dx, float* dw,
                     float* db);
}  // namespace cuda

}  // namespace gpunet::kernels
