#pragma once
// Internal: the vector types of the CNN fast paths (activation_vector.cpp, batch_norm_vector.cpp,
// pooling_vector.cpp), one struct per instruction set with the same static members:
//   Z16: AVX-512, 16 floats per vector, masks __mmask16.   Y8: AVX2 + FMA, 8 floats, masks __m256.
// Kernels are written once in an .inc included inside a namespace that defines
//   using V = Z16 (or Y8);  #define GPUNET_VT GPUNET_TARGET_AVX512 (or _AVX2)
// and are called only when isa() allows it (isa.h). exp and erf are in vec_math.inc (erf:
// 2.38 ulp at worst, measured by bench/cnn_ops_cpu; tests/ops/test_cnn_vector.cpp checks 3).
#include <cstdint>

#include "kernels/cpu/isa.h"

#if GPUNET_X86_KERNELS
namespace gpunet::kernels::cpu::vec {

struct Z16 {
  using T = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  // (maskz forms with all lanes: g++ 12 warns about the plain forms' undefined first operand)
#define GPUNET_VT GPUNET_TARGET_AVX512
  GPUNET_VT static inline T zero() { return _mm512_setzero_ps(); }
  GPUNET_VT static inline T set1(float x) { return _mm512_set1_ps(x); }
  GPUNET_VT static inline T load(const float* p) { return _mm512_loadu_ps(p); }
  GPUNET_VT static inline void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  GPUNET_VT static inline M first(int n) { return static_cast<M>(n >= 16 ? 0xFFFFu : n <= 0 ? 0u : (1u << n) - 1u); }
  GPUNET_VT static inline T loadn(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  GPUNET_VT static inline void storen(float* p, T v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  GPUNET_VT static inline T keepn(T v, int n) { return _mm512_maskz_mov_ps(first(n), v); }  // 0 from lane n
  // x[base + stride * lane] for the first n lanes (0 elsewhere).
  GPUNET_VT static inline T gather(const float* base, int stride, int n) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_set1_epi32(stride),
                                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first(n), idx, base, 4);
  }
  GPUNET_VT static inline T add(T a, T b) { return _mm512_add_ps(a, b); }
  GPUNET_VT static inline T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  GPUNET_VT static inline T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  GPUNET_VT static inline T div(T a, T b) { return _mm512_div_ps(a, b); }
  GPUNET_VT static inline T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }    // a*b + c
  GPUNET_VT static inline T fnma(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
  GPUNET_VT static inline T min(T a, T b) { return _mm512_maskz_min_ps(0xFFFF, a, b); }
  GPUNET_VT static inline T max(T a, T b) { return _mm512_maskz_max_ps(0xFFFF, a, b); }
  GPUNET_VT static inline T abs(T a) { return _mm512_abs_ps(a); }
  GPUNET_VT static inline T round(T a) { return _mm512_maskz_roundscale_ps(0xFFFF, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // magnitude of m, sign of s
  GPUNET_VT static inline T copysign(T m, T s) {
    const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(sign, _mm512_castps_si512(s), _mm512_castps_si512(m), 0xCA));
  }
  GPUNET_VT static inline M lt(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  GPUNET_VT static inline M gt(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  GPUNET_VT static inline M isnan(T a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  GPUNET_VT static inline M mor(M a, M b) { return static_cast<M>(a | b); }
  GPUNET_VT static inline T select(M m, T yes, T no) { return _mm512_mask_blend_ps(m, no, yes); }
  // 2^n for integral n in [-126, 127] (as floats)
  GPUNET_VT static inline T pow2i(T n) {
    return _mm512_castsi512_ps(
        _mm512_maskz_slli_epi32(0xFFFF, _mm512_add_epi32(_mm512_maskz_cvtps_epi32(0xFFFF, n), _mm512_set1_epi32(127)), 23));
  }
  // int32 lanes (max pool indices)
  using I = __m512i;
  GPUNET_VT static inline I iramp(int base, int step) {  // base + step * lane
    return _mm512_add_epi32(_mm512_set1_epi32(base),
                            _mm512_mullo_epi32(_mm512_set1_epi32(step), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8,
                                                                                          9, 10, 11, 12, 13, 14, 15)));
  }
  GPUNET_VT static inline I iadd(I a, int b) { return _mm512_add_epi32(a, _mm512_set1_epi32(b)); }
  GPUNET_VT static inline I iselect(M m, I yes, I no) { return _mm512_mask_blend_epi32(m, no, yes); }
  GPUNET_VT static inline void istoren(int32_t* p, I v, int n) { _mm512_mask_storeu_epi32(p, first(n), v); }
  // base[stride * lane] for the first n lanes (0 elsewhere)
  GPUNET_VT static inline T strided(const float* base, int stride, int n) {
    return stride == 1 ? loadn(base, n) : gather(base, stride, n);
  }
  GPUNET_VT static inline float hsum(T v) {
    v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));
    v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0xB1));
    return _mm512_cvtss_f32(v);
  }
  // double accumulators: the lanes of a float vector widened into two double vectors
  using D = __m512d;
  GPUNET_VT static inline D dzero() { return _mm512_setzero_pd(); }
  GPUNET_VT static inline D dset1(double x) { return _mm512_set1_pd(x); }
  GPUNET_VT static inline D dlo(T v) { return _mm512_maskz_cvtps_pd(0xFF, _mm512_maskz_extractf32x8_ps(0xFF, v, 0)); }
  GPUNET_VT static inline D dhi(T v) {
    return _mm512_maskz_cvtps_pd(0xFF, _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 1)));
  }
  GPUNET_VT static inline D dadd(D a, D b) { return _mm512_add_pd(a, b); }
  GPUNET_VT static inline D dsub(D a, D b) { return _mm512_sub_pd(a, b); }
  GPUNET_VT static inline D dfma(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  GPUNET_VT static inline double dsum(D v) {
    const __m256d h = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xF, v, 0), _mm512_maskz_extractf64x4_pd(0xF, v, 1));
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
#include "kernels/cpu/vec_math.inc"
#undef GPUNET_VT
};

struct Y8 {
  using T = __m256;
  using M = __m256;  // all-ones or zero bits per lane
  static constexpr int L = 8;
#define GPUNET_VT GPUNET_TARGET_AVX2
  GPUNET_VT static inline T zero() { return _mm256_setzero_ps(); }
  GPUNET_VT static inline T set1(float x) { return _mm256_set1_ps(x); }
  GPUNET_VT static inline T load(const float* p) { return _mm256_loadu_ps(p); }
  GPUNET_VT static inline void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  GPUNET_VT static inline __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  GPUNET_VT static inline T loadn(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  GPUNET_VT static inline void storen(float* p, T v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  GPUNET_VT static inline T keepn(T v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(first(n))); }
  GPUNET_VT static inline T gather(const float* base, int stride, int n) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_set1_epi32(stride), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, idx, _mm256_castsi256_ps(first(n)), 4);
  }
  GPUNET_VT static inline T add(T a, T b) { return _mm256_add_ps(a, b); }
  GPUNET_VT static inline T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  GPUNET_VT static inline T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  GPUNET_VT static inline T div(T a, T b) { return _mm256_div_ps(a, b); }
  GPUNET_VT static inline T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  GPUNET_VT static inline T fnma(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  GPUNET_VT static inline T min(T a, T b) { return _mm256_min_ps(a, b); }
  GPUNET_VT static inline T max(T a, T b) { return _mm256_max_ps(a, b); }
  GPUNET_VT static inline T abs(T a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  GPUNET_VT static inline T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  GPUNET_VT static inline T copysign(T m, T s) {
    const T sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, m), _mm256_and_ps(sign, s));
  }
  GPUNET_VT static inline M lt(T a, T b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  GPUNET_VT static inline M gt(T a, T b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  GPUNET_VT static inline M isnan(T a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  GPUNET_VT static inline M mor(M a, M b) { return _mm256_or_ps(a, b); }
  GPUNET_VT static inline T select(M m, T yes, T no) { return _mm256_blendv_ps(no, yes, m); }
  GPUNET_VT static inline T pow2i(T n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  using I = __m256i;
  GPUNET_VT static inline I iramp(int base, int step) {
    return _mm256_add_epi32(_mm256_set1_epi32(base),
                            _mm256_mullo_epi32(_mm256_set1_epi32(step), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  GPUNET_VT static inline I iadd(I a, int b) { return _mm256_add_epi32(a, _mm256_set1_epi32(b)); }
  GPUNET_VT static inline I iselect(M m, I yes, I no) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(no), _mm256_castsi256_ps(yes), m));
  }
  GPUNET_VT static inline void istoren(int32_t* p, I v, int n) {
    _mm256_maskstore_epi32(reinterpret_cast<int*>(p), first(n), v);
  }
  GPUNET_VT static inline T strided(const float* base, int stride, int n) {
    return stride == 1 ? loadn(base, n) : gather(base, stride, n);
  }
  GPUNET_VT static inline float hsum(T v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
  }
  using D = __m256d;
  GPUNET_VT static inline D dzero() { return _mm256_setzero_pd(); }
  GPUNET_VT static inline D dset1(double x) { return _mm256_set1_pd(x); }
  GPUNET_VT static inline D dlo(T v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
  GPUNET_VT static inline D dhi(T v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
  GPUNET_VT static inline D dadd(D a, D b) { return _mm256_add_pd(a, b); }
  GPUNET_VT static inline D dsub(D a, D b) { return _mm256_sub_pd(a, b); }
  GPUNET_VT static inline D dfma(D a, D b, D c) { return _mm256_fmadd_pd(a, b, c); }
  GPUNET_VT static inline double dsum(D v) {
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
#include "kernels/cpu/vec_math.inc"
#undef GPUNET_VT
};

}  // namespace gpunet::kernels::cpu::vec
#endif
