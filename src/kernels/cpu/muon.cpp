// Muon's update of one matrix on the CPU (kernels/muon.h gives the rule): the momentum and the
// elementwise steps in loops, the Newton-Schulz products with OpenBLAS (row-major gemms).
#include "kernels/muon.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "kernels/cpu/gemm.h"

namespace gpunet::kernels::cpu {
namespace {

template <typename T>
T frobenius(int64_t n, const T* x) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return static_cast<T>(std::sqrt(s));
}

template <typename T>
T rb(T x) {
  return static_cast<T>(round_bf16(static_cast<float>(x)));
}

// The record's bf16 iteration (kernels/muon.h). X holds bf16 values; Y, A and B are scratch.
// Each GEMM multiplies bf16-valued operands with float32 (or double) accumulation, then rounds.
template <typename T>
void newton_schulz_bf16(int M, int N, int steps, T* X, T* Y, T* A, T* B) {
  const int64_t mm = int64_t(M) * M, mn = int64_t(M) * N;
  for (int s = 0; s < steps; ++s) {
    detail::gemm(false, true, M, M, N, T(1), X, N, X, N, T(0), A, M);  // A = X @ X.T
    for (int64_t i = 0; i < mm; ++i) {
      A[i] = rb(A[i]);
      B[i] = rb(T(kMuonC) * A[i]);  // c * A
    }
    detail::gemm(false, false, M, M, M, T(1), B, M, A, M, T(0), Y, M);  // (c * A) @ A
    for (int64_t i = 0; i < mm; ++i) B[i] = rb(rb(T(kMuonB) * A[i]) + rb(Y[i]));  // B = b * A + ...
    detail::gemm(false, false, M, N, M, T(1), B, M, X, N, T(0), Y, N);  // B @ X
    for (int64_t i = 0; i < mn; ++i) X[i] = rb(rb(T(kMuonA) * X[i]) + rb(Y[i]));  // X = a * X + B @ X
  }
}

}  // namespace

template <typename T>
void muon_step(int64_t rows, int64_t cols, const MuonParams& h, const double* group, T* param, const T* grad,
               T* momentum_buf, T* work) {
  const int64_t total = rows * cols;
  if (total <= 0) return;
  const T lr = static_cast<T>(static_cast<float>(group[0]));
  const bool tr = rows > cols;  // X is the transposed update, so that X Xᵀ is the small Gram matrix
  const int64_t m = tr ? cols : rows, n = tr ? rows : cols;
  T* X = work;
  T* Y = X + m * n;
  T* A = Y + m * n;
  T* B = A + m * m;
  const T mom = h.momentum;

  // buf.mul_(momentum).add_(g);  u = g.add(buf, alpha=momentum) if nesterov else buf
  for (int64_t i = 0; i < total; ++i) {
    const T g = grad[i];
    const T scaled = momentum_buf[i] * mom;
    const T buf = scaled + g;
    momentum_buf[i] = buf;
    const T u = h.nesterov ? g + mom * buf : buf;
    const int64_t r = i / cols, c = i - r * cols;
    X[tr ? c * rows + r : i] = u;
  }

  const int M = static_cast<int>(m), N = static_cast<int>(n);
  if (h.bf16) {
    // X = G.bfloat16(); X /= (X.norm() + eps): the norm and the sum are bf16 tensors too.
    for (int64_t i = 0; i < total; ++i) X[i] = rb(X[i]);
    const T xdiv = rb(rb(frobenius(total, X)) + static_cast<T>(h.eps));
    for (int64_t i = 0; i < total; ++i) X[i] = rb(X[i] / xdiv);
    newton_schulz_bf16(M, N, h.ns_steps, X, Y, A, B);
  } else {
    // X /= (||X|| + eps)
    const T xdiv = frobenius(total, X) + static_cast<T>(h.eps);
    for (int64_t i = 0; i < total; ++i) X[i] = X[i] / xdiv;
    for (int s = 0; s < h.ns_steps; ++s) {
      detail::gemm(false, true, M, M, N, T(1), X, N, X, N, T(0), A, M);              // A = X Xᵀ
      std::memcpy(B, A, sizeof(T) * static_cast<size_t>(m * m));
      detail::gemm(false, false, M, M, M, T(kMuonC), A, M, A, M, T(kMuonB), B, M);  // B = b A + c A A
      std::memcpy(Y, X, sizeof(T) * static_cast<size_t>(m * n));
      detail::gemm(false, false, M, N, M, T(1), B, M, X, N, T(kMuonA), Y, N);       // X' = a X + B X
      std::swap(X, Y);
    }
  }

  // p.data.mul_(len(p)**0.5 / p.norm()): Python's float over a float32 0-d tensor, which
  // PyTorch evaluates as reciprocal(norm) * scalar.
  T wscale = T(1);
  if (h.normalize_weight) wscale = (T(1) / frobenius(total, param)) * static_cast<T>(std::sqrt(static_cast<double>(rows)));
  const T uscale = h.shape_scale ? static_cast<T>(std::sqrt(std::max(1.0, double(rows) / double(cols)))) : T(1);
  for (int64_t i = 0; i < total; ++i) {
    const int64_t r = i / cols, c = i - r * cols;
    T u = X[tr ? c * rows + r : i];
    if (h.shape_scale) u = u * uscale;
    const T p = h.normalize_weight ? param[i] * wscale : param[i];
    param[i] = p + (-lr) * u;  // p.data.add_(update, alpha=-lr)
  }
}

template void muon_step<float>(int64_t, int64_t, const MuonParams&, const double*, float*, const float*, float*,
                               float*);
template void muon_step<double>(int64_t, int64_t, const MuonParams&, const double*, double*, const double*, double*,
                                double*);

}  // namespace gpunet::kernels::cpu
