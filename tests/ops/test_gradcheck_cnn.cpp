// The CNN kernels of issue 12 against central finite differences in double (eps 1e-6), as
// test_gradcheck.cpp: L = sum(out * u) with fixed random u, outputs poisoned (NaN) first.
#include <gtest/gtest.h>

#include <cmath>

#include "gpunet/random.h"
#include "kernels/activation.h"
#include "kernels/batch_norm.h"
#include "kernels/broadcast.h"
#include "kernels/dropout.h"
#include "kernels/pooling.h"
#include "support/assert_close.h"
#include "support/gradcheck.h"

namespace gpunet {
namespace {

using test::dot;
using test::numeric_grad;
using test::random_vector;
namespace kc = kernels::cpu;

constexpr double kAtol = 1e-7, kRtol = 1e-6;

std::vector<double> poisoned(size_t n) {
  std::vector<double> v(n);
  test::poison(v);
  return v;
}

struct BnCase {
  bool affine, batch_stats, running;
};
class BatchNormGrad : public ::testing::TestWithParam<BnCase> {};

TEST_P(BatchNormGrad, MatchesFiniteDifferences) {
  const BnCase c = GetParam();
  const kernels::BatchNormShape s{3, 4, 6};  // N, C, H*W (e.g. 2x3)
  const size_t n = static_cast<size_t>(s.N) * s.C * s.HW;
  auto x = random_vector(n, 41, -2, 3);
  auto w = random_vector(s.C, 42, 0.5, 1.5), b = random_vector(s.C, 43);
  auto rm0 = random_vector(s.C, 44), rv0 = random_vector(s.C, 45, 0.5, 2.0);
  const auto u = random_vector(n, 46);
  std::vector<double> out(n), mean(s.C), invstd(s.C), rm, rv;
  auto loss = [&] {
    rm = rm0;
    rv = rv0;  // the running statistics are state, not an input of L
    kc::batch_norm_forward<double>(s, x.data(), c.affine ? w.data() : nullptr, c.affine ? b.data() : nullptr,
                                   c.running ? rm.data() : nullptr, c.running ? rv.data() : nullptr, c.batch_stats,
                                   0.1, 1e-5, out.data(), mean.data(), invstd.data());
    return dot(out, u);
  };
  loss();
  auto dx = poisoned(n), dw = poisoned(s.C), db = poisoned(s.C);
  kc::batch_norm_backward<double>(s, x.data(), c.affine ? w.data() : nullptr, mean.data(), invstd.data(),
                                  c.batch_stats, u.data(), dx.data(), dw.data(), db.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), 1e-6, 1e-5);
  if (c.affine) {
    EXPECT_ALL_CLOSE(dw, numeric_grad(loss, w), kAtol, kRtol);
    EXPECT_ALL_CLOSE(db, numeric_grad(loss, b), kAtol, kRtol);
  }
  // dx alone gives the same values (numeric_grad left mean/invstd at a perturbed x: recompute).
  loss();
  auto dx2 = poisoned(n);
  kc::batch_norm_backward<double>(s, x.data(), c.affine ? w.data() : nullptr, mean.data(), invstd.data(),
                                  c.batch_stats, u.data(), dx2.data(), nullptr, nullptr);
  EXPECT_ALL_CLOSE(dx2, dx, 0.0, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Modes, BatchNormGrad,
                         ::testing::Values(BnCase{true, true, true}, BnCase{false, true, false},
                                           BnCase{true, false, true}, BnCase{false, false, true}));

TEST(BatchNormStats, RunningStatisticsUseTheUnbiasedVariance) {
  const kernels::BatchNormShape s{2, 1, 2};
  const std::vector<double> x{1, 2, 3, 6};  // mean 3, biased var 3.5, unbiased 14/3
  std::vector<double> out(4), mean(1), invstd(1), rm{0.5}, rv{2.0};
  kc::batch_norm_forward<double>(s, x.data(), nullptr, nullptr, rm.data(), rv.data(), true, 0.25, 1e-5, out.data(),
                                 mean.data(), invstd.data());
  EXPECT_NEAR(mean[0], 3.0, 1e-15);
  EXPECT_NEAR(invstd[0], 1.0 / std::sqrt(3.5 + 1e-5), 1e-15);
  EXPECT_NEAR(rm[0], 0.75 * 0.5 + 0.25 * 3.0, 1e-15);
  EXPECT_NEAR(rv[0], 0.75 * 2.0 + 0.25 * 14.0 / 3.0, 1e-14);
}

class ActivationGrad : public ::testing::TestWithParam<int> {};  // 0 gelu, 1 gelu tanh, 2 silu

TEST_P(ActivationGrad, MatchesFiniteDifferences) {
  const int kind = GetParam();
  auto x = random_vector(50, 47, -5, 5);
  const auto u = random_vector(x.size(), 48);
  std::vector<double> out(x.size());
  auto loss = [&] {
    if (kind == 2) kc::silu_forward<double>(x.size(), x.data(), out.data());
    else kc::gelu_forward<double>(x.size(), x.data(), kind == 1, out.data());
    return dot(out, u);
  };
  auto dx = poisoned(x.size());
  if (kind == 2) kc::silu_backward<double>(x.size(), x.data(), u.data(), dx.data());
  else kc::gelu_backward<double>(x.size(), x.data(), u.data(), kind == 1, dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

INSTANTIATE_TEST_SUITE_P(GeluSilu, ActivationGrad, ::testing::Values(0, 1, 2));

struct AvgCase {
  int H, W, K, stride, pad, OH, OW;
  bool cip;
};
class AvgPool2dGrad : public ::testing::TestWithParam<AvgCase> {};

TEST_P(AvgPool2dGrad, MatchesFiniteDifferences) {
  const AvgCase c = GetParam();
  kernels::Pool2dShape s{2, 3, c.H, c.W, c.K, c.stride, c.OH, c.OW, c.pad};
  auto x = random_vector(static_cast<size_t>(s.N) * s.C * s.H * s.W, 49);
  const size_t out_n = static_cast<size_t>(s.N) * s.C * s.OH * s.OW;
  const auto u = random_vector(out_n, 50);
  std::vector<double> out(out_n);
  auto loss = [&] {
    kc::avg_pool2d_forward<double>(s, c.cip, x.data(), out.data());
    return dot(out, u);
  };
  auto dx = poisoned(x.size());
  kc::avg_pool2d_backward<double>(s, c.cip, u.data(), dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

INSTANTIATE_TEST_SUITE_P(KernelStridePad, AvgPool2dGrad,
                         ::testing::Values(AvgCase{8, 6, 2, 2, 0, 4, 3, true}, AvgCase{9, 7, 3, 2, 1, 5, 4, true},
                                           AvgCase{9, 7, 3, 2, 1, 5, 4, false},
                                           AvgCase{7, 7, 2, 2, 0, 4, 4, true},  // ceil mode
                                           AvgCase{8, 8, 3, 2, 1, 5, 5, false}));

struct AdaptiveCase {
  int H, W, OH, OW;
};
class AdaptiveAvgPool2dGrad : public ::testing::TestWithParam<AdaptiveCase> {};

TEST_P(AdaptiveAvgPool2dGrad, MatchesFiniteDifferences) {
  const AdaptiveCase c = GetParam();
  const kernels::AdaptivePool2dShape s{2, 2, c.H, c.W, c.OH, c.OW};
  auto x = random_vector(static_cast<size_t>(s.N) * s.C * s.H * s.W, 51);
  const size_t out_n = static_cast<size_t>(s.N) * s.C * s.OH * s.OW;
  const auto u = random_vector(out_n, 52);
  std::vector<double> out(out_n);
  auto loss = [&] {
    kc::adaptive_avg_pool2d_forward<double>(s, x.data(), out.data());
    return dot(out, u);
  };
  auto dx = poisoned(x.size());
  kc::adaptive_avg_pool2d_backward<double>(s, u.data(), dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

INSTANTIATE_TEST_SUITE_P(Sizes, AdaptiveAvgPool2dGrad,
                         ::testing::Values(AdaptiveCase{7, 5, 3, 2}, AdaptiveCase{6, 6, 1, 1},
                                           AdaptiveCase{5, 7, 4, 5}, AdaptiveCase{3, 4, 5, 7}));

TEST(DropoutGrad, IsTheSameMaskScaled) {
  auto x = random_vector(200, 53);
  const auto u = random_vector(x.size(), 54);
  std::vector<double> out(x.size());
  auto loss = [&] {
    kc::dropout_apply<double>(x.size(), x.data(), 0.3, 77, 5, out.data());
    return dot(out, u);
  };
  auto dx = poisoned(x.size());
  kc::dropout_apply<double>(u.size(), u.data(), 0.3, 77, 5, dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

TEST(DropoutMask, IsTheGeneratorsStreamAtSeedAndOffset) {
  // Element i's draw is Generator(seed) at counter offset + i: the same numbers a module's
  // generator would give, on every device.
  Generator g(77);
  g.set_state(77, 5);
  const uint32_t thr = kernels::dropout_threshold(0.3);
  std::vector<double> ones(1000, 1.0), out(1000);
  kc::dropout_apply<double>(ones.size(), ones.data(), 0.3, 77, 5, out.data());
  int kept = 0;
  for (size_t i = 0; i < ones.size(); ++i) {
    const bool keep = static_cast<uint32_t>(g.next_u64() >> 40) >= thr;
    ASSERT_EQ(out[i] != 0.0, keep) << i;
    if (keep) {
      ++kept;
      EXPECT_DOUBLE_EQ(out[i], 1.0 / 0.7);
    }
  }
  EXPECT_NEAR(kept, 700, 60);  // ~4.3 sigma of a binomial(1000, 0.7)
  EXPECT_EQ(kernels::dropout_threshold(0.0), 0u);
  EXPECT_EQ(kernels::dropout_threshold(1.0), 16777216u);
}

TEST(BroadcastGrad, MulSumsOverTheBroadcastDimensions) {
  // out = a [2,3,4] * b [3,1]: da = g * b, db = sum_to(g * a, [1,3,1]) (the kernels the front end composes)
  kernels::BroadcastShape s{3, {2, 3, 4}, {12, 4, 1}, {0, 1, 0}};
  auto a = random_vector(24, 55), b = random_vector(3, 56);
  const auto u = random_vector(24, 57);
  std::vector<double> out(24);
  auto loss = [&] {
    kc::broadcast_binary<double>(kernels::BroadcastOp::Mul, s, a.data(), b.data(), out.data());
    return dot(out, u);
  };
  std::vector<double> ua(24);
  kernels::BroadcastShape same{3, {2, 3, 4}, {12, 4, 1}, {12, 4, 1}};
  kc::broadcast_binary<double>(kernels::BroadcastOp::Mul, same, u.data(), a.data(), ua.data());
  auto db = poisoned(3);
  const kernels::SumToShape r{3, {2, 3, 4}, {1, 3, 1}};
  kc::sum_to<double>(r, ua.data(), db.data());
  EXPECT_ALL_CLOSE(db, numeric_grad(loss, b), kAtol, kRtol);
  std::vector<double> da(24);
  kc::broadcast_binary<double>(kernels::BroadcastOp::Mul, s, u.data(), b.data(), da.data());
  EXPECT_ALL_CLOSE(da, numeric_grad(loss, a), kAtol, kRtol);
}

TEST(BroadcastGrad, DivBothOperands) {
  kernels::BroadcastShape s{2, {3, 4}, {1, 0}, {0, 1}};  // a [3,1] / b [1,4]
  auto a = random_vector(3, 58), b = random_vector(4, 59, 0.5, 2.0);
  const auto u = random_vector(12, 60);
  std::vector<double> out(12);
  auto loss = [&] {
    kc::broadcast_binary<double>(kernels::BroadcastOp::Div, s, a.data(), b.data(), out.data());
    return dot(out, u);
  };
  loss();
  // da = sum_to(u / b), db = -sum_to(u * out / b)
  kernels::BroadcastShape ub{2, {3, 4}, {4, 1}, {0, 1}};
  std::vector<double> t(12), t2(12), da(3), db(4);
  kc::broadcast_binary<double>(kernels::BroadcastOp::Div, ub, u.data(), b.data(), t.data());
  kc::sum_to<double>(kernels::SumToShape{2, {3, 4}, {3, 1}}, t.data(), da.data());
  kernels::BroadcastShape full{2, {3, 4}, {4, 1}, {4, 1}};
  kc::broadcast_binary<double>(kernels::BroadcastOp::Mul, full, u.data(), out.data(), t.data());
  kc::broadcast_binary<double>(kernels::BroadcastOp::Div, ub, t.data(), b.data(), t2.data());
  kc::sum_to<double>(kernels::SumToShape{2, {3, 4}, {1, 4}}, t2.data(), db.data());
  for (auto& v : db) v = -v;
  EXPECT_ALL_CLOSE(da, numeric_grad(loss, a), kAtol, kRtol);
  EXPECT_ALL_CLOSE(db, numeric_grad(loss, b), kAtol, kRtol);
}

}  // namespace
}  // namespace gpunet
