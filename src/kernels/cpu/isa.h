#pragma once
// Internal: which instruction set the CPU kernels may use, chosen once at run time.
//   Avx512: the CPU has AVX-512F/BW/DQ/VL and FMA (checked with __builtin_cpu_supports).
//   Avx2:   the CPU has AVX2 and FMA.
//   Generic: portable C++ (OpenBLAS for the gemms).
// GPUNET_CPU_ISA=generic|avx2|avx512 in the environment caps it (valgrind cannot run AVX-512;
// or to compare); a level the CPU lacks, or another value, leaves what the CPU has. Tests
// switch with set_isa_for_testing().
// A kernel with a vector path is written in functions marked GPUNET_TARGET_AVX512 (or _AVX2)
// and called only when isa() allows it; it must give the portable kernel's results to float32
// rounding (its tests compare the paths).
#include <cstdlib>
#include <cstring>

#define GPUNET_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define GPUNET_TARGET_AVX2 __attribute__((target("avx2,fma")))

// GPUNET_X86_KERNELS: whether the vector kernels are compiled at all (x86-64 with GCC/clang).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GPUNET_X86_KERNELS 1
#include <immintrin.h>
#else
#define GPUNET_X86_KERNELS 0
#endif

namespace gpunet::kernels::cpu {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };  // ordered: each includes the ones before

namespace detail {
inline Isa cpu_isa() {
#if GPUNET_X86_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Generic;
}
inline Isa min_isa(Isa a, Isa b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }
inline Isa env_isa(Isa present) {
  const char* env = std::getenv("GPUNET_CPU_ISA");
  if (!env) return present;
  if (std::strcmp(env, "generic") == 0) return Isa::Generic;
  if (std::strcmp(env, "avx2") == 0) return min_isa(Isa::Avx2, present);
  return present;
}
inline Isa& isa_slot();
}  // namespace detail

// What the CPU has (whatever GPUNET_CPU_ISA says).
inline Isa detected_isa() {
  static const Isa value = detail::cpu_isa();
  return value;
}
// What the kernels use: detected_isa(), capped by GPUNET_CPU_ISA or set_isa_for_testing.
inline Isa isa() { return detail::isa_slot(); }
inline Isa& detail::isa_slot() {
  static Isa value = env_isa(detected_isa());
  return value;
}
// Tests only: run the kernels with `want`, capped to what the CPU has. Not thread-safe.
inline void set_isa_for_testing(Isa want) { detail::isa_slot() = detail::min_isa(want, detected_isa()); }
// The level the environment asked for (tests restore it).
inline Isa default_isa() { return detail::env_isa(detected_isa()); }

}  // namespace gpunet::kernels::cpu
