// linear on the CPU: out = x·Wᵀ + b with OpenBLAS gemm.
#include <algorithm>

#include "kernels/cpu/gemm.h"
#include "kernels/linear.h"

namespace gpunet::kernels::cpu {

template <typename T>
void linear_forward(int N, int IN, int OUT, const T* x, const T* w, const T* b, T* out) {
  if (b) {
    for (int i = 0; i < N; ++i) std::copy(b, b + OUT, out + static_cast<int64_t>(i) * OUT);
  }
  // out (N, OUT) = x (N, IN) · wᵀ (IN, OUT) [+ out]
  detail::gemm(false, true, N, OUT, IN, T(1), x, IN, w, IN, b ? T(1) : T(0), out, OUT);
}

template <typename T>
void linear_backward(int N, int IN, int OUT, const T* x, const T* w, const T* dout, T* dx, T* dw, T* db) {
  // dx (N, IN) = dout (N, OUT) · w (OUT, IN)
  if (dx) detail::gemm(false, false, N, IN, OUT, T(1), dout, OUT, w, IN, T(0), dx, IN);
  // dw (OUT, IN) = doutᵀ (OUT, N) · x (N, IN)
  if (dw) {
    if (N == 0) std::fill(dw, dw + static_cast<int64_t>(OUT) * IN, T(0));
    else detail::gemm(true, false, OUT, IN, N, T(1), dout, OUT, x, IN, T(0), dw, IN);
  }
  if (db) {
    for (int o = 0; o < OUT; ++o) {
      T acc = 0;
      for (int i = 0; i < N; ++i) acc += dout[static_cast<int64_t>(i) * OUT + o];
      db[o] = acc;
    }
  }
}

template void linear_forward<float>(int, int, int, const float*, const float*, const float*, float*);
template void linear_forward<double>(int, int, int, const double*, const double*, const double*, double*);
template void linear_backward<float>(int, int, int, const float*, const float*, const float*, float*, float*, float*);
template void linear_backward<double>(int, int, int, const double*, const double*, const double*, double*, double*,
                                      double*);

}  // namespace gpunet::kernels::cpu

// ---- autocast bf16 (kernels/linear.h): the float32 gemms on bf16-rounded copies ----
#include <vector>

#include "kernels/cpu/bf16.h"

namespace gpunet::kernels::cpu {
namespace {
const float* rounded(const float* in, int64_t n, int slot) {
  thread_local std::vector<float> buf[3];
  if (buf[slot].size() < static_cast<size_t>(n)) buf[slot].resize(static_cast<size_t>(n));
  detail::round_to_bf16(in, buf[slot].data(), n);
  return buf[slot].data();
}
}  // namespace

void linear_forward_bf16(int N, int IN, int OUT, const float* x, const float* w, const float* b, float* out) {
  linear_forward<float>(N, IN, OUT, rounded(x, int64_t(N) * IN, 0), rounded(w, int64_t(OUT) * IN, 1), b, out);
}

void linear_backward_bf16(int N, int IN, int OUT, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db) {
  const float* xr = dw ? rounded(x, int64_t(N) * IN, 0) : x;
  const float* wr = dx ? rounded(w, int64_t(OUT) * IN, 1) : w;
  linear_backward<float>(N, IN, OUT, xr, wr, rounded(dout, int64_t(N) * OUT, 2), dx, dw, db);
}

}  // namespace gpunet::kernels::cpu
