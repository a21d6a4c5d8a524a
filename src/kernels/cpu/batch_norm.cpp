// batch_norm2d on the CPU: plain loops, one channel at a time; sums in double, two passes
// (mean, then the centred sum of squares) so a large mean does not cancel the variance.
// For float, where isa() allows, batch_norm_vector.cpp runs instead (float sums per plane
// chunk; tests/ops/test_cnn_vector.cpp bounds the difference); these loops are its oracle.
#include <cmath>
#include <type_traits>

#include "kernels/batch_norm.h"
#include "kernels/cpu/cnn_vector.h"

namespace gpunet::kernels::cpu {

template <typename T>
void batch_norm_forward(const BatchNormShape& s, const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, bool use_batch_stats, double momentum, double eps, T* out, T* save_mean,
                        T* save_invstd) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::batch_norm_forward(isa(), s, x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps,
                                 out, save_mean, save_invstd))
      return;
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(s.C) * M > (1 << 16))
  for (int c = 0; c < s.C; ++c) {
    double mean, invstd;
    if (use_batch_stats) {
      double sum = 0.0;
      for (int n = 0; n < s.N; ++n) {
        const T* xp = x + (static_cast<int64_t>(n) * s.C + c) * s.HW;
        for (int64_t i = 0; i < s.HW; ++i) sum += static_cast<double>(xp[i]);
      }
      mean = sum / static_cast<double>(M);
      double sq = 0.0;
      for (int n = 0; n < s.N; ++n) {
        const T* xp = x + (static_cast<int64_t>(n) * s.C + c) * s.HW;
        for (int64_t i = 0; i < s.HW; ++i) {
          const double d = static_cast<double>(xp[i]) - mean;
          sq += d * d;
        }
      }
      const double var = sq / static_cast<double>(M);
      invstd = 1.0 / std::sqrt(var + eps);
      if (running_mean && running_var) {
        const double unbiased = M > 1 ? sq / static_cast<double>(M - 1) : var;
        running_mean[c] = static_cast<T>((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = static_cast<T>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      mean = static_cast<double>(running_mean[c]);
      invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    }
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    const double scale = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
    const double shift = (bias ? static_cast<double>(bias[c]) : 0.0) - mean * scale;
    for (int n = 0; n < s.N; ++n) {
      const int64_t base = (static_cast<int64_t>(n) * s.C + c) * s.HW;
      for (int64_t i = 0; i < s.HW; ++i) out[base + i] = static_cast<T>(static_cast<double>(x[base + i]) * scale + shift);
    }
  }
}

template <typename T>
void batch_norm_backward(const BatchNormShape& s, const T* x, const T* weight, const T* save_mean,
                         const T* save_invstd, bool use_batch_stats, const T* dout, T* dx, T* dweight, T* dbias) {
  if constexpr (std::is_same_v<T, float>)
    if (fast::batch_norm_backward(isa(), s, x, weight, save_mean, save_invstd, use_batch_stats, dout, dx, dweight,
                                  dbias))
      return;
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(s.C) * M > (1 << 16))
  for (int c = 0; c < s.C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_g = 0.0, sum_gxhat = 0.0;  // sum(dout), sum(dout * xhat)
    for (int n = 0; n < s.N; ++n) {
      const int64_t base = (static_cast<int64_t>(n) * s.C + c) * s.HW;
      for (int64_t i = 0; i < s.HW; ++i) {
        const double g = dout[base + i];
        sum_g += g;
        sum_gxhat += g * (static_cast<double>(x[base + i]) - mean) * invstd;
      }
    }
    if (dweight) dweight[c] = static_cast<T>(sum_gxhat);
    if (dbias) dbias[c] = static_cast<T>(sum_g);
    if (!dx) continue;
    const double w = weight ? static_cast<double>(weight[c]) : 1.0;
    const double k = w * invstd;
    // dx = w*invstd * (g - mean(g) - xhat * mean(g*xhat)) with batch statistics.
    const double mg = use_batch_stats ? sum_g / static_cast<double>(M) : 0.0;
    const double mgx = use_batch_stats ? sum_gxhat / static_cast<double>(M) : 0.0;
    for (int n = 0; n < s.N; ++n) {
      const int64_t base = (static_cast<int64_t>(n) * s.C + c) * s.HW;
      for (int64_t i = 0; i < s.HW; ++i) {
        const double xhat = (static_cast<double>(x[base + i]) - mean) * invstd;
        dx[base + i] = static_cast<T>(k * (static_cast<double>(dout[base + i]) - mg - xhat * mgx));
      }
    }
  }
}

#define GPUNET_INSTANTIATE(T)                                                                                      \
  template void batch_norm_forward<T>(const BatchNormShape&, const T*, const T*, const T*, T*, T*, bool, double, \
                                      double, T*, T*, T*);                                                        \
  template void batch_norm_backward<T>(const BatchNormShape&, const T*, const T*, const T*, const T*, bool,      \
                                       const T*, T*, T*, T*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
