// Autocast bf16 conv2d and linear on the CPU (kernels/cpu/bf16.h): both paths (oneDNN's bf16
// primitives where the CPU has native bf16, and the float32 kernels on bf16-rounded operands,
// what a CPU without AVX512-BF16 runs) against two oracles, over airbench's and ResNet's shapes,
// strides 1 and 2, 1x1, odd sizes, batch 1:
//  1. exactness: the double reference on the bf16-rounded operands. Tolerance 1e-5 of the sum of
//     |terms| (float32 accumulation of up to a few thousand exact products). A path that
//     multiplied in float32 fails it (its operands differ by ~2^-9 relative);
//  2. against float32 (the double reference on the unrounded operands): rounding each operand to
//     bf16 (8-bit significand, unit roundoff u = 2^-8) moves each product by at most
//     (2u + u^2)|a b|, so |bf16 - fp32| <= 2^-7 * sum|a b| per element, rigorously (plus float32
//     slack). The observed error (worst element over the largest |value|) is printed: for random
//     data it grows like 2^-8 * sqrt(K) against outputs of size ~sqrt(K), i.e. stays near 2^-8.
// Also: oneDNN primitives are created once per bf16 shape; the wide shapes take oneDNN on this
// CPU when it has native bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_dnnl.h"
#include "kernels/cpu/isa.h"
#include "kernels/linear.h"

namespace gpunet {
namespace {

using kernels::Conv2dShape;
namespace kc = kernels::cpu;
namespace kd = kernels::cpu::detail;

Conv2dShape make_shape(int N, int IC, int H, int W, int OC, int K, int stride, int pad) {
  Conv2dShape s{N, IC, H, W, OC, K, K, stride, pad, 0, 0};
  s.OH = (H + 2 * pad - K) / stride + 1;
  s.OW = (W + 2 * pad - K) / stride + 1;
  return s;
}

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}
std::vector<double> as_double(const std::vector<float>& v, bool round, bool abs = false) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = round ? kd::to_bf16(v[i]) : v[i];
    out[i] = abs ? std::fabs(x) : x;
  }
  return out;
}

// The two oracles for one output: `exact` (rounded operands), `fp32` (unrounded) and `mag`
// (sum of |terms|, the bound's scale).
void expect_bf16(const char* what, const std::vector<float>& got, const std::vector<double>& exact,
                 const std::vector<double>& fp32, const std::vector<double>& mag) {
  ASSERT_EQ(got.size(), exact.size()) << what;
  size_t bad_exact = 0, bad_bound = 0;
  double worst = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i];
    if (!(std::fabs(g - exact[i]) <= 1e-5 * mag[i] + 1e-30) && ++bad_exact <= 3)
      ADD_FAILURE() << what << "[" << i << "]: " << g << " vs the bf16-operand reference " << exact[i];
    if (!(std::fabs(g - fp32[i]) <= (0x1p-7 + 1e-5) * mag[i] + 1e-30) && ++bad_bound <= 3)
      ADD_FAILURE() << what << "[" << i << "]: " << g << " vs float32 " << fp32[i] << ", beyond 2^-7 * " << mag[i];
    worst = std::max(worst, std::fabs(g - fp32[i]));
    scale = std::max(scale, std::fabs(fp32[i]));
  }
  std::cout << what << ": worst |bf16 - fp32| = " << worst / scale << " of the largest |value| (2^-8 = 0.0039)\n";
  EXPECT_EQ(bad_exact, 0u) << what;
  EXPECT_EQ(bad_bound, 0u) << what;
  EXPECT_GT(worst, 0.0) << what << ": identical to float32, so the operands were not rounded to bf16";
}

struct Conv {
  Conv2dShape s;
  std::vector<float> x, w, b, dout;
};

void check_conv(const Conv2dShape& s, unsigned seed) {
  SCOPED_TRACE(::testing::Message() << "N=" << s.N << " IC=" << s.IC << " " << s.H << "x" << s.W << " OC=" << s.OC
                                    << " K=" << s.KH << " stride=" << s.stride << " pad=" << s.pad);
  std::mt19937 rng(seed);
  const auto x = random_vec(size_t(s.N) * s.IC * s.H * s.W, rng);
  const auto w = random_vec(size_t(s.OC) * s.IC * s.KH * s.KW, rng);
  const auto b = random_vec(size_t(s.OC), rng);
  const auto dout = random_vec(size_t(s.N) * s.OC * s.OH * s.OW, rng);
  // Oracles: rounded operands (r), unrounded (f), magnitudes (a); bias exact in all three.
  std::vector<double> out[3], dx[3], dw[3], db[3];
  const bool round[3] = {true, false, true}, absolute[3] = {false, false, true};
  for (int k = 0; k < 3; ++k) {
    const auto xd = as_double(x, round[k], absolute[k]), wd = as_double(w, round[k], absolute[k]);
    const auto dd = as_double(dout, round[k], absolute[k]), bd = as_double(b, false, absolute[k]);
    out[k].resize(dout.size()), dx[k].resize(x.size()), dw[k].resize(w.size()), db[k].resize(b.size());
    kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), out[k].data());
    kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), dd.data(), dx[k].data(), dw[k].data(),
                                           db[k].data());
  }
  std::vector<float> got_out(dout.size(), NAN), got_dx(x.size(), NAN), got_dw(w.size(), NAN), got_db(b.size(), NAN);
  kc::conv2d_forward_bf16(s, x.data(), w.data(), b.data(), got_out.data());
  kc::conv2d_backward_bf16(s, x.data(), w.data(), dout.data(), got_dx.data(), got_dw.data(), got_db.data());
  expect_bf16("out", got_out, out[0], out[1], out[2]);
  expect_bf16("dx", got_dx, dx[0], dx[1], dx[2]);
  expect_bf16("dw", got_dw, dw[0], dw[1], dw[2]);
  // db sums dout (bf16-rounded or not, by path) in float32: within the bound either way.
  for (size_t i = 0; i < b.size(); ++i)
    EXPECT_NEAR(got_db[i], db[1][i], (0x1p-7 + 1e-5) * db[2][i]) << "db[" << i << "]";
}

const std::vector<Conv2dShape>& shapes() {
  static const std::vector<Conv2dShape> v = {
      make_shape(1, 64, 8, 8, 96, 3, 1, 1),   // airbench's blocks (wide: oneDNN bf16)
      make_shape(1, 256, 4, 4, 64, 3, 1, 1),  // K = 2304, as airbench's block 3
      make_shape(1, 24, 12, 12, 64, 3, 1, 1), // airbench's first conv (narrow: rounded + direct)
      make_shape(2, 3, 16, 16, 24, 2, 1, 0),  // the whitening layer
      make_shape(1, 64, 9, 9, 64, 3, 2, 1),   // ResNet's strided conv, odd size
      make_shape(2, 64, 8, 8, 64, 1, 2, 0),   // ResNet's 1x1 downsample
      make_shape(1, 40, 7, 5, 36, 3, 1, 1),   // odd channels and sizes
  };
  return v;
}

// param: the process's choice (Auto), every layer rounded, or oneDNN's bf16 primitives for the
// wide layers wherever the CPU has AVX512-BF16 (Native; even where the choice is Rounded
// because they are slower there: both paths must be right everywhere).
class Bf16 : public ::testing::TestWithParam<kd::Bf16Force> {
 protected:
  void SetUp() override {
    if (GetParam() == kd::Bf16Force::Native && !kd::dnnl_bf16_native())
      GTEST_SKIP() << "no AVX512-BF16 for oneDNN here: " << kd::bf16_mode();
    kd::set_bf16_path_for_testing(GetParam());
  }
  void TearDown() override { kd::set_bf16_path_for_testing(kd::Bf16Force::Auto); }
};

TEST_P(Bf16, ConvAgainstBf16OperandsAndFloat32) {
  unsigned seed = 1;
  for (const Conv2dShape& s : shapes()) check_conv(s, seed++);
}

// The rounded path makes its copies a part of the batch at a time (airbench94's batch of 1024:
// 64 MiB of copies per part); forced to 2 images per part on a batch of 3, every output still
// equals the bf16-operand reference (dw and db summed over the parts).
TEST_P(Bf16, ConvInPartsAgainstBf16OperandsAndFloat32) {
  struct Restore {
    ~Restore() { kd::set_bf16_part_images_for_testing(0); }
  } restore;
  kd::set_bf16_part_images_for_testing(2);
  unsigned seed = 40;
  for (Conv2dShape s : shapes()) {
    s.N = 3;
    check_conv(s, seed++);
  }
}

TEST_P(Bf16, LinearAgainstBf16OperandsAndFloat32) {
  const int N = 5, IN = 300, OUT = 10;
  std::mt19937 rng(7);
  const auto x = random_vec(size_t(N) * IN, rng), w = random_vec(size_t(OUT) * IN, rng);
  const auto b = random_vec(OUT, rng), dout = random_vec(size_t(N) * OUT, rng);
  std::vector<double> out[3], dx[3], dw[3], db[3];
  const bool round[3] = {true, false, true}, absolute[3] = {false, false, true};
  for (int k = 0; k < 3; ++k) {
    const auto xd = as_double(x, round[k], absolute[k]), wd = as_double(w, round[k], absolute[k]);
    const auto dd = as_double(dout, round[k], absolute[k]), bd = as_double(b, false, absolute[k]);
    out[k].resize(size_t(N) * OUT), dx[k].resize(x.size()), dw[k].resize(w.size()), db[k].resize(OUT);
    kc::linear_forward<double>(N, IN, OUT, xd.data(), wd.data(), bd.data(), out[k].data());
    kc::linear_backward<double>(N, IN, OUT, xd.data(), wd.data(), dd.data(), dx[k].data(), dw[k].data(),
                                db[k].data());
  }
  std::vector<float> got_out(out[0].size(), NAN), got_dx(x.size(), NAN), got_dw(w.size(), NAN), got_db(OUT, NAN);
  kc::linear_forward_bf16(N, IN, OUT, x.data(), w.data(), b.data(), got_out.data());
  kc::linear_backward_bf16(N, IN, OUT, x.data(), w.data(), dout.data(), got_dx.data(), got_dw.data(), got_db.data());
  expect_bf16("linear out", got_out, out[0], out[1], out[2]);
  expect_bf16("linear dx", got_dx, dx[0], dx[1], dx[2]);
  expect_bf16("linear dw", got_dw, dw[0], dw[1], dw[2]);
}

INSTANTIATE_TEST_SUITE_P(Paths, Bf16,
                         ::testing::Values(kd::Bf16Force::Auto, kd::Bf16Force::Rounded, kd::Bf16Force::Native),
                         [](const auto& info) {
                           return info.param == kd::Bf16Force::Auto      ? "Auto"
                                  : info.param == kd::Bf16Force::Rounded ? "Rounded"
                                                                         : "Native";
                         });

// On a CPU with native bf16 (forced where the measured rate chose the rounded path), the wide
// layers take oneDNN's bf16 primitives (the narrow ones the rounded direct kernels), and each
// shape's primitives are made once.
TEST(Bf16Paths, WideLayersTakeOneDnnAndCacheTheirPrimitives) {
  if (!kd::dnnl_bf16_native())
    GTEST_SKIP() << "no native bf16 here (" << kd::bf16_mode() << "): every layer takes the rounded path";
  struct Restore {
    ~Restore() { kd::set_bf16_path_for_testing(kd::Bf16Force::Auto); }
  } restore;
  kd::set_bf16_path_for_testing(kd::Bf16Force::Native);
  const Conv2dShape wide = make_shape(2, 64, 16, 16, 128, 3, 1, 1), narrow = make_shape(1, 24, 12, 12, 64, 3, 1, 1);
  EXPECT_EQ(kd::conv2d_bf16_path(wide), kd::Bf16Path::Dnnl);
  if (kd::conv2d_path(narrow) == kd::ConvAlgo::Direct) EXPECT_EQ(kd::conv2d_bf16_path(narrow), kd::Bf16Path::Rounded);
  std::mt19937 rng(3);
  const auto x = random_vec(size_t(2) * 64 * 16 * 16, rng), w = random_vec(size_t(128) * 64 * 9, rng);
  std::vector<float> out(size_t(2) * 128 * 16 * 16), dx(x.size()), dw(w.size()), db(128);
  kc::conv2d_forward_bf16(wide, x.data(), w.data(), nullptr, out.data());
  kc::conv2d_backward_bf16(wide, x.data(), w.data(), out.data(), dx.data(), dw.data(), db.data());
  const size_t made = kd::dnnl_primitives_created(), ws = kd::dnnl_workspace_bytes();
  for (int i = 0; i < 2; ++i) {
    kc::conv2d_forward_bf16(wide, x.data(), w.data(), nullptr, out.data());
    kc::conv2d_backward_bf16(wide, x.data(), w.data(), out.data(), dx.data(), dw.data(), db.data());
  }
  EXPECT_EQ(kd::dnnl_primitives_created(), made) << "a repeated bf16 shape created primitives";
  EXPECT_EQ(kd::dnnl_workspace_bytes(), ws);
}

// The process's choice agrees with the hardware: oneDNN's bf16 kernels where AMX is there, the
// rounded path without AVX512-BF16, and otherwise by the measured rate, which is what the mode
// line says. The probe measures a positive rate wherever the CPU has AVX512-BF16.
TEST(Bf16Paths, TheChoiceFollowsAmxOrTheMeasuredRate) {
  if (std::getenv("GPUNET_CPU_BF16")) GTEST_SKIP() << "GPUNET_CPU_BF16 is set: the choice is the user's";
  const std::string mode = kd::bf16_mode();
  if (!kd::dnnl_bf16_native()) {
    EXPECT_FALSE(kd::bf16_takes_dnnl());
    EXPECT_EQ(mode.rfind("emulated", 0), 0u) << mode;
    return;
  }
  const double r = kd::bf16_dot_rate_ratio();
  std::printf("bf16 dot-product rate / float32 FMA rate on this core: %.2f (AMX: %s)\n", r,
              kd::dnnl_bf16_amx() ? "yes" : "no");
  if (kc::isa() != kc::Isa::Avx512) {  // GPUNET_CPU_ISA caps gpunet's vector code: no probe
    EXPECT_EQ(r, 0.0);
    if (!kd::dnnl_bf16_amx()) EXPECT_FALSE(kd::bf16_takes_dnnl()) << mode;
    return;
  }
  EXPECT_GT(r, 0.1);
  EXPECT_LT(r, 8.0);
  if (kd::dnnl_bf16_amx()) {
    EXPECT_TRUE(kd::bf16_takes_dnnl());
    EXPECT_EQ(mode.rfind("native (AMX-BF16)", 0), 0u) << mode;
  } else {
    // The choice was made on its own measurement; a second one may differ a little, not across
    // a wide margin around the threshold.
    if (r > kd::kBf16NativeMinRatio * 1.3) EXPECT_TRUE(kd::bf16_takes_dnnl()) << mode;
    if (r < kd::kBf16NativeMinRatio / 1.3) EXPECT_FALSE(kd::bf16_takes_dnnl()) << mode;
    EXPECT_EQ(mode.rfind(kd::bf16_takes_dnnl() ? "native (AVX512-BF16, measured" : "rounded: ", 0), 0u) << mode;
  }
}

TEST(Bf16Paths, RoundingIsNearestEvenAndKeepsNaN) {
  EXPECT_EQ(kd::to_bf16(1.0f), 1.0f);
  // bf16 spacing at 1 is 2^-7: 1 + 2^-8 is a tie.
  EXPECT_EQ(kd::to_bf16(1.0f + 0x1p-8f), 1.0f);                            // tie: to even (down)
  EXPECT_EQ(kd::to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 1.0f + 0x1p-6f);        // tie: to even (up)
  EXPECT_EQ(kd::to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);       // above the tie: up
  EXPECT_EQ(kd::to_bf16(-1.0f - 0x1p-8f - 0x1p-20f), -1.0f - 0x1p-7f);
  EXPECT_TRUE(std::isnan(kd::to_bf16(NAN)));
  EXPECT_EQ(kd::to_bf16(INFINITY), INFINITY);
}

}  // namespace
}  // namespace gpunet
