// dropout on the CPU: one pass, the mask drawn from (seed, offset + i).
#include "kernels/dropout.h"

namespace gpunet::kernels::cpu {

template <typename T>
void dropout_apply(int64_t n, const T* x, double p, uint64_t seed, uint64_t offset, T* out) {
  const uint32_t thr = dropout_threshold(p);
  const T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
  for (int64_t i = 0; i < n; ++i)
    out[i] = dropout_u24(seed, offset + static_cast<uint64_t>(i)) >= thr ? x[i] * scale : T(0);
}

template void dropout_apply<float>(int64_t, const float*, double, uint64_t, uint64_t, float*);
template void dropout_apply<double>(int64_t, const double*, double, uint64_t, uint64_t, double*);

}  // namespace gpunet::kernels::cpu
