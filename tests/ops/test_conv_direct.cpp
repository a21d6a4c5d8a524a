// The direct convolution (src/kernels/cpu/conv2d_direct.cpp), with its AVX-512 tiles and with
// its AVX2 tiles (each where the CPU has it), against the plain reference
// (kernels::cpu::reference: the definition's loops, no gemm library, no ISA paths) run in double
// on the same float inputs. Forward, dx, dw and db, over
// shapes that exercise every tile size and tail (channel counts 1..17, kernels 1x1..7x7,
// padding 0..3, odd and non-square planes, batches that split across threads). The float
// im2col path is held to the same bound, so the two float paths agree with each other too.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <tuple>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/isa.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gpunet {
namespace {

using kernels::Conv2dShape;
namespace kc = kernels::cpu;

Conv2dShape make_shape(int N, int IC, int H, int W, int OC, int KH, int KW, int pad) {
  Conv2dShape s{N, IC, H, W, OC, KH, KW, 1, pad, 0, 0};
  s.OH = H + 2 * pad - KH + 1;
  s.OW = W + 2 * pad - KW + 1;
  return s;
}

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// |got - ref| <= tol * scale, where scale is the reference's largest magnitude (a sum of up to
// IC*KH*KW*N*P float products: its rounding error grows with the term count, not the value).
void expect_close(const std::vector<float>& got, const std::vector<double>& ref, double tol, const char* what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double scale = 1.0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= tol * scale)) {
      if (++bad <= 3) ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", reference " << ref[i];
    }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " outside " << tol << " x " << scale;
}

class ConvDirect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kc::detected_isa() == kc::Isa::Generic)
      GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512: the direct convolution is never used here";
  }
  void TearDown() override {
    kc::detail::set_conv_algo_for_testing(kc::detail::ConvAlgo::Auto);
    kc::set_isa_for_testing(kc::default_isa());
  }

  // Runs forward and backward with `algo` on float data and compares with the double reference.
  static void check(const Conv2dShape& s, unsigned seed, bool with_dx = true, bool with_bias = true) {
    SCOPED_TRACE(::testing::Message() << "N=" << s.N << " IC=" << s.IC << " " << s.H << "x" << s.W << " OC=" << s.OC
                                      << " K=" << s.KH << "x" << s.KW << " pad=" << s.pad);
    std::mt19937 rng(seed);
    const auto x = random_vec(static_cast<size_t>(s.N) * s.IC * s.H * s.W, rng);
    const auto w = random_vec(static_cast<size_t>(s.OC) * s.IC * s.KH * s.KW, rng);
    const auto b = random_vec(static_cast<size_t>(s.OC), rng);
    const auto dout = random_vec(static_cast<size_t>(s.N) * s.OC * s.OH * s.OW, rng);

    // the plain reference, in double
    const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dd = to_double(dout);
    std::vector<double> out_r(dout.size()), dx_r(x.size()), dw_r(w.size()), db_r(b.size());
    kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), with_bias ? bd.data() : nullptr, out_r.data());
    kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), dd.data(), with_dx ? dx_r.data() : nullptr,
                                           dw_r.data(), db_r.data());

    struct Run {
      kc::detail::ConvAlgo algo;
      kc::Isa isa;
      const char* name;
    };
    for (const Run& run : {Run{kc::detail::ConvAlgo::Direct, kc::Isa::Avx512, "direct, avx512"},
                           Run{kc::detail::ConvAlgo::Direct, kc::Isa::Avx2, "direct, avx2"},
                           Run{kc::detail::ConvAlgo::Im2col, kc::detected_isa(), "im2col"}}) {
      if (static_cast<int>(run.isa) > static_cast<int>(kc::detected_isa())) continue;  // not on this CPU
      kc::set_isa_for_testing(run.isa);
      kc::detail::set_conv_algo_for_testing(run.algo);
      SCOPED_TRACE(run.name);
      if (run.algo == kc::detail::ConvAlgo::Direct) ASSERT_TRUE(kc::detail::conv2d_direct_supported(s));
      std::vector<float> out(dout.size(), NAN), dx(x.size(), NAN), dw(w.size(), NAN), db(b.size(), NAN);
      kc::conv2d_forward<float>(s, x.data(), w.data(), with_bias ? b.data() : nullptr, out.data());
      kc::conv2d_backward<float>(s, x.data(), w.data(), dout.data(), with_dx ? dx.data() : nullptr, dw.data(),
                                 db.data());
      expect_close(out, out_r, 2e-6, "out");
      if (with_dx) expect_close(dx, dx_r, 2e-6, "dx");
      expect_close(dw, dw_r, 2e-6, "dw");
      expect_close(db, db_r, 2e-6, "db");
    }
  }
};

TEST_F(ConvDirect, LeNetLayersMatchTheReference) {
  check(make_shape(4, 3, 32, 32, 6, 5, 5, 0), 1, /*with_dx=*/false);  // conv1: no dx, as in training
  check(make_shape(4, 3, 32, 32, 6, 5, 5, 0), 2);
  check(make_shape(4, 6, 14, 14, 16, 5, 5, 0), 3);
  check(make_shape(64, 6, 14, 14, 16, 5, 5, 0), 4);
}

TEST_F(ConvDirect, EveryTileAndTailMatchesTheReference) {
  unsigned seed = 10;
  // channel counts cover output blocks of 1..8 (and their splits) and dw blocks of 1..4
  for (int oc : {1, 2, 3, 5, 7, 8, 9, 13, 16, 17})
    for (int ic : {1, 2, 5}) check(make_shape(2, ic, 9, 11, oc, 3, 3, 0), seed++);
  // kernel sizes: tap counts 1, 2, 4, 9, 15, 49 (tap blocks of 1..5 and their tails)
  check(make_shape(2, 3, 7, 7, 4, 1, 1, 0), seed++);
  check(make_shape(2, 3, 7, 8, 4, 1, 2, 0), seed++);
  check(make_shape(2, 3, 8, 7, 4, 2, 2, 0), seed++);
  check(make_shape(2, 3, 12, 10, 4, 3, 5, 0), seed++);
  check(make_shape(2, 2, 13, 13, 3, 7, 7, 0), seed++);
  // kernel as large as the input (one output pixel), and planes narrower than a vector
  check(make_shape(3, 2, 5, 5, 3, 5, 5, 0), seed++);
  check(make_shape(3, 2, 3, 17, 3, 3, 3, 0), seed++);
  // one image wider than several vectors
  check(make_shape(1, 2, 40, 70, 6, 5, 5, 0), seed++);
}

TEST_F(ConvDirect, PaddingMatchesTheReference) {
  unsigned seed = 100;
  for (int pad : {1, 2, 3}) {
    check(make_shape(2, 3, 8, 8, 5, 3, 3, pad), seed++);
    check(make_shape(2, 4, 6, 9, 7, 5, 5, pad), seed++);
  }
  check(make_shape(2, 1, 1, 1, 2, 3, 3, 1), seed++);  // a 1x1 image padded to 3x3
  check(make_shape(2, 3, 8, 8, 5, 3, 3, 1), seed++, /*with_dx=*/true, /*with_bias=*/false);
}

TEST_F(ConvDirect, BatchesSplitAcrossThreadsMatchTheReference) {
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(2);
  check(make_shape(33, 6, 14, 14, 16, 5, 5, 0), 200);
  check(make_shape(17, 3, 12, 12, 6, 5, 5, 1), 201);
  omp_set_num_threads(before);
#else
  GTEST_SKIP() << "built without OpenMP";
#endif
}

TEST_F(ConvDirect, DxIsWrittenFreshAndNonFiniteValuesPropagate) {
  // The outputs are overwritten (not accumulated), and a NaN in x reaches the outputs it
  // touches, as in the reference.
  const auto s = make_shape(1, 1, 6, 6, 1, 3, 3, 0);
  std::vector<float> x(36, 1.0f), w(9, 1.0f), out(16, 123.0f), dout(16, 1.0f), dx(36, 7.0f), dw(9, 7.0f), db(1, 7.0f);
  x[0] = NAN;
  kc::detail::set_conv_algo_for_testing(kc::detail::ConvAlgo::Direct);
  kc::conv2d_forward<float>(s, x.data(), w.data(), nullptr, out.data());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 9.0f);
  EXPECT_EQ(out[15], 9.0f);
  kc::conv2d_backward<float>(s, x.data(), w.data(), dout.data(), dx.data(), dw.data(), db.data());
  EXPECT_EQ(dx[0], 1.0f);    // one window covers the corner
  EXPECT_EQ(dx[14], 9.0f);   // (2, 2): nine windows
  EXPECT_TRUE(std::isnan(dw[0]));  // the NaN pixel is tap (0, 0) of output (0, 0)
  EXPECT_EQ(db[0], 16.0f);
}

TEST_F(ConvDirect, InfinitiesGiveTheReferencesNonFiniteEntriesOnly) {
  // An inf in x at the start of a row is read by the thrown-away lanes of the previous wide row
  // (for taps with kw > 0); their dout is zero and 0 * inf is NaN, so those lanes must not
  // count. Every gradient and output entry must be finite exactly where the reference's is,
  // with the same infinity, and close where finite.
  const auto s = make_shape(2, 2, 9, 11, 3, 3, 3, 0);
  std::mt19937 rng(7);
  auto x = random_vec(static_cast<size_t>(s.N) * s.IC * s.H * s.W, rng);
  const auto w = random_vec(static_cast<size_t>(s.OC) * s.IC * s.KH * s.KW, rng);
  const auto dout = random_vec(static_cast<size_t>(s.N) * s.OC * s.OH * s.OW, rng);
  x[(0 * s.IC + 1) * s.H * s.W + 4 * s.W + 0] = INFINITY;            // image 0, channel 1, row 4, column 0
  x[(1 * s.IC + 0) * s.H * s.W + 6 * s.W + (s.W - 1)] = -INFINITY;   // image 1, channel 0, row 6, last column
  const auto xd = to_double(x), wd = to_double(w), dd = to_double(dout);
  std::vector<double> out_r(dout.size()), dw_r(w.size()), dx_r(x.size());
  kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), nullptr, out_r.data());
  kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), dd.data(), dx_r.data(), dw_r.data(), nullptr);
  auto same = [](const std::vector<float>& got, const std::vector<double>& ref, const char* what) {
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isfinite(ref[i])) {
        EXPECT_TRUE(std::isfinite(got[i]) && std::fabs(got[i] - ref[i]) <= 1e-5 * (1 + std::fabs(ref[i])))
            << what << "[" << i << "]: got " << got[i] << ", reference " << ref[i];
      } else if (std::isnan(ref[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << what << "[" << i << "]: got " << got[i] << ", reference NaN";
      } else {
        EXPECT_EQ(got[i], static_cast<float>(ref[i])) << what << "[" << i << "]";
      }
    }
  };
  size_t finite_dw = 0, inf_dw = 0;
  for (double v : dw_r) (std::isfinite(v) ? finite_dw : inf_dw) += 1;
  ASSERT_GT(finite_dw, 0u);
  ASSERT_GT(inf_dw, 0u);  // the case is not vacuous: some taps see the infinities, some do not
  for (auto isa : {kc::Isa::Avx512, kc::Isa::Avx2}) {
    if (static_cast<int>(isa) > static_cast<int>(kc::detected_isa())) continue;
    kc::set_isa_for_testing(isa);
    kc::detail::set_conv_algo_for_testing(kc::detail::ConvAlgo::Direct);
    SCOPED_TRACE(isa == kc::Isa::Avx512 ? "avx512" : "avx2");
    std::vector<float> out(dout.size()), dw(w.size()), dx(x.size());
    kc::conv2d_forward<float>(s, x.data(), w.data(), nullptr, out.data());
    kc::conv2d_backward<float>(s, x.data(), w.data(), dout.data(), dx.data(), dw.data(), nullptr);
    same(out, out_r, "out");
    same(dw, dw_r, "dw");
    same(dx, dx_r, "dx");
  }
}

// The oracle itself: two independent double implementations (the plain loops and im2col + dgemm,
// which has no ISA paths of its own for double) agree to double rounding, strides and padding
// included; the im2col path is in turn checked against PyTorch (tests/ops/test_golden.cpp).
TEST(ConvReference, AgreesWithIm2colInDouble) {
  std::mt19937 rng(5);
  for (const auto& [N, IC, H, W, OC, K, stride, pad] :
       std::vector<std::array<int, 8>>{{2, 3, 9, 11, 4, 3, 1, 0}, {2, 3, 9, 11, 4, 3, 2, 1}, {1, 2, 7, 5, 3, 5, 3, 2},
                                       {3, 1, 1, 1, 2, 1, 1, 0}, {2, 4, 8, 8, 5, 2, 2, 0}}) {
    Conv2dShape s{N, IC, H, W, OC, K, K, stride, pad, (H + 2 * pad - K) / stride + 1, (W + 2 * pad - K) / stride + 1};
    SCOPED_TRACE(::testing::Message() << "N=" << N << " IC=" << IC << " " << H << "x" << W << " OC=" << OC << " K=" << K
                                      << " stride=" << stride << " pad=" << pad);
    const auto x = to_double(random_vec(static_cast<size_t>(N) * IC * H * W, rng));
    const auto w = to_double(random_vec(static_cast<size_t>(OC) * IC * K * K, rng));
    const auto b = to_double(random_vec(static_cast<size_t>(OC), rng));
    const auto d = to_double(random_vec(static_cast<size_t>(N) * OC * s.OH * s.OW, rng));
    std::vector<double> o1(d.size()), o2(d.size()), dx1(x.size()), dx2(x.size()), dw1(w.size()), dw2(w.size()),
        db1(b.size()), db2(b.size());
    kc::reference::conv2d_forward<double>(s, x.data(), w.data(), b.data(), o1.data());
    kc::conv2d_forward<double>(s, x.data(), w.data(), b.data(), o2.data());
    kc::reference::conv2d_backward<double>(s, x.data(), w.data(), d.data(), dx1.data(), dw1.data(), db1.data());
    kc::conv2d_backward<double>(s, x.data(), w.data(), d.data(), dx2.data(), dw2.data(), db2.data());
    for (const auto& [a, r, what] : {std::tuple{&o1, &o2, "out"}, std::tuple{&dx1, &dx2, "dx"},
                                     std::tuple{&dw1, &dw2, "dw"}, std::tuple{&db1, &db2, "db"}})
      for (size_t i = 0; i < a->size(); ++i)
        ASSERT_NEAR((*a)[i], (*r)[i], 1e-12 * (1 + std::fabs((*r)[i]))) << what << "[" << i << "]";
  }
}

TEST(ConvDirectSelection, AutoPicksDirectOnlyWhereItRuns) {
  const auto lenet1 = make_shape(4, 3, 32, 32, 6, 5, 5, 0);
  auto strided = lenet1;
  strided.stride = 2;
  strided.OH = strided.OW = 14;
  EXPECT_FALSE(kc::detail::conv2d_direct_supported(strided));
  EXPECT_FALSE(kc::detail::conv2d_direct_supported(make_shape(4, 64, 16, 16, 128, 3, 3, 1)));  // wide: gemm
  EXPECT_EQ(kc::detail::conv2d_direct_supported(lenet1), kc::isa() != kc::Isa::Generic);
  kc::set_isa_for_testing(kc::Isa::Generic);
  EXPECT_FALSE(kc::detail::conv2d_direct_supported(lenet1));
  kc::set_isa_for_testing(kc::Isa::Avx2);
  EXPECT_EQ(kc::detail::conv2d_direct_supported(lenet1), kc::detected_isa() != kc::Isa::Generic);
  kc::set_isa_for_testing(kc::default_isa());
}

}  // namespace
}  // namespace gpunet
