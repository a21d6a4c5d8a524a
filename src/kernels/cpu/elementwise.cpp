// Elementwise and reduction kernels on the CPU: plain loops over contiguous memory.
#include "kernels/elementwise.h"

#include <cmath>
#include <cstring>

#include "gpunet/dtype.h"
#include "gpunet/error.h"

namespace gpunet::kernels::cpu {

template <typename T>
void binary(BinaryOp op, int64_t n, const T* a, const T* b, bool b_scalar, T* out) {
  const int64_t bstep = b_scalar ? 0 : 1;
  switch (op) {
    case BinaryOp::Add:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i * bstep];
      break;
    case BinaryOp::Sub:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] - b[i * bstep];
      break;
    case BinaryOp::Mul:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i * bstep];
      break;
  }
}

template <typename T>
void affine(int64_t n, const T* a, T alpha, T beta, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = alpha * a[i] + beta;
}

template <typename T>
void axpy(int64_t n, T alpha, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <typename T>
void sum(int64_t n, const T* x, T* out) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]);
  out[0] = static_cast<T>(acc);
}

template <typename T>
void relu_forward(int64_t n, const T* x, T* out) {
  // NaN propagates (as torch.relu): NaN > 0 is false, so test "x < 0" instead.
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] < T(0) ? T(0) : x[i];
}

template <typename T>
void relu_backward(int64_t n, const T* out, const T* dout, T* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = dout[i];  // loaded unconditionally, so the loop vectorises
    dx[i] = out[i] > T(0) ? g : T(0);
  }
}

template <typename T>
void broadcast_scalar(int64_t n, const T* dscalar, T scale, T* out) {
  const T v = dscalar[0] * scale;
  for (int64_t i = 0; i < n; ++i) out[i] = v;
}

template <typename T>
void argmax_rows(int64_t rows, int64_t cols, const T* x, int64_t* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * cols;
    int64_t best = 0;
    // First maximum wins; a NaN counts as the maximum (torch.argmax).
    for (int64_t c = 1; c < cols; ++c) {
      if (std::isnan(row[best])) break;
      if (row[c] > row[best] || std::isnan(row[c])) best = c;
    }
    out[r] = best;
  }
}

void eq_i64(int64_t n, const int64_t* a, const int64_t* b, int64_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] == b[i] ? 1 : 0;
}

template <typename T>
void nonfinite_flag(int64_t n, const T* x, int32_t* flag) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) {
      *flag = 1;
      return;
    }
}

#define GPUNET_INSTANTIATE(T)                                                   \
  template void binary<T>(BinaryOp, int64_t, const T*, const T*, bool, T*);    \
  template void affine<T>(int64_t, const T*, T, T, T*);                        \
  template void axpy<T>(int64_t, T, const T*, T*);                             \
  template void sum<T>(int64_t, const T*, T*);                                 \
  template void relu_forward<T>(int64_t, const T*, T*);                        \
  template void relu_backward<T>(int64_t, const T*, const T*, T*);             \
  template void broadcast_scalar<T>(int64_t, const T*, T, T*);                 \
  template void argmax_rows<T>(int64_t, int64_t, const T*, int64_t*);          \
  template void nonfinite_flag<T>(int64_t, const T*, int32_t*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
