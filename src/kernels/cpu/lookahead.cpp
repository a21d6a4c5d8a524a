// The lookahead EMA on the CPU: PyTorch's lerp (the vectorised form: one fma per element), then
// the copy back into the net, in one pass.
#include "kernels/lookahead.h"

#include <cmath>

namespace gpunet::kernels::cpu {

template <typename T>
void lookahead_update(int64_t n, const double* decay, T* ema, T* net) {
  const T w = static_cast<T>(1.0 - *decay);  // lerp_(v, 1 - d): the Python float, cast to the tensor's type
  const bool small = std::abs(w) < T(0.5);
  const T coeff = small ? w : w - T(1);
  for (int64_t i = 0; i < n; ++i) {
    const T e = ema[i], x = net[i];
    const T r = std::fma(coeff, x - e, small ? e : x);
    ema[i] = r;
    net[i] = r;
  }
}

template void lookahead_update<float>(int64_t, const double*, float*, float*);
template void lookahead_update<double>(int64_t, const double*, double*, double*);

}  // namespace gpunet::kernels::cpu
