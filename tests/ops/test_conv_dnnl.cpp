// conv2d through oneDNN (src/kernels/cpu/conv2d_dnnl.cpp), in both of its layouts (plain NCHW
// descriptors, and oneDNN's blocked layouts with cached reorders), against the plain reference
// (kernels::cpu::reference, double accumulators) on the same float inputs: forward, dx, dw and
// db over strides 1 and 2, 1x1 and 3x3 kernels, padding, no bias, odd sizes and batch 1. Also:
// primitives are created once per shape (a repeated call creates none and grows no workspace),
// the per-shape rule (conv2d_path) keeps LeNet on the direct kernels, and a build without oneDNN
// takes the other paths. Skips with a reason where gpunet was built without oneDNN.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_dnnl.h"
#include "kernels/cpu/isa.h"

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
std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// |got - ref| <= tol * max|ref|: float sums of up to IC*K*K (or N*OH*OW) terms.
void expect_close(const std::vector<float>& got, const std::vector<double>& ref, double tol, const char* what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double scale = 1.0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= tol * scale) && ++bad <= 3)
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", reference " << ref[i];
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " outside " << tol << " x " << scale;
}

class ConvDnnl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kd::dnnl_available()) GTEST_SKIP() << "gpunet was built without oneDNN (GPUNET_DNNL=OFF or not found)";
  }
  void TearDown() override { kd::set_conv_algo_for_testing(kd::ConvAlgo::Auto); }

  // Both layouts, with or without bias and dx, against the double reference.
  static void check(const Conv2dShape& s, unsigned seed, bool with_bias = true, bool with_dx = true) {
    SCOPED_TRACE(::testing::Message() << "N=" << s.N << " IC=" << s.IC << " " << s.H << "x" << s.W << " OC=" << s.OC
                                      << " K=" << s.KH << " stride=" << s.stride << " pad=" << s.pad
                                      << " bias=" << with_bias << " dx=" << with_dx);
    std::mt19937 rng(seed);
    const auto x = random_vec(size_t(s.N) * s.IC * s.H * s.W, rng);
    const auto w = random_vec(size_t(s.OC) * s.IC * s.KH * s.KW, rng);
    const auto b = random_vec(size_t(s.OC), rng);
    const auto dout = random_vec(size_t(s.N) * s.OC * s.OH * s.OW, rng);
    const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dd = to_double(dout);
    std::vector<double> out_r(dout.size()), dx_r(x.size()), dw_r(w.size()), db_r(b.size());
    kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), with_bias ? bd.data() : nullptr, out_r.data());
    kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), dd.data(), dx_r.data(), dw_r.data(),
                                           db_r.data());
    for (kd::ConvAlgo algo : {kd::ConvAlgo::Dnnl, kd::ConvAlgo::DnnlPlain}) {
      SCOPED_TRACE(algo == kd::ConvAlgo::Dnnl ? "blocked" : "plain");
      kd::set_conv_algo_for_testing(algo);
      ASSERT_EQ(kd::conv2d_path(s), algo);
      // Straight through the oneDNN entry points too, so a silent fallback cannot pass.
      std::vector<float> probe(dout.size());
      ASSERT_TRUE(kd::conv2d_dnnl_forward(s, x.data(), w.data(), nullptr, probe.data(),
                                          algo == kd::ConvAlgo::Dnnl ? kd::DnnlLayout::Blocked : kd::DnnlLayout::Plain));
      std::vector<float> out(dout.size(), NAN), dx(x.size(), NAN), dw(w.size(), NAN), db(b.size(), NAN);
      kc::conv2d_forward<float>(s, x.data(), w.data(), with_bias ? b.data() : nullptr, out.data());
      kc::conv2d_backward<float>(s, x.data(), w.data(), dout.data(), with_dx ? dx.data() : nullptr, dw.data(),
                                 with_bias ? db.data() : nullptr);
      expect_close(out, out_r, 1e-5, "out");
      if (with_dx) expect_close(dx, dx_r, 1e-5, "dx");
      expect_close(dw, dw_r, 1e-5, "dw");
      if (with_bias) expect_close(db, db_r, 1e-5, "db");
    }
  }
};

TEST_F(ConvDnnl, Stride1And2With1x1And3x3KernelsMatchTheReference) {
  unsigned seed = 1;
  for (int stride : {1, 2})
    for (int k : {1, 3}) check(make_shape(3, 16, 10, 10, 32, k, stride, k / 2), seed++);
}

TEST_F(ConvDnnl, PaddingOddSizesNoBiasAndBatch1MatchTheReference) {
  check(make_shape(2, 5, 9, 7, 7, 3, 1, 0), 20);                       // no padding, odd sizes
  check(make_shape(2, 3, 11, 13, 17, 5, 2, 2), 21);                    // odd channels, stride 2, pad 2
  check(make_shape(1, 32, 8, 8, 64, 3, 1, 1), 22, /*with_bias=*/false);  // batch 1, no bias
  check(make_shape(1, 24, 15, 15, 40, 3, 2, 1), 23, true, /*with_dx=*/false);
  check(make_shape(2, 64, 4, 4, 64, 3, 1, 1), 24);                     // wide, tiny planes
  check(make_shape(2, 3, 32, 32, 24, 2, 1, 0), 25);                    // airbench's whitening shape
}

TEST_F(ConvDnnl, DbWithoutDwIsTheBiasSum) {
  const auto s = make_shape(2, 4, 5, 5, 6, 3, 1, 1);
  std::vector<float> x(size_t(2) * 4 * 25, 1.0f), w(size_t(6) * 4 * 9, 1.0f), dout(size_t(2) * 6 * 25, 0.5f);
  std::vector<float> db(6, NAN);
  kd::set_conv_algo_for_testing(kd::ConvAlgo::Dnnl);
  kc::conv2d_backward<float>(s, x.data(), w.data(), dout.data(), nullptr, nullptr, db.data());
  for (float v : db) EXPECT_EQ(v, 25.0f);  // 2 images x 25 pixels x 0.5
}

TEST_F(ConvDnnl, PrimitivesAreCreatedOncePerShape) {
  const auto s = make_shape(2, 32, 9, 9, 48, 3, 1, 1);
  std::mt19937 rng(5);
  const auto x = random_vec(size_t(s.N) * s.IC * s.H * s.W, rng), w = random_vec(size_t(s.OC) * s.IC * 9, rng);
  const auto b = random_vec(s.OC, rng), g = random_vec(size_t(s.N) * s.OC * s.OH * s.OW, rng);
  std::vector<float> out(g.size()), dx(x.size()), dw(w.size()), db(b.size());
  kd::set_conv_algo_for_testing(kd::ConvAlgo::Dnnl);
  auto step = [&] {
    kc::conv2d_forward<float>(s, x.data(), w.data(), b.data(), out.data());
    kc::conv2d_backward<float>(s, x.data(), w.data(), g.data(), dx.data(), dw.data(), db.data());
  };
  step();
  const size_t prims = kd::dnnl_primitives_created(), bytes = kd::dnnl_workspace_bytes();
  EXPECT_GE(prims, 3u);  // forward, backward data, backward weights (+ reorders)
  const std::vector<float> first = out;
  for (int i = 0; i < 3; ++i) step();
  EXPECT_EQ(kd::dnnl_primitives_created(), prims);
  EXPECT_EQ(kd::dnnl_workspace_bytes(), bytes);
  EXPECT_EQ(out, first);  // same inputs, same primitive: the same bits
}

// A batch whose blocked copies pass the workspace budget runs in parts (the forward and dx image
// by image, dw and db summed over the parts) and still equals the reference; with the default
// budget the same small call runs whole.
TEST_F(ConvDnnl, ABatchOverTheWorkspaceBudgetRunsInPartsAndMatchesTheReference) {
  struct Restore {
    ~Restore() { kd::set_dnnl_workspace_budget(0); }
  } restore;
  const auto s = make_shape(7, 16, 10, 10, 32, 3, 1, 1);
  std::mt19937 rng(31);
  const auto x = random_vec(size_t(s.N) * s.IC * s.H * s.W, rng), w = random_vec(size_t(s.OC) * s.IC * 9, rng);
  const auto b = random_vec(s.OC, rng), g = random_vec(size_t(s.N) * s.OC * s.OH * s.OW, rng);
  const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), gd = to_double(g);
  std::vector<double> out_r(g.size()), dx_r(x.size()), dw_r(w.size()), db_r(b.size());
  kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), out_r.data());
  kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), gd.data(), dx_r.data(), dw_r.data(), db_r.data());
  for (size_t budget : {size_t{0}, size_t{64} << 10, size_t{16} << 10}) {
    SCOPED_TRACE(::testing::Message() << "budget " << budget);
    kd::set_dnnl_workspace_budget(budget);
    {
      std::vector<float> out(g.size(), NAN), dx(x.size(), NAN), dw(w.size(), NAN), db(b.size(), NAN);
      ASSERT_TRUE(kd::conv2d_dnnl_forward(s, x.data(), w.data(), b.data(), out.data(), kd::DnnlLayout::Blocked));
      const size_t fwd_parts = kd::dnnl_parts_last_call();
      ASSERT_TRUE(kd::conv2d_dnnl_backward(s, x.data(), w.data(), g.data(), dx.data(), dw.data(), db.data(),
                                           kd::DnnlLayout::Blocked));
      const size_t bwd_parts = kd::dnnl_parts_last_call();
      if (budget == 0) {
        EXPECT_EQ(fwd_parts, 1u);
        EXPECT_EQ(bwd_parts, 1u);
      } else {  // 7 x (16 + 32) x 100 floats of blocked src and dst: 134 KB
        EXPECT_GE(fwd_parts, budget < (size_t{32} << 10) ? 7u : 3u);
        EXPECT_GE(bwd_parts, 3u);
      }
      expect_close(out, out_r, 1e-5, "out");
      expect_close(dx, dx_r, 1e-5, "dx");
      expect_close(dw, dw_r, 1e-5, "dw");
      expect_close(db, db_r, 1e-5, "db");
    }
  }
}

// dx and dw in one backward call reorder dout once for both primitives (in the blocked layout,
// within the budget), and give the same bits as a dx-only call followed by a dw-only call, which
// each reorder it themselves; in fp32 and bf16; and still equal the reference.
TEST_F(ConvDnnl, OneReorderOfDoutServesBothGradients) {
  const auto s = make_shape(3, 32, 9, 9, 48, 3, 1, 1);
  std::mt19937 rng(41);
  const auto x = random_vec(size_t(s.N) * s.IC * s.H * s.W, rng), w = random_vec(size_t(s.OC) * s.IC * 9, rng);
  const auto g = random_vec(size_t(s.N) * s.OC * s.OH * s.OW, rng);
  const auto xd = to_double(x), wd = to_double(w), gd = to_double(g);
  std::vector<double> dx_r(x.size()), dw_r(w.size()), db_r(size_t(s.OC));
  kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), gd.data(), dx_r.data(), dw_r.data(), db_r.data());
  for (kd::DnnlType type : {kd::DnnlType::F32, kd::DnnlType::Bf16}) {
    if (type == kd::DnnlType::Bf16 && !kd::dnnl_bf16_native()) continue;
    SCOPED_TRACE(type == kd::DnnlType::F32 ? "fp32" : "bf16");
    std::vector<float> dx(x.size(), NAN), dw(w.size(), NAN), db(size_t(s.OC), NAN);
    ASSERT_TRUE(kd::conv2d_dnnl_backward(s, x.data(), w.data(), g.data(), dx.data(), dw.data(), db.data(),
                                         kd::DnnlLayout::Blocked, type));
    EXPECT_TRUE(kd::dnnl_shared_diff_dst_last_call());
    std::vector<float> dx1(x.size(), NAN), dw1(w.size(), NAN), db1(size_t(s.OC), NAN);
    ASSERT_TRUE(kd::conv2d_dnnl_backward(s, x.data(), w.data(), g.data(), dx1.data(), nullptr, nullptr,
                                         kd::DnnlLayout::Blocked, type));
    EXPECT_FALSE(kd::dnnl_shared_diff_dst_last_call());
    ASSERT_TRUE(kd::conv2d_dnnl_backward(s, x.data(), w.data(), g.data(), nullptr, dw1.data(), db1.data(),
                                         kd::DnnlLayout::Blocked, type));
    EXPECT_EQ(dx, dx1);
    EXPECT_EQ(dw, dw1);
    EXPECT_EQ(db, db1);
    if (type == kd::DnnlType::F32) {
      expect_close(dx, dx_r, 1e-5, "dx");
      expect_close(dw, dw_r, 1e-5, "dw");
      expect_close(db, db_r, 1e-5, "db");
    }
  }
  // The plain layout has no reorder to share.
  std::vector<float> dx(x.size()), dw(w.size());
  ASSERT_TRUE(kd::conv2d_dnnl_backward(s, x.data(), w.data(), g.data(), dx.data(), dw.data(), nullptr,
                                       kd::DnnlLayout::Plain));
  EXPECT_FALSE(kd::dnnl_shared_diff_dst_last_call());
}

TEST(ConvPath, LeNetKeepsTheDirectKernelsAndWideLayersUseOneDnn) {
  kd::set_conv_algo_for_testing(kd::ConvAlgo::Auto);
  const bool direct_runs = kc::detected_isa() != kc::Isa::Generic;
  const kd::ConvAlgo small = direct_runs ? kd::ConvAlgo::Direct : kd::ConvAlgo::Im2col;
  EXPECT_EQ(kd::conv2d_path(make_shape(4, 3, 32, 32, 6, 5, 1, 0)), small);
  EXPECT_EQ(kd::conv2d_path(make_shape(4, 6, 14, 14, 16, 5, 1, 0)), small);
  EXPECT_EQ(kd::conv2d_path(make_shape(64, 3, 32, 32, 24, 2, 1, 0)), small);  // airbench's whitening
  const kd::ConvAlgo wide = kd::dnnl_available() ? kd::ConvAlgo::Dnnl : kd::ConvAlgo::Im2col;
  EXPECT_EQ(kd::conv2d_path(make_shape(8, 256, 7, 7, 256, 3, 1, 1)), wide);
  EXPECT_EQ(kd::conv2d_path(make_shape(8, 64, 32, 32, 128, 3, 2, 1)), wide);
  // without oneDNN, 64 -> 64 stays on the direct kernels (their own rule)
  EXPECT_EQ(kd::conv2d_path(make_shape(8, 64, 15, 15, 64, 3, 1, 1)), kd::dnnl_available() ? wide : small);
  EXPECT_EQ(kd::conv2d_path(make_shape(8, 64, 32, 32, 128, 1, 2, 0)),
            kd::dnnl_available() ? kd::ConvAlgo::DnnlPlain : kd::ConvAlgo::Im2col);  // 1x1: plain
}

}  // namespace
}  // namespace gpunet
