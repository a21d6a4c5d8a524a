// gelu and silu on the CPU: plain loops, evaluated in T (float or double). For float, where
// isa() allows, the vector kernels of activation_vector.cpp run instead (within a few ulp of
// these loops; tests/ops/test_cnn_vector.cpp); these loops are their oracle.
#include <cmath>
#include <type_traits>

#include "kernels/activation.h"
#include "kernels/cpu/cnn_vector.h"

namespace gpunet::kernels::cpu {
namespace {
constexpr double kSqrt1_2 = 0.70710678118654752440;   // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kSqrt2_Pi = 0.79788456080286535588;    // sqrt(2/pi)
constexpr double kCubic = 0.044715;
}  // namespace

template <typename T>
void gelu_forward(int64_t n, const T* x, bool tanh_approx, T* out) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::gelu_forward(isa(), n, x, tanh_approx, out)) return;
  if (tanh_approx) {
    for (int64_t i = 0; i < n; ++i) {
      const T v = x[i];
      const T inner = T(kSqrt2_Pi) * (v + T(kCubic) * v * v * v);
      out[i] = T(0.5) * v * (T(1) + std::tanh(inner));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * T(0.5) * (T(1) + std::erf(x[i] * T(kSqrt1_2)));
  }
}

template <typename T>
void gelu_backward(int64_t n, const T* x, const T* dout, bool tanh_approx, T* dx) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::gelu_backward(isa(), n, x, dout, tanh_approx, dx)) return;
  if (tanh_approx) {
    for (int64_t i = 0; i < n; ++i) {
      const T v = x[i];
      const T inner = T(kSqrt2_Pi) * (v + T(kCubic) * v * v * v);
      const T t = std::tanh(inner);
      const T dinner = T(kSqrt2_Pi) * (T(1) + T(3 * kCubic) * v * v);
      dx[i] = dout[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dinner);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T v = x[i];
      const T cdf = T(0.5) * (T(1) + std::erf(v * T(kSqrt1_2)));
      const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
      dx[i] = dout[i] * (cdf + v * pdf);
    }
  }
}

template <typename T>
void silu_forward(int64_t n, const T* x, T* out) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::silu_forward(isa(), n, x, out)) return;
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] / (T(1) + std::exp(-x[i]));
}

template <typename T>
void silu_backward(int64_t n, const T* x, const T* dout, T* dx) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::silu_backward(isa(), n, x, dout, dx)) return;
  for (int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-x[i]));
    dx[i] = dout[i] * s * (T(1) + x[i] * (T(1) - s));
  }
}

#define GPUNET_INSTANTIATE(T)                                                  \
  template void gelu_forward<T>(int64_t, const T*, bool, T*);                 \
  template void gelu_backward<T>(int64_t, const T*, const T*, bool, T*);      \
  template void silu_forward<T>(int64_t, const T*, T*);                       \
  template void silu_backward<T>(int64_t, const T*, const T*, T*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
