// The AVX-512 / AVX2 batch_norm2d kernels (cnn_vector.h): bodies in batch_norm_vector.inc,
// once per instruction set; OpenMP over channels for the statistics (as the reference,
// batch_norm.cpp, the oracle) and over the N*C planes for the elementwise pass.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cnn_vector.h"
#include "kernels/cpu/vec_ops.h"

namespace gpunet::kernels::cpu::fast {
#if GPUNET_X86_KERNELS
namespace {
namespace z16 {
using V = vec::Z16;
#define GPUNET_VT GPUNET_TARGET_AVX512
#include "kernels/cpu/batch_norm_vector.inc"
#undef GPUNET_VT
}  // namespace z16
namespace y8 {
using V = vec::Y8;
#define GPUNET_VT GPUNET_TARGET_AVX2
#include "kernels/cpu/batch_norm_vector.inc"
#undef GPUNET_VT
}  // namespace y8

// Up to kMaxC channels, the elementwise pass runs over the N*C planes in memory order after
// the per-channel statistics (coefficients on the stack); more channels: per channel.
constexpr int kMaxC = 1024;
}  // namespace

bool batch_norm_forward(Isa isa, const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, bool use_batch_stats, double momentum, double eps,
                        float* out, float* save_mean, float* save_invstd) {
  if (isa == Isa::Generic) return false;
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  const bool big = static_cast<int64_t>(s.C) * M > (1 << 16);
  float coef[4 * kMaxC];
  float* cf = s.C <= kMaxC ? coef : nullptr;
#pragma omp parallel for schedule(static) if (big)
  for (int c = 0; c < s.C; ++c) {
    float* k = cf ? cf + 4 * c : nullptr;
    if (isa == Isa::Avx512)
      z16::forward_channel(s, c, x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps, out,
                           save_mean, save_invstd, k);
    else
      y8::forward_channel(s, c, x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps, out,
                          save_mean, save_invstd, k);
  }
  if (!cf) return true;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (big)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* k = cf + 4 * (pl % s.C);
    if (isa == Isa::Avx512)
      z16::affine_plane(x + pl * s.HW, out + pl * s.HW, s.HW, k[0], k[1], k[2], k[3]);
    else
      y8::affine_plane(x + pl * s.HW, out + pl * s.HW, s.HW, k[0], k[1], k[2], k[3]);
  }
  return true;
}

bool batch_norm_backward(Isa isa, const BatchNormShape& s, const float* x, const float* weight,
                         const float* save_mean, const float* save_invstd, bool use_batch_stats, const float* dout,
                         float* dx, float* dweight, float* dbias) {
  if (isa == Isa::Generic) return false;
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  const bool big = static_cast<int64_t>(s.C) * M > (1 << 16);
  float coef[4 * kMaxC];
  float* cf = s.C <= kMaxC && dx ? coef : nullptr;
#pragma omp parallel for schedule(static) if (big)
  for (int c = 0; c < s.C; ++c) {
    float* k = cf ? cf + 4 * c : nullptr;
    if (isa == Isa::Avx512)
      z16::backward_channel(s, c, x, weight, save_mean, save_invstd, use_batch_stats, dout, dx, dweight, dbias, k);
    else
      y8::backward_channel(s, c, x, weight, save_mean, save_invstd, use_batch_stats, dout, dx, dweight, dbias, k);
  }
  if (!cf) return true;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (big)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* k = cf + 4 * (pl % s.C);
    if (isa == Isa::Avx512)
      z16::grad_plane(x + pl * s.HW, dout + pl * s.HW, dx + pl * s.HW, s.HW, k[0], k[1], k[2], k[3]);
    else
      y8::grad_plane(x + pl * s.HW, dout + pl * s.HW, dx + pl * s.HW, s.HW, k[0], k[1], k[2], k[3]);
  }
  return true;
}
#else
bool batch_norm_forward(Isa, const BatchNormShape&, const float*, const float*, const float*, float*, float*, bool,
                        double, double, float*, float*, float*) {
  return false;
}
bool batch_norm_backward(Isa, const BatchNormShape&, const float*, const float*, const float*, const float*, bool,
                         const float*, float*, float*, float*) {
  return false;
}
#endif
}  // namespace gpunet::kernels::cpu::fast
