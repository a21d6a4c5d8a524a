// gelu and silu on the GPU: one thread per element (grid-stride), the CPU's formulas in float.
#include "kernels/activation.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2_Pi = 0.79788456080286535588f;
constexpr float kCubic = 0.044715f;

__global__ void gelu_forward_kernel(int64_t n, const float* x, bool tanh_approx, float* out) {
  GPUNET_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (tanh_approx) {
      const float inner = kSqrt2_Pi * (v + kCubic * v * v * v);
      out[i] = 0.5f * v * (1.0f + tanhf(inner));
    } else {
      out[i] = v * 0.5f * (1.0f + erff(v * kSqrt1_2));
    }
  }
}

__global__ void gelu_backward_kernel(int64_t n, const float* x, const float* dout, bool tanh_approx, float* dx) {
  GPUNET_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (tanh_approx) {
      const float inner = kSqrt2_Pi * (v + kCubic * v * v * v);
      const float t = tanhf(inner);
      const float dinner = kSqrt2_Pi * (1.0f + 3.0f * kCubic * v * v);
      dx[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
    } else {
      const float cdf = 0.5f * (1.0f + erff(v * kSqrt1_2));
      const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
      dx[i] = dout[i] * (cdf + v * pdf);
    }
  }
}

__global__ void silu_forward_kernel(int64_t n, const float* x, float* out) {
  GPUNET_GRID_STRIDE(i, n) out[i] = x[i] / (1.0f + expf(-x[i]));
}

__global__ void silu_backward_kernel(int64_t n, const float* x, const float* dout, float* dx) {
  GPUNET_GRID_STRIDE(i, n) {
    const float s = 1.0f / (1.0f + expf(-x[i]));
    dx[i] = dout[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

}  // namespace

void gelu_forward(int64_t n, const float* x, bool tanh_approx, float* out) {
  if (n <= 0) return;
  gelu_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, tanh_approx, out);
  GPUNET_KERNEL_CHECK();
}

void gelu_backward(int64_t n, const float* x, const float* dout, bool tanh_approx, float* dx) {
  if (n <= 0) return;
  gelu_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, dout, tanh_approx, dx);
  GPUNET_KERNEL_CHECK();
}

void silu_forward(int64_t n, const float* x, float* out) {
  if (n <= 0) return;
  silu_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, out);
  GPUNET_KERNEL_CHECK();
}

void silu_backward(int64_t n, const float* x, const float* dout, float* dx) {
  if (n <= 0) return;
  silu_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, dout, dx);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
