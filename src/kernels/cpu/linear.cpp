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
