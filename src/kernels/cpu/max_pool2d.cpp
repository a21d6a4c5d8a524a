// max_pool2d on the CPU: plain loops, one (n, c) plane at a time (any kernel, stride, padding;
// ceil-mode windows clipped to the plane). For float with K == 2, stride == 2, no padding and
// whole windows (LeNet's pools) AVX-512 paths (isa.h) do 16 outputs per vector and AVX2 paths
// 8: the forward applies the same rule in the same order, the backward writes what fill + add
// would, so the results are bit-identical to the portable loops
// (tests/ops/test_max_pool_vector.cpp runs every vector ISA the CPU has against them).
// Other float pools (any K, stride, padding) take the vector forward of pooling_vector.cpp,
// bit-identical too (tests/ops/test_cnn_vector.cpp); the backward is the scalar scatter.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/cnn_vector.h"
#include "kernels/cpu/isa.h"
#include "kernels/max_pool2d.h"

namespace gpunet::kernels::cpu {
#if GPUNET_X86_KERNELS
namespace {

// The first n (0..16) lanes.
inline __mmask16 first_lanes(int n) { return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u); }

// One 2x2 window per lane: v00 = r0[c], v01 = r0[c+1], v10 = r1[c], v11 = r1[c+1], i00 = the
// index of r0[c] in the plane, W = the row length. A strictly larger value or a NaN takes
// over, in the portable loop's order, so the result is the same bit for bit.
struct Pick {
  __m512 v;
  __m512i i;
};
GPUNET_TARGET_AVX512 inline Pick pick2x2(__m512 v00, __m512 v01, __m512 v10, __m512 v11, __m512i i00, int W) {
  const __m512i one = _mm512_set1_epi32(1), i10 = _mm512_add_epi32(i00, _mm512_set1_epi32(W));
  Pick b{v00, i00};
  __mmask16 t = _mm512_cmp_ps_mask(v01, b.v, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v01, v01, _CMP_UNORD_Q);
  b.v = _mm512_mask_blend_ps(t, b.v, v01);
  b.i = _mm512_mask_blend_epi32(t, b.i, _mm512_add_epi32(i00, one));
  t = _mm512_cmp_ps_mask(v10, b.v, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v10, v10, _CMP_UNORD_Q);
  b.v = _mm512_mask_blend_ps(t, b.v, v10);
  b.i = _mm512_mask_blend_epi32(t, b.i, i10);
  t = _mm512_cmp_ps_mask(v11, b.v, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v11, v11, _CMP_UNORD_Q);
  b.v = _mm512_mask_blend_ps(t, b.v, v11);
  b.i = _mm512_mask_blend_epi32(t, b.i, _mm512_add_epi32(i10, one));
  return b;
}

// One (H, W) plane, K = 2, stride = 2, 16 outputs per vector: masked loads of the two input
// rows (never past a row), even/odd columns split with permutex2var, pick2x2, masked stores.
// Rows of up to 8 outputs (LeNet's 5x5) put two output rows in one vector; wider rows go
// 16 outputs at a time.
GPUNET_TARGET_AVX512 void pool2x2_forward_plane_avx512(const float* xp, float* op, int32_t* ap, int W, int OH, int OW) {
  if (OW <= 8) {
    // Lanes [0, OW): output row oh, from a = input row 2oh (and b = 2oh + 1); lanes
    // [OW, 2 OW): output row oh + 1, from the second source of permutex2var, input row 2oh + 2.
    alignas(64) int32_t ev[16], off[16];
    for (int j = 0; j < 16; ++j) {
      const bool second = j >= OW && j < 2 * OW;
      const int ow = second ? j - OW : (j < OW ? j : 0);
      ev[j] = (second ? 16 : 0) + 2 * ow;
      off[j] = (second ? 2 * W : 0) + 2 * ow;
    }
    const __m512i even = _mm512_load_si512(ev), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i offset = _mm512_load_si512(off);
    const __mmask16 mrow = first_lanes(2 * OW);
    for (int oh = 0; oh < OH; oh += 2) {
      const bool two = oh + 1 < OH;
      const float* r0 = xp + 2 * oh * W;
      const float* r1 = r0 + W;
      const __m512 a0 = _mm512_maskz_loadu_ps(mrow, r0), b0 = _mm512_maskz_loadu_ps(mrow, r1);
      const __m512 a1 = two ? _mm512_maskz_loadu_ps(mrow, r0 + 2 * W) : _mm512_setzero_ps();
      const __m512 b1 = two ? _mm512_maskz_loadu_ps(mrow, r1 + 2 * W) : _mm512_setzero_ps();
      const Pick b = pick2x2(_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                             _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1),
                             _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W), offset), W);
      const __mmask16 mo = first_lanes((two ? 2 : 1) * OW);
      _mm512_mask_storeu_ps(op + oh * OW, mo, b.v);
      _mm512_mask_storeu_epi32(ap + oh * OW, mo, b.i);
    }
    return;
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int oh = 0; oh < OH; ++oh) {
    const float* r0 = xp + 2 * oh * W;
    const float* r1 = r0 + W;
    for (int ow0 = 0; ow0 < OW; ow0 += 16) {
      const int n = std::min(16, OW - ow0), c0 = 2 * ow0;
      const __mmask16 mlo = first_lanes(2 * n);
      const __m512 a0 = _mm512_maskz_loadu_ps(mlo, r0 + c0), b0 = _mm512_maskz_loadu_ps(mlo, r1 + c0);
      __m512 a1 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
      if (n > 8) {
        const __mmask16 mhi = first_lanes(2 * n - 16);
        a1 = _mm512_maskz_loadu_ps(mhi, r0 + c0 + 16);
        b1 = _mm512_maskz_loadu_ps(mhi, r1 + c0 + 16);
      }
      const Pick b = pick2x2(_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                             _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1),
                             _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W + c0), even), W);
      const __mmask16 mo = first_lanes(n);
      _mm512_mask_storeu_ps(op + oh * OW + ow0, mo, b.v);
      _mm512_mask_storeu_epi32(ap + oh * OW + ow0, mo, b.i);
    }
  }
}

// One plane of the backward, K = 2, stride = 2: the windows do not overlap, so each dx element
// is 0 + dout of its window where the argmax points at it, else 0; written once, no fill and
// no scatter. (0.0f + g, not g: the portable fill-then-add turns -0 into +0.) Rows and columns
// that no window covers (odd H or W) are zero. Used for rows of more than 8 outputs: on
// narrower rows most lanes are empty and the portable fill + scatter is faster (10x10 planes:
// 14 us against 20 us for LeNet's batch of 64).
GPUNET_TARGET_AVX512 void pool2x2_backward_plane_avx512(const float* g, const int32_t* ap, float* dp, int H, int W,
                                                        int OH, int OW) {
  const __m512i dup_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i dup_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sixteen = _mm512_set1_epi32(16), row = _mm512_set1_epi32(W);
  const __m512 zero = _mm512_setzero_ps();
  for (int oh = 0; oh < OH; ++oh) {
    float* r0 = dp + 2 * oh * W;
    float* r1 = r0 + W;
    for (int ow0 = 0; ow0 < OW; ow0 += 16) {
      const int n = std::min(16, OW - ow0), c0 = 2 * ow0;
      const __mmask16 mo = first_lanes(n);
      const __m512 gv = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(mo, g + oh * OW + ow0));
      const __m512i av = _mm512_maskz_loadu_epi32(mo, ap + oh * OW + ow0);
      const __m512 g_lo = _mm512_permutex2var_ps(gv, dup_lo, gv), g_hi = _mm512_permutex2var_ps(gv, dup_hi, gv);
      const __m512i a_lo = _mm512_permutex2var_epi32(av, dup_lo, av), a_hi = _mm512_permutex2var_epi32(av, dup_hi, av);
      const __m512i i0_lo = _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W + c0), iota);  // index of r0[c0 + lane]
      const __m512i i0_hi = _mm512_add_epi32(i0_lo, sixteen);
      const __mmask16 mlo = first_lanes(2 * n);
      _mm512_mask_storeu_ps(r0 + c0, mlo, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a_lo, i0_lo), g_lo));
      _mm512_mask_storeu_ps(r1 + c0, mlo,
                            _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a_lo, _mm512_add_epi32(i0_lo, row)), g_lo));
      if (n > 8) {
        const __mmask16 mhi = first_lanes(2 * n - 16);
        _mm512_mask_storeu_ps(r0 + c0 + 16, mhi, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a_hi, i0_hi), g_hi));
        _mm512_mask_storeu_ps(r1 + c0 + 16, mhi,
                              _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a_hi, _mm512_add_epi32(i0_hi, row)), g_hi));
      }
    }
    for (int c = 2 * OW; c < W; ++c) r0[c] = r1[c] = 0.0f;
  }
  std::fill(dp + 2 * OH * W, dp + H * W, 0.0f);
}

// AVX2: 8 outputs per vector, as the AVX-512 kernels above but with vector masks.

// All ones in the first n lanes (n <= 0: none, n >= 8: all).
GPUNET_TARGET_AVX2 inline __m256i first_lanes8(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The best so far of 8 windows: values, and indices as float bit patterns (blendv_ps is a
// bitwise select).
struct Pick8 {
  __m256 v, i;
};
// v (at index i) takes over where it is strictly larger or a NaN: the portable rule.
GPUNET_TARGET_AVX2 inline void take8(Pick8& b, __m256 v, __m256i i) {
  const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, b.v, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  b.v = _mm256_blendv_ps(b.v, v, t);
  b.i = _mm256_blendv_ps(b.i, _mm256_castsi256_ps(i), t);
}
// pick2x2 with 8 lanes, in the portable order.
GPUNET_TARGET_AVX2 inline Pick8 pick2x2_avx2(__m256 v00, __m256 v01, __m256 v10, __m256 v11, __m256i i00, int W) {
  const __m256i one = _mm256_set1_epi32(1), i10 = _mm256_add_epi32(i00, _mm256_set1_epi32(W));
  Pick8 b{v00, _mm256_castsi256_ps(i00)};
  take8(b, v01, _mm256_add_epi32(i00, one));
  take8(b, v10, i10);
  take8(b, v11, _mm256_add_epi32(i10, one));
  return b;
}

// One (H, W) plane, K = 2, stride = 2, 8 outputs per vector: two 8-float loads per input row
// (masked loads on a row's last chunk, never past 2 OW columns), even/odd columns split with
// shuffle_ps, which leaves the outputs in the lane order 0 1 4 5 2 3 6 7; pick2x2 works in that
// order (the indices are made for it) and one permute4x64 per result restores it. Masked
// stores on the last chunk.
GPUNET_TARGET_AVX2 void pool2x2_forward_plane_avx2(const float* xp, float* op, int32_t* ap, int W, int OH, int OW) {
  const __m256i order2 = _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14);  // 2 * the output of each lane
  for (int oh = 0; oh < OH; ++oh) {
    const float* r0 = xp + 2 * oh * W;
    const float* r1 = r0 + W;
    for (int ow0 = 0; ow0 < OW; ow0 += 8) {
      const int n = std::min(8, OW - ow0), c0 = 2 * ow0;
      __m256 a0, a1, b0, b1;
      if (n == 8) {
        a0 = _mm256_loadu_ps(r0 + c0);
        a1 = _mm256_loadu_ps(r0 + c0 + 8);
        b0 = _mm256_loadu_ps(r1 + c0);
        b1 = _mm256_loadu_ps(r1 + c0 + 8);
      } else {
        const __m256i mlo = first_lanes8(2 * n), mhi = first_lanes8(2 * n - 8);
        a0 = _mm256_maskload_ps(r0 + c0, mlo);
        a1 = _mm256_maskload_ps(r0 + c0 + 8, mhi);
        b0 = _mm256_maskload_ps(r1 + c0, mlo);
        b1 = _mm256_maskload_ps(r1 + c0 + 8, mhi);
      }
      const Pick8 p = pick2x2_avx2(_mm256_shuffle_ps(a0, a1, 0x88), _mm256_shuffle_ps(a0, a1, 0xDD),
                                   _mm256_shuffle_ps(b0, b1, 0x88), _mm256_shuffle_ps(b0, b1, 0xDD),
                                   _mm256_add_epi32(_mm256_set1_epi32(2 * oh * W + c0), order2), W);
      const __m256 v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(p.v), 0xD8));
      const __m256i i = _mm256_permute4x64_epi64(_mm256_castps_si256(p.i), 0xD8);
      float* o = op + oh * OW + ow0;
      int32_t* a = ap + oh * OW + ow0;
      if (n == 8) {
        _mm256_storeu_ps(o, v);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a), i);
      } else {
        const __m256i mo = first_lanes8(n);
        _mm256_maskstore_ps(o, mo, v);
        _mm256_maskstore_epi32(reinterpret_cast<int*>(a), mo, i);
      }
    }
  }
}

// gv where the argmax a is the index i, else +0.
GPUNET_TARGET_AVX2 inline __m256 select8(__m256i a, __m256i i, __m256 gv) {
  return _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, i)), gv);
}

// The backward as pool2x2_backward_plane_avx512 (each dx element written once: 0 + dout where
// the argmax points at it, else +0), 8 outputs (16 columns of two rows) per step. Used for
// rows of more than 8 outputs, like the AVX-512 one.
GPUNET_TARGET_AVX2 void pool2x2_backward_plane_avx2(const float* g, const int32_t* ap, float* dp, int H, int W, int OH,
                                                    int OW) {
  const __m256i dup_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), dup_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i eight = _mm256_set1_epi32(8), row = _mm256_set1_epi32(W);
  const __m256 zero = _mm256_setzero_ps();
  for (int oh = 0; oh < OH; ++oh) {
    float* r0 = dp + 2 * oh * W;
    float* r1 = r0 + W;
    for (int ow0 = 0; ow0 < OW; ow0 += 8) {
      const int n = std::min(8, OW - ow0), c0 = 2 * ow0;
      __m256 gv;
      __m256i av;
      if (n == 8) {
        gv = _mm256_loadu_ps(g + oh * OW + ow0);
        av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ap + oh * OW + ow0));
      } else {
        const __m256i mo = first_lanes8(n);
        gv = _mm256_maskload_ps(g + oh * OW + ow0, mo);
        av = _mm256_maskload_epi32(reinterpret_cast<const int*>(ap + oh * OW + ow0), mo);
      }
      gv = _mm256_add_ps(zero, gv);
      const __m256 g_lo = _mm256_permutevar8x32_ps(gv, dup_lo), g_hi = _mm256_permutevar8x32_ps(gv, dup_hi);
      const __m256i a_lo = _mm256_permutevar8x32_epi32(av, dup_lo), a_hi = _mm256_permutevar8x32_epi32(av, dup_hi);
      const __m256i i0_lo = _mm256_add_epi32(_mm256_set1_epi32(2 * oh * W + c0), iota);  // index of r0[c0 + lane]
      const __m256i i0_hi = _mm256_add_epi32(i0_lo, eight);
      const __m256 d00 = select8(a_lo, i0_lo, g_lo), d10 = select8(a_lo, _mm256_add_epi32(i0_lo, row), g_lo);
      const __m256 d01 = select8(a_hi, i0_hi, g_hi), d11 = select8(a_hi, _mm256_add_epi32(i0_hi, row), g_hi);
      if (n == 8) {
        _mm256_storeu_ps(r0 + c0, d00);
        _mm256_storeu_ps(r1 + c0, d10);
        _mm256_storeu_ps(r0 + c0 + 8, d01);
        _mm256_storeu_ps(r1 + c0 + 8, d11);
      } else {
        const __m256i mlo = first_lanes8(2 * n);
        _mm256_maskstore_ps(r0 + c0, mlo, d00);
        _mm256_maskstore_ps(r1 + c0, mlo, d10);
        if (n > 4) {
          const __m256i mhi = first_lanes8(2 * n - 8);
          _mm256_maskstore_ps(r0 + c0 + 8, mhi, d01);
          _mm256_maskstore_ps(r1 + c0 + 8, mhi, d11);
        }
      }
    }
    for (int c = 2 * OW; c < W; ++c) r0[c] = r1[c] = 0.0f;
  }
  std::fill(dp + 2 * OH * W, dp + H * W, 0.0f);
}

}  // namespace
#endif

// K = 2, stride 2, no padding, every window whole (floor mode): the vector paths' case.
inline bool plain_2x2(const Pool2dShape& s) {
  return s.K == 2 && s.stride == 2 && s.pad == 0 && s.OH == s.H / 2 && s.OW == s.W / 2;
}

template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* out, int32_t* argmax) {
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
  // The vector level for float 2x2 stride-2 pools (Generic: the portable loops).
  const Isa level = std::is_same_v<T, float> && plain_2x2(s) ? isa() : Isa::Generic;
  if constexpr (std::is_same_v<T, float>)
    if (!plain_2x2(s) && fast::max_pool2d_forward(isa(), s, x, out, argmax)) return;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * s.H * s.W;
    T* op = out + pl * s.OH * s.OW;
    int32_t* ap = argmax + pl * s.OH * s.OW;
#if GPUNET_X86_KERNELS
    if constexpr (std::is_same_v<T, float>) {
      if (level == Isa::Avx512) {
        pool2x2_forward_plane_avx512(xp, op, ap, s.W, s.OH, s.OW);
        continue;
      }
      if (level == Isa::Avx2) {
        pool2x2_forward_plane_avx2(xp, op, ap, s.W, s.OH, s.OW);
        continue;
      }
    }
#endif
    if (plain_2x2(s)) {  // the seed's MaxPool2d(2, 2): the same rule, unrolled
      for (int oh = 0; oh < s.OH; ++oh) {
        const T* r0 = xp + 2 * oh * s.W;
        const T* r1 = r0 + s.W;
        const int base = 2 * oh * s.W;
        for (int ow = 0; ow < s.OW; ++ow) {
          const int c = 2 * ow;
          T bv = r0[c];
          int bi = base + c;
          T v = r0[c + 1];
          bool t = (v > bv) | (v != v);
          bv = t ? v : bv;
          bi = t ? base + c + 1 : bi;
          v = r1[c];
          t = (v > bv) | (v != v);
          bv = t ? v : bv;
          bi = t ? base + s.W + c : bi;
          v = r1[c + 1];
          t = (v > bv) | (v != v);
          bv = t ? v : bv;
          bi = t ? base + s.W + c + 1 : bi;
          op[oh * s.OW + ow] = bv;
          ap[oh * s.OW + ow] = bi;
        }
      }
      continue;
    }
    // The general pool: windows start at oh * stride - pad and are clipped to the plane
    // (padding never wins, as PyTorch's -inf padding); the first in-plane element starts.
    for (int oh = 0; oh < s.OH; ++oh)
      for (int ow = 0; ow < s.OW; ++ow) {
        const int hs = oh * s.stride - s.pad, ws = ow * s.stride - s.pad;
        const int h0 = std::max(hs, 0), w0 = std::max(ws, 0);
        const int h1 = std::min(hs + s.K, s.H), w1 = std::min(ws + s.K, s.W);
        int best = h0 * s.W + w0;
        T best_v = xp[best];
        for (int h = h0; h < h1; ++h)
          for (int w = w0; w < w1; ++w) {
            const int idx = h * s.W + w;
            const T v = xp[idx];
            // PyTorch's rule: a strictly larger value or a NaN takes over (branch-free: the
            // comparison is data-dependent and mispredicts half the time).
            const bool take = (v > best_v) | (v != v);
            best_v = take ? v : best_v;
            best = take ? idx : best;
          }
        op[oh * s.OW + ow] = best_v;
        ap[oh * s.OW + ow] = best;
      }
  }
}

template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dout, const int32_t* argmax, T* dx) {
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
  const Isa level = std::is_same_v<T, float> && plain_2x2(s) && s.OW > 8 ? isa() : Isa::Generic;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* dp = dx + pl * s.H * s.W;
    const T* g = dout + pl * s.OH * s.OW;
    const int32_t* ap = argmax + pl * s.OH * s.OW;
#if GPUNET_X86_KERNELS
    if constexpr (std::is_same_v<T, float>) {
      // argmax from the forward: inside its own (non-overlapping) window
      if (level == Isa::Avx512) {
        pool2x2_backward_plane_avx512(g, ap, dp, s.H, s.W, s.OH, s.OW);
        continue;
      }
      if (level == Isa::Avx2) {
        pool2x2_backward_plane_avx2(g, ap, dp, s.H, s.W, s.OH, s.OW);
        continue;
      }
    }
#endif
    std::fill(dp, dp + s.H * s.W, T(0));
    // Overlapping windows (stride < K) may pick the same element: add, do not overwrite.
    for (int i = 0; i < s.OH * s.OW; ++i) dp[ap[i]] += g[i];
  }
}

template void max_pool2d_forward<float>(const Pool2dShape&, const float*, float*, int32_t*);
template void max_pool2d_forward<double>(const Pool2dShape&, const double*, double*, int32_t*);
template void max_pool2d_backward<float>(const Pool2dShape&, const float*, const int32_t*, float*);
template void max_pool2d_backward<double>(const Pool2dShape&, const double*, const int32_t*, double*);

}  // namespace gpunet::kernels::cpu
