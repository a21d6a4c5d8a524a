// Direct convolution on AVX-512 or AVX2 for float32, stride 1 (any padding), for the small channel
// counts of networks like LeNet, where im2col + gemm spends its time building and packing
// thin matrices. Everything is one correlation over "wide rows":
//
// The input image is copied, zero-padded, into planes of Hp x Wp (plus slack). An output
// pixel (oh, ow) sits at q = oh*Wp + ow, and tap (kh, kw) reads the plane at q + kh*Wp + kw:
// a constant offset per tap. So a vector of 16 (8) consecutive q is one load of a shifted
// contiguous slice, whatever the row boundaries; the lanes that land on ow >= OW (the last
// KW-1 columns of each wide row) are computed and thrown away (the price of contiguity).
//   forward  out[o][q] = sum_{c,t} w[o][c][t] * xp[c][q + off_t]          (then + bias)
//   dx       dxp[c][p] = sum_{o,t} w[o][c][t] * dp[o][p + OFF - off_t]     (dp: dout in wide
//            rows with zeros in the thrown-away columns, after OFF = off_{T-1} zeros; a tap
//            that crosses a row boundary lands in a zero column, which is what makes this exact)
//   dw       dw[o][c][t] = sum_{n,q} dp[o][OFF + q] * xp[c][q + off_t], over real pixels q only
//            (the thrown-away lanes' inputs are masked to zero: 0 * inf must not add a NaN)
// forward and dx are the same kernel (corr) with a different tap table; both keep a tile of
// up to 8 channels x 4 vectors of accumulators in registers. dw keeps up to 4 channels x 5
// taps of vector accumulators and adds them to a per-thread [o][c][t][16] array per image;
// the 16 lanes are summed once at the end. The tiles are written once
// (conv2d_direct_tiles.inc) and compiled for AVX-512 (zmm, 32 registers) and for AVX2 + FMA
// (ymm, 16 registers: smaller tiles); isa() picks one at run time.
// Summation order differs from the gemm path (and from PyTorch's oneDNN): results agree to
// float32 rounding, which tests/ops/test_conv_direct.cpp checks against the im2col path.
#include "kernels/cpu/conv2d_direct.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/isa.h"

#define GPUNET_DIRECT_CONV GPUNET_X86_KERNELS

// g++ 12's AVX-512 headers seed some intrinsics with _mm512_undefined_ps(), which -Wextra
// reports as maybe-uninitialized at every inlined use: a false positive, silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace gpunet::kernels::cpu::detail {

namespace {
ConvAlgo g_algo = ConvAlgo::Auto;
}

void set_conv_algo_for_testing(ConvAlgo algo) { g_algo = algo; }
ConvAlgo conv_algo_for_testing() { return g_algo; }

bool conv2d_direct_supported(const Conv2dShape& s) {
#if GPUNET_DIRECT_CONV
  if (g_algo == ConvAlgo::Im2col || g_algo == ConvAlgo::Dnnl || g_algo == ConvAlgo::DnnlPlain ||
      isa() == Isa::Generic)
    return false;
  if (s.stride != 1 || s.N <= 0 || s.OH <= 0 || s.OW <= 0) return false;
  const int64_t Hp = s.H + 2 * int64_t(s.pad), Wp = s.W + 2 * int64_t(s.pad);
  if (Hp * Wp > (int64_t(1) << 26)) return false;  // int offsets
  if (g_algo == ConvAlgo::Direct) return true;
  // Auto: up to 64 channels each way, where the direct kernels measured faster than im2col +
  // OpenBLAS (even OpenBLAS's AVX-512 kernels: 1.5x at 64->64, 1.6x-5x below); from 64->128 on
  // the gemm wins (docs/PERFORMANCE.md, "Direct or im2col").
  return s.IC <= 64 && s.OC <= 64 && s.KH * s.KW <= 49;
#else
  (void)s;
  return false;
#endif
}

#if GPUNET_DIRECT_CONV
namespace {

constexpr int kUnit = 16;  // lengths and strides are multiples of this many floats (a zmm)

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct Geometry {
  int Hp, Wp;       // padded input plane
  int64_t plane;    // floats per padded input channel in scratch (with slack for the last vector)
  int Q;            // wide output length (OH-1)*Wp + OW
  int NV;           // vectors covering Q
  int NX;           // vectors covering Hp*Wp (dx on the padded plane)
  int T;            // taps KH*KW
  int OFF;          // (KH-1)*Wp + KW-1: the largest tap offset
  int64_t dlen;     // floats per channel of dp: OFF + NX*kUnit
};

Geometry geometry(const Conv2dShape& s) {
  Geometry g{};
  g.Hp = s.H + 2 * s.pad;
  g.Wp = s.W + 2 * s.pad;
  g.Q = (s.OH - 1) * g.Wp + s.OW;
  g.NV = (g.Q + kUnit - 1) / kUnit;
  g.NX = (g.Hp * g.Wp + kUnit - 1) / kUnit;
  g.T = s.KH * s.KW;
  g.OFF = (s.KH - 1) * g.Wp + (s.KW - 1);
  // forward/dw read xp[c][q + off_t] for q < NV*kUnit: at most Q + kUnit-1 + OFF = Hp*Wp + kUnit-1
  g.plane = round_up(int64_t(g.Hp) * g.Wp + kUnit, kUnit);
  g.dlen = round_up(int64_t(g.OFF) + int64_t(g.NX) * kUnit, kUnit);
  return g;
}

template <typename T>
T* scratch(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// offs[kh*KW + kw] = kh*Wp + kw: where tap (kh, kw) reads, relative to the output pixel's q.
void tap_offsets(const Conv2dShape& s, const Geometry& g, int* offs) {
  for (int kh = 0; kh < s.KH; ++kh)
    for (int kw = 0; kw < s.KW; ++kw) offs[kh * s.KW + kw] = kh * g.Wp + kw;
}

// x (IC, H, W) -> xp (IC planes of `plane` floats): zero padding, zero slack.
void pad_input(const Conv2dShape& s, const Geometry& g, const float* x, float* xp) {
  for (int c = 0; c < s.IC; ++c) {
    float* dst = xp + c * g.plane;
    const float* src = x + static_cast<int64_t>(c) * s.H * s.W;
    if (s.pad == 0) {
      std::memcpy(dst, src, sizeof(float) * s.H * s.W);
      std::memset(dst + s.H * s.W, 0, sizeof(float) * (g.plane - int64_t(s.H) * s.W));
      continue;
    }
    std::memset(dst, 0, sizeof(float) * g.plane);
    for (int h = 0; h < s.H; ++h)
      std::memcpy(dst + (h + s.pad) * g.Wp + s.pad, src + static_cast<int64_t>(h) * s.W, sizeof(float) * s.W);
  }
}

// dout (OC, OH, OW) -> dp (OC channels of dlen floats): OFF zeros, then the wide rows with
// zeros in columns >= OW, then zeros.
void pad_dout(const Conv2dShape& s, const Geometry& g, const float* d, float* dp) {
  std::memset(dp, 0, sizeof(float) * g.dlen * s.OC);
  for (int o = 0; o < s.OC; ++o)
    for (int oh = 0; oh < s.OH; ++oh)
      std::memcpy(dp + o * g.dlen + g.OFF + oh * g.Wp, d + (static_cast<int64_t>(o) * s.OH + oh) * s.OW,
                  sizeof(float) * s.OW);
}

// ---- the tiles, once per instruction set (conv2d_direct_tiles.inc) --------------------------
namespace z16 {  // AVX-512: 16 floats per vector, 32 registers
struct Vec {
  using T = __m512;
  static constexpr int L = 16;
  GPUNET_TARGET_AVX512 static inline T zero() { return _mm512_setzero_ps(); }
  GPUNET_TARGET_AVX512 static inline T load(const float* p) { return _mm512_loadu_ps(p); }
  GPUNET_TARGET_AVX512 static inline void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  GPUNET_TARGET_AVX512 static inline T set1(float x) { return _mm512_set1_ps(x); }
  GPUNET_TARGET_AVX512 static inline T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  GPUNET_TARGET_AVX512 static inline T add(T a, T b) { return _mm512_add_ps(a, b); }
  using M = __mmask16;  // lanes to keep, from 16 floats of all-ones or zero bits
  GPUNET_TARGET_AVX512 static inline M mask(const float* p) {
    return _mm512_movepi32_mask(_mm512_castps_si512(_mm512_loadu_ps(p)));
  }
  GPUNET_TARGET_AVX512 static inline T load_masked(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  GPUNET_TARGET_AVX512 static inline float hsum(T v) {  // pairwise (_mm512_reduce_add_ps warns in g++ 12)
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));
    return _mm512_cvtss_f32(v);
  }
};
constexpr int kCorrObMax = 8, kDwObMax = 4, kDwTbMax = 5;  // up to 24 + 4 + 1 and 20 + 5 + 1 registers
constexpr int corr_qb_max(int ob) { return ob <= 6 ? 4 : 3; }
#define GPUNET_TILE_TARGET GPUNET_TARGET_AVX512
#include "kernels/cpu/conv2d_direct_tiles.inc"
#undef GPUNET_TILE_TARGET
}  // namespace z16

namespace y8 {  // AVX2 + FMA: 8 floats per vector, 16 registers
struct Vec {
  using T = __m256;
  static constexpr int L = 8;
  GPUNET_TARGET_AVX2 static inline T zero() { return _mm256_setzero_ps(); }
  GPUNET_TARGET_AVX2 static inline T load(const float* p) { return _mm256_loadu_ps(p); }
  GPUNET_TARGET_AVX2 static inline void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  GPUNET_TARGET_AVX2 static inline T set1(float x) { return _mm256_set1_ps(x); }
  GPUNET_TARGET_AVX2 static inline T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  GPUNET_TARGET_AVX2 static inline T add(T a, T b) { return _mm256_add_ps(a, b); }
  using M = __m256;  // all-ones or zero bits per lane
  GPUNET_TARGET_AVX2 static inline M mask(const float* p) { return _mm256_loadu_ps(p); }
  GPUNET_TARGET_AVX2 static inline T load_masked(const float* p, M m) { return _mm256_and_ps(_mm256_loadu_ps(p), m); }
  GPUNET_TARGET_AVX2 static inline float hsum(T v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
  }
};
constexpr int kCorrObMax = 8, kDwObMax = 2, kDwTbMax = 4;  // at most 15 and 13 of the 16 registers
constexpr int corr_qb_max(int ob) { return ob <= 3 ? 3 : ob <= 6 ? 2 : 1; }
#define GPUNET_TILE_TARGET GPUNET_TARGET_AVX2
#include "kernels/cpu/conv2d_direct_tiles.inc"
#undef GPUNET_TILE_TARGET
}  // namespace y8

struct Tiles {
  void (*corr)(const float*, int64_t, int, const int*, int, const float*, int, float*, int64_t, int64_t);
  void (*dw_accumulate)(const float*, int64_t, int, const float*, int64_t, int, const int*, int, int64_t, const float*,
                        float*);
  void (*reduce_lanes)(const float*, int64_t, int, int64_t, float*);
};
const Tiles& tiles() {
  static const Tiles avx512{&z16::corr, &z16::dw_accumulate, &z16::reduce_lanes};
  static const Tiles avx2{&y8::corr, &y8::dw_accumulate, &y8::reduce_lanes};
  return isa() == Isa::Avx512 ? avx512 : avx2;
}

int threads_for(int N) {
#ifdef _OPENMP
  return N >= 16 ? std::max(1, std::min(omp_get_max_threads(), N)) : 1;
#else
  (void)N;
  return 1;
#endif
}

int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

struct Scratch {
  std::vector<float> xp, tmp, dp;
};
Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

void conv2d_direct_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out) {
  const Tiles& tk = tiles();
  const Geometry g = geometry(s);
  const int T = g.T, P = s.OH * s.OW;
  thread_local std::vector<float> wp_buf;
  thread_local std::vector<int> offs_buf;
  float* wp = scratch(wp_buf, static_cast<size_t>(s.OC) * s.IC * T);
  int* offs = scratch(offs_buf, static_cast<size_t>(T));
  for (int o = 0; o < s.OC; ++o)
    for (int c = 0; c < s.IC; ++c)
      for (int t = 0; t < T; ++t) wp[(static_cast<int64_t>(c) * T + t) * s.OC + o] = w[(static_cast<int64_t>(o) * s.IC + c) * T + t];
  tap_offsets(s, g, offs);
  const int64_t x_img = static_cast<int64_t>(s.IC) * s.H * s.W, out_img = static_cast<int64_t>(s.OC) * P;
  const int64_t os = static_cast<int64_t>(g.NV) * kUnit;
#pragma omp parallel for schedule(static) num_threads(threads_for(s.N)) if (threads_for(s.N) > 1)
  for (int n = 0; n < s.N; ++n) {
    Scratch& sc = thread_scratch();
    float* xp = scratch(sc.xp, static_cast<size_t>(s.IC) * g.plane);
    float* tmp = scratch(sc.tmp, static_cast<size_t>(s.OC) * os);
    pad_input(s, g, x + n * x_img, xp);
    tk.corr(xp, g.plane, s.IC, offs, T, wp, s.OC, tmp, os, os);
    // wide rows -> (OC, OH, OW), adding the bias after the sum (as PyTorch)
    float* on = out + n * out_img;
    for (int o = 0; o < s.OC; ++o) {
      const float bias = b ? b[o] : 0.0f;
      for (int oh = 0; oh < s.OH; ++oh) {
        const float* __restrict src = tmp + o * os + oh * g.Wp;
        float* __restrict dst = on + o * P + oh * s.OW;
        for (int ow = 0; ow < s.OW; ++ow) dst[ow] = src[ow] + bias;
      }
    }
  }
}

void conv2d_direct_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                            float* dw) {
  const Tiles& tk = tiles();
  const Geometry g = geometry(s);
  const int T = g.T, P = s.OH * s.OW;
  const int64_t x_img = static_cast<int64_t>(s.IC) * s.H * s.W, out_img = static_cast<int64_t>(s.OC) * P;
  thread_local std::vector<float> wq_buf, acc_buf;
  thread_local std::vector<int> offs_buf;
  int* offs = scratch(offs_buf, static_cast<size_t>(2 * T));
  int* offs_dx = offs + T;
  tap_offsets(s, g, offs);
  for (int t = 0; t < T; ++t) offs_dx[t] = g.OFF - offs[t];
  float* wq = nullptr;
  if (dx) {  // wq[(o*T + t)*IC + c] = w[o][c][t]: dx is a correlation with O and C swapped
    wq = scratch(wq_buf, static_cast<size_t>(s.OC) * s.IC * T);
    for (int o = 0; o < s.OC; ++o)
      for (int c = 0; c < s.IC; ++c)
        for (int t = 0; t < T; ++t) wq[(static_cast<int64_t>(o) * T + t) * s.IC + c] = w[(static_cast<int64_t>(o) * s.IC + c) * T + t];
  }
  float* lane_ok = nullptr;
  if (dw) {  // q = oh*Wp + ow is a real output pixel when q < Q and ow < OW
    thread_local std::vector<float> ok_buf;
    lane_ok = scratch(ok_buf, static_cast<size_t>(g.NV) * kUnit);
    for (int64_t q = 0; q < int64_t(g.NV) * kUnit; ++q) {
      const uint32_t bits = (q < g.Q && q % g.Wp < s.OW) ? 0xFFFFFFFFu : 0u;
      std::memcpy(lane_ok + q, &bits, sizeof bits);
    }
  }
  const int nthreads = threads_for(s.N);
  const int64_t acc_size = static_cast<int64_t>(s.OC) * s.IC * T * kUnit;
  float* accs = nullptr;
  if (dw) {
    accs = scratch(acc_buf, static_cast<size_t>(acc_size * nthreads));
    std::fill(accs, accs + acc_size * nthreads, 0.0f);
  }
  const int64_t xs = static_cast<int64_t>(g.NX) * kUnit;  // dx wide plane stride
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
  {
    Scratch& sc = thread_scratch();
    float* accm = dw ? accs + acc_size * thread_id() : nullptr;
    float* dp = scratch(sc.dp, static_cast<size_t>(s.OC) * g.dlen);
    float* xp = dw ? scratch(sc.xp, static_cast<size_t>(s.IC) * g.plane) : nullptr;
    float* dxw = dx ? scratch(sc.tmp, static_cast<size_t>(s.IC) * xs) : nullptr;
#pragma omp for schedule(static)
    for (int n = 0; n < s.N; ++n) {
      pad_dout(s, g, dout + n * out_img, dp);
      if (dw) {
        pad_input(s, g, x + n * x_img, xp);
        tk.dw_accumulate(xp, g.plane, s.IC, dp + g.OFF, g.dlen, s.OC, offs, T, int64_t(g.NV) * kUnit, lane_ok, accm);
      }
      if (dx) {
        tk.corr(dp, g.dlen, s.OC, offs_dx, T, wq, s.IC, dxw, xs, xs);
        float* dn = dx + n * x_img;
        for (int c = 0; c < s.IC; ++c)
          for (int h = 0; h < s.H; ++h)
            std::memcpy(dn + (static_cast<int64_t>(c) * s.H + h) * s.W, dxw + c * xs + (h + s.pad) * g.Wp + s.pad,
                        sizeof(float) * s.W);
      }
    }
  }
  if (dw) {
    tk.reduce_lanes(accs, acc_size, nthreads, static_cast<int64_t>(s.OC) * s.IC * T, dw);
  }
}

#else  // no x86-64: never selected (conv2d_direct_supported is false)

void conv2d_direct_forward(const Conv2dShape&, const float*, const float*, const float*, float*) {}
void conv2d_direct_backward(const Conv2dShape&, const float*, const float*, const float*, float*, float*) {}

#endif

}  // namespace gpunet::kernels::cpu::detail
