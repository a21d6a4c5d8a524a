// Sync batch norm's kernels on the CPU (kernels/batch_norm.h): plain loops per channel, sums and
// coefficients in double, as batch_norm.cpp's reference, with the statistics given from outside.
#include "kernels/batch_norm.h"

#include <cstdint>

namespace gpunet::kernels::cpu {
namespace {
int64_t plane(const BatchNormShape& s, int n, int c) { return (static_cast<int64_t>(n) * s.C + c) * s.HW; }
bool big(const BatchNormShape& s) { return static_cast<int64_t>(s.C) * s.N * s.HW > (1 << 16); }
}  // namespace

template <typename T>
void batch_norm_channel_sums(const BatchNormShape& s, const T* x, const double* center, double* out) {
#pragma omp parallel for schedule(static) if (big(s))
  for (int c = 0; c < s.C; ++c) {
    const double m = center ? center[c] : 0.0;
    double acc = 0.0;
    for (int n = 0; n < s.N; ++n) {
      const T* xp = x + plane(s, n, c);
      if (center) {
        for (int64_t i = 0; i < s.HW; ++i) {
          const double d = static_cast<double>(xp[i]) - m;
          acc += d * d;
        }
      } else {
        for (int64_t i = 0; i < s.HW; ++i) acc += static_cast<double>(xp[i]);
      }
    }
    out[c] = acc;
  }
}

template <typename T>
void batch_norm_apply(const BatchNormShape& s, const T* x, const T* weight, const T* bias, const double* mean,
                      const double* invstd, T* out, T* save_mean, T* save_invstd) {
#pragma omp parallel for schedule(static) if (big(s))
  for (int c = 0; c < s.C; ++c) {
    save_mean[c] = static_cast<T>(mean[c]);
    save_invstd[c] = static_cast<T>(invstd[c]);
    const double scale = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd[c];
    const double shift = bias ? static_cast<double>(bias[c]) : 0.0;
    for (int n = 0; n < s.N; ++n) {
      const int64_t base = plane(s, n, c);
      for (int64_t i = 0; i < s.HW; ++i)
        out[base + i] = static_cast<T>((static_cast<double>(x[base + i]) - mean[c]) * scale + shift);
    }
  }
}

template <typename T>
void batch_norm_backward_sums(const BatchNormShape& s, const T* x, const T* save_mean, const T* save_invstd,
                              const T* dout, double* out) {
#pragma omp parallel for schedule(static) if (big(s))
  for (int c = 0; c < s.C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_g = 0.0, sum_gxhat = 0.0;
    for (int n = 0; n < s.N; ++n) {
      const int64_t base = plane(s, n, c);
      for (int64_t i = 0; i < s.HW; ++i) {
        const double g = dout[base + i];
        sum_g += g;
        sum_gxhat += g * (static_cast<double>(x[base + i]) - mean) * invstd;
      }
    }
    out[c] = sum_g;
    out[s.C + c] = sum_gxhat;
  }
}

template <typename T>
void batch_norm_backward_apply(const BatchNormShape& s, const T* x, const T* weight, const T* save_mean,
                               const T* save_invstd, const T* dout, const double* sums, double count, T* dx) {
#pragma omp parallel for schedule(static) if (big(s))
  for (int c = 0; c < s.C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    const double k = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
    const double mg = sums[c] / count, mgx = sums[s.C + c] / count;
    for (int n = 0; n < s.N; ++n) {
      const int64_t base = plane(s, n, c);
      for (int64_t i = 0; i < s.HW; ++i) {
        const double xhat = (static_cast<double>(x[base + i]) - mean) * invstd;
        dx[base + i] = static_cast<T>(k * (static_cast<double>(dout[base + i]) - mg - xhat * mgx));
      }
    }
  }
}

#define GPUNET_INSTANTIATE(T)                                                                                     \
  template void batch_norm_channel_sums<T>(const BatchNormShape&, const T*, const double*, double*);            \
  template void batch_norm_apply<T>(const BatchNormShape&, const T*, const T*, const T*, const double*,        \
                                    const double*, T*, T*, T*);                                                 \
  template void batch_norm_backward_sums<T>(const BatchNormShape&, const T*, const T*, const T*, const T*,      \
                                            double*);                                                           \
  template void batch_norm_backward_apply<T>(const BatchNormShape&, const T*, const T*, const T*, const T*,     \
                                             const T*, const double*, double, T*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
