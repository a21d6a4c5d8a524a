#pragma once
// Internal: autocast bf16 on the CPU (src/kernels/cpu/conv2d_bf16.cpp, linear_bf16.cpp).
// Two ways to multiply in bfloat16 with float32 accumulation, with the same results up to the
// order of the float32 sums:
//   Dnnl:    oneDNN's bf16 convolution primitives (conv2d_dnnl.h, DnnlType::Bf16), whose reorders
//            round x, w and dout to bf16; native AVX512-BF16 / AMX instructions. Forward,
//            backward data and backward weights (+ bias) of wide layers, where the CPU has
//            native bf16 that pays (bf16_takes_dnnl(): AMX, or AVX512-BF16 measured faster).
//   Rounded: x, w and dout rounded to bf16 values (nearest even) into float32 scratch copies,
//            then the float32 kernels (direct, oneDNN f32, im2col + OpenBLAS, OpenBLAS sgemm):
//            a bf16 x bf16 product is exact in float32, so this is bf16 arithmetic with float32
//            accumulation, at float32 speed plus a rounding pass. Narrow layers (where the
//            float32 rule picks the direct kernels), linears, and every layer on CPUs without
//            native bf16, or whose AVX512-BF16 is slower than their FMAs (gpunet::cpu_bf16_mode()
//            says which).
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/conv2d.h"

namespace gpunet::kernels::cpu::detail {

// Rounds a float to the nearest bfloat16 value (ties to even; NaN stays NaN), as c10::BFloat16.
inline float to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}
// out[i] = to_bf16(in[i]) for i < n (in == out allowed).
void round_to_bf16(const float* in, float* out, int64_t n);

enum class Bf16Path { Dnnl, Rounded };
// Tests only: Rounded makes every bf16 layer take the Rounded path (what a CPU without native
// bf16 runs); Native makes the wide layers take oneDNN's bf16 primitives wherever the CPU has
// AVX512-BF16, whatever the measured rate; Auto: the process's choice (bf16_takes_dnnl). Not
// thread-safe.
enum class Bf16Force { Auto, Rounded, Native };
void set_bf16_path_for_testing(Bf16Force f);
// Tests only: the rounded path makes its copies n images at a time (0: as many as fit its 64 MiB
// budget, at least 16). Not thread-safe.
void set_bf16_part_images_for_testing(int n);
// Whether the wide layers take oneDNN's bf16 primitives, decided once per process:
//   - GPUNET_CPU_BF16=native (where the CPU has AVX512-BF16) or =rounded in the environment;
//   - else yes where oneDNN may use AMX-BF16, no without AVX512-BF16 (or oneDNN);
//   - else (AVX512-BF16 without AMX) yes only if the core's bf16 dot products measure at least
//     kBf16NativeMinRatio times its float32 FMA rate (bf16_dot_rate_ratio). Where they run at
//     half its rate (the CI machine), oneDNN 2.6's AVX512-BF16 kernels were 1.4x slower than
//     the float32 kernels on rounded operands, which give the same bf16 products.
bool bf16_takes_dnnl();
constexpr double kBf16NativeMinRatio = 1.25;
// The multiply-add rate of VDPBF16PS over that of VFMADD231PS on this core, measured (a few ms,
// best of 5); 0 where the CPU (or the build) has no AVX512-BF16, or GPUNET_CPU_ISA caps the
// vector kernels below AVX-512. src/kernels/cpu/bf16_probe.cpp.
double bf16_dot_rate_ratio();
// The path conv2d_forward_bf16/backward_bf16 take for s: Rounded where the float32 rule picks the
// direct kernels (LeNet, airbench's whitening and first layer: 3 or 24 input channels), where
// oneDNN is absent, or where bf16_takes_dnnl() says no; else Dnnl.
Bf16Path conv2d_bf16_path(const Conv2dShape& s);
// How bf16 runs on this CPU, in words (gpunet::cpu_bf16_mode).
std::string bf16_mode();

}  // namespace gpunet::kernels::cpu::detail
