// How fast this core multiplies in bf16 against float32: a few milliseconds of VDPBF16PS
// (AVX512-BF16: 32 bf16 products summed pairwise into 16 float32 lanes per instruction) against
// as long of VFMADD231PS (16 float32 products), each on 12 independent accumulators so that
// throughput, not latency, bounds them. See bf16.h (bf16_dot_rate_ratio) for what it decides.
//
// Why it is measured and not assumed: AVX512-BF16 does 2x float32's multiply-adds per
// instruction, but not every core issues it as often as an FMA. On the 2-core Xeon VM this
// project's CI runs on (family 6 model 207, AVX512-BF16 without AMX exposed) the FMA peaks at
// 169 GFLOP/s per core and VDPBF16PS at 83: bf16 at half float32's rate, and oneDNN 2.6's
// AVX512-BF16 convolutions ran airbench94 at 201 images/s against float32's 286
// (docs/PERFORMANCE.md, "bf16 without AMX").
#include <algorithm>
#include <chrono>

#include "kernels/cpu/bf16.h"
#include "kernels/cpu/isa.h"

namespace gpunet::kernels::cpu::detail {

#if GPUNET_X86_KERNELS
namespace {

constexpr int kAcc = 12;

// Adds lane 0 of each accumulator into *sink (GCC 12's _mm512_reduce_add_ps warns).
__attribute__((target("avx512f"))) void keep(const __m512* a, float* sink) {
  alignas(64) float lanes[16];
  for (int i = 0; i < kAcc; ++i) {
    _mm512_store_ps(lanes, a[i]);
    *sink += lanes[0];
  }
}

// Seconds for n rounds of kAcc FMAs; `sink` keeps the sums alive.
__attribute__((target("avx512f,fma"))) double time_fma(long n, float* sink) {
  __m512 a[kAcc];
  const __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(0x1p-30f);
  for (int i = 0; i < kAcc; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const auto t0 = std::chrono::steady_clock::now();
  for (long k = 0; k < n; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) a[i] = _mm512_fmadd_ps(x, y, a[i]);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  keep(a, sink);
  return s;
}

__attribute__((target("avx512f,avx512bf16"))) double time_dpbf16(long n, float* sink) {
  __m512 a[kAcc];
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3080);  // 1, 2^-30
  for (int i = 0; i < kAcc; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const auto t0 = std::chrono::steady_clock::now();
  for (long k = 0; k < n; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  keep(a, sink);
  return s;
}

}  // namespace
#endif

double bf16_dot_rate_ratio() {
#if GPUNET_X86_KERNELS
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) return 0.0;
  if (isa() != Isa::Avx512) return 0.0;  // GPUNET_CPU_ISA caps the vector code (valgrind has no AVX512-BF16)
  // About 1 ms per run at a few GHz; the best of 5 of each (interleaved) drops a preempted run.
  constexpr long kRounds = 200000;
  float sink = 0.f;
  double fma = 1e30, bf16 = 1e30;
  for (int r = 0; r < 5; ++r) {
    fma = std::min(fma, time_fma(kRounds, &sink));
    bf16 = std::min(bf16, time_dpbf16(kRounds, &sink));
  }
  volatile float keep = sink;
  (void)keep;
  if (!(fma > 0) || !(bf16 > 0)) return 0.0;
  // Multiply-adds per second: 32 per VDPBF16PS, 16 per FMA.
  return (32.0 / bf16) / (16.0 / fma);
#else
  return 0.0;
#endif
}

}  // namespace gpunet::kernels::cpu::detail
