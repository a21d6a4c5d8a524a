// NCHW <-> nChw16c, float32, C % 16 == 0: see reorder16.h.
#include "kernels/cpu/reorder16.h"

#include <cstring>

#include "kernels/cpu/isa.h"

namespace gpunet::kernels::cpu::detail {

#if GPUNET_X86_KERNELS
// GCC 12's AVX-512 intrinsics (unpack, shuffle) start from _mm512_undefined_ps(), which it
// reports as maybe-uninitialized at every inlined use: a false positive, silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
namespace {

// r[0..15] (rows) -> r[0..15] (columns): r[i] lane j becomes r[j] lane i.
GPUNET_TARGET_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // per 128-bit lane: a0 b0 a1 b1
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
  }
  for (int i = 0; i < 4; ++i) {  // rows 4i..4i+3: u[4i+j] lane k = those rows at column 4k+j
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {  // a 4x4 transpose of 128-bit lanes across u[j], u[4+j], u[8+j], u[12+j]
    const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44);
    const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xEE);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xEE);
    r[0 + j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[4 + j] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[8 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

// One (image, channel block): src 16 planes of P floats (plane stride P) -> dst (P, 16).
GPUNET_TARGET_AVX512 void to_blocked(const float* src, float* dst, int64_t P) {
  __m512 r[16];
  int64_t p = 0;
  for (; p + 16 <= P; p += 16) {
    for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_ps(src + c * P + p);
    transpose16(r);
    for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + (p + j) * 16, r[j]);
  }
  if (p < P) {
    const int rem = static_cast<int>(P - p);
    const __mmask16 m = static_cast<__mmask16>((1u << rem) - 1u);
    for (int c = 0; c < 16; ++c) r[c] = _mm512_maskz_loadu_ps(m, src + c * P + p);
    transpose16(r);
    for (int j = 0; j < rem; ++j) _mm512_storeu_ps(dst + (p + j) * 16, r[j]);
  }
}

// One (image, channel block): src (P, 16) -> dst 16 planes of P floats.
GPUNET_TARGET_AVX512 void from_blocked(const float* src, float* dst, int64_t P) {
  __m512 r[16];
  int64_t p = 0;
  for (; p + 16 <= P; p += 16) {
    for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(src + (p + j) * 16);
    transpose16(r);
    for (int c = 0; c < 16; ++c) _mm512_storeu_ps(dst + c * P + p, r[c]);
  }
  if (p < P) {
    const int rem = static_cast<int>(P - p);
    const __mmask16 m = static_cast<__mmask16>((1u << rem) - 1u);
    for (int j = 0; j < 16; ++j) r[j] = j < rem ? _mm512_loadu_ps(src + (p + j) * 16) : _mm512_setzero_ps();
    transpose16(r);
    for (int c = 0; c < 16; ++c) _mm512_mask_storeu_ps(dst + c * P + p, m, r[c]);
  }
}

}  // namespace
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

bool reorder16_available() {
#if GPUNET_X86_KERNELS
  return isa() == Isa::Avx512;
#else
  return false;
#endif
}

// Each (image, channel block) is 16 planes in and one contiguous (P, 16) block out, at the same
// offset n * C * P + cb * 16 * P in both layouts.
void nchw_to_nchw16c(const float* src, float* dst, int64_t N, int64_t C, int64_t P) {
#if GPUNET_X86_KERNELS
  const int64_t blocks = N * (C / 16), b = 16 * P;
#pragma omp parallel for schedule(static) if (blocks * b >= (int64_t(1) << 15))
  for (int64_t i = 0; i < blocks; ++i) to_blocked(src + i * b, dst + i * b, P);
#else
  (void)src, (void)dst, (void)N, (void)C, (void)P;
#endif
}

void nchw16c_to_nchw(const float* src, float* dst, int64_t N, int64_t C, int64_t P) {
#if GPUNET_X86_KERNELS
  const int64_t blocks = N * (C / 16), b = 16 * P;
#pragma omp parallel for schedule(static) if (blocks * b >= (int64_t(1) << 15))
  for (int64_t i = 0; i < blocks; ++i) from_blocked(src + i * b, dst + i * b, P);
#else
  (void)src, (void)dst, (void)N, (void)C, (void)P;
#endif
}

}  // namespace gpunet::kernels::cpu::detail
