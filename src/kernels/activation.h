#pragma once
// Elementwise activations with their backward: gelu (exact erf form or the tanh
// approximation, PyTorch's formulas) and silu (x * sigmoid(x)). n contiguous elements.
#include <cstdint>

namespace gpunet::kernels {

namespace cpu {
// out = gelu(x); tanh_approx selects 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
template <typename T>
void gelu_forward(int64_t n, const T* x, bool tanh_approx, T* out);
// dx = dout * gelu'(x)
template <typename T>
void gelu_backward(int64_t n, const T* x, const T* dout, bool tanh_approx, T* dx);
// out = x * sigmoid(x)
template <typename T>
void silu_forward(int64_t n, const T* x, T* out);
// dx = dout * s * (1 + x (1 - s)), s = sigmoid(x)
template <typename T>
void silu_backward(int64_t n, const T* x, const T* dout, T* dx);
}  // namespace cpu

namespace cuda {
void gelu_forward(int64_t n, const float* x, bool tanh_approx, float* out);
void gelu_backward(int64_t n, const float* x, const float* dout, bool tanh_approx, float* dx);
void silu_forward(int64_t n, const float* x, float* out);
void silu_backward(int64_t n, const float* x, const float* dout, float* dx);
}  // namespace cuda

}  // namespace gpunet::kernels
