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
}  // namespace cpu

namespace cuda {
void linear_forward(int N, int IN, int OUT, const float* x, const float* w, const float* b, float* out);
void linear_backward(int N, int IN, int OUT, const float* x, const float* w, const float* dout, float* dx, float* dw,
                     float* db);
}  // namespace cuda

}  // namespace gpunet::kernels
