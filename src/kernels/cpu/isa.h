#pragma once
// Internal: which instruction set the CPU kernels may use, chosen once at run time.
//   Avx512: the CPU has AVX-512F/BW/DQ/VL and FMA (checked with __builtin_cpu_supports).
//   Generic: portable C++ (OpenBLAS for the gemms).
// GPUNET_CPU_ISA=generic in the environment forces the portable kernels (valgrind, which
// cannot run AVX-512, or to compare); tests switch with set_isa_for_testing().
// A kernel with an AVX-512 path is written in functions marked GPUNET_TARGET_AVX512 and
// called only when isa() == Isa::Avx512; it must give the portable kernel's results to
// float32 rounding (its tests compare both paths).
#include <cstdlib>
#include <cstring>

#define GPUNET_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

// GPUNET_X86_KERNELS: whether the AVX-512 kernels are compiled at all (x86-64 with GCC/clang).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GPUNET_X86_KERNELS 1
#include <immintrin.h>
#else
#define GPUNET_X86_KERNELS 0
#endif

namespace gpunet::kernels::cpu {

enum class Isa { Generic, Avx512 };

namespace detail {
inline Isa detect_isa() {
  const char* env = std::getenv("GPUNET_CPU_ISA");
  if (env && std::strcmp(env, "generic") == 0) return Isa::Generic;
#if GPUNET_X86_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
#endif
  return Isa::Generic;
}
inline Isa& isa_slot() {
  static Isa value = detect_isa();
  return value;
}
}  // namespace detail

inline Isa isa() { return detail::isa_slot(); }
// The ISA actually present (ignoring overrides other than GPUNET_CPU_ISA).
inline Isa detected_isa() {
  static const Isa value = detail::detect_isa();
  return value;
}
// Tests only: run the kernels with `want` (clamped to what the CPU has). Not thread-safe.
inline void set_isa_for_testing(Isa want) {
  detail::isa_slot() = (want == Isa::Avx512 && detected_isa() != Isa::Avx512) ? Isa::Generic : want;
}

}  // namespace gpunet::kernels::cpu
