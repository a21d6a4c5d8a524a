// Every CPU backward kernel against central finite differences, in double (eps 1e-6), with
// inputs kept away from kinks (relu zero, max-pool ties). The scalar checked is
// L = sum(out * u) with fixed random u, so dout = u. Outputs are poisoned (NaN) before each
// kernel runs, so an element a kernel forgets to write fails the comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/conv2d.h"
#include "kernels/cross_entropy.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/max_pool2d.h"
#include "support/assert_close.h"
#include "support/gradcheck.h"

namespace gpunet {
namespace {

using test::dot;
using test::numeric_grad;
using test::random_vector;
namespace kc = kernels::cpu;

// Finite differences in double: truncation ~eps^2, rounding ~1e-16/eps.
constexpr double kAtol = 1e-7, kRtol = 1e-6;

std::vector<double> poisoned(size_t n) {
  std::vector<double> v(n);
  test::poison(v);
  return v;
}

struct ConvCase {
  int stride, pad;
  bool bias;
};

class Conv2dGrad : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dGrad, MatchesFiniteDifferences) {
  const ConvCase c = GetParam();
  kernels::Conv2dShape s{2, 3, 6, 7, 4, 3, 2, c.stride, c.pad, 0, 0};
  s.OH = (s.H + 2 * s.pad - s.KH) / s.stride + 1;
  s.OW = (s.W + 2 * s.pad - s.KW) / s.stride + 1;
  auto x = random_vector(static_cast<size_t>(s.N) * s.IC * s.H * s.W, 1);
  auto w = random_vector(static_cast<size_t>(s.OC) * s.IC * s.KH * s.KW, 2);
  auto b = random_vector(s.OC, 3);
  const size_t out_n = static_cast<size_t>(s.N) * s.OC * s.OH * s.OW;
  const auto u = random_vector(out_n, 4);
  std::vector<double> out(out_n);
  auto loss = [&] {
    kc::conv2d_forward<double>(s, x.data(), w.data(), c.bias ? b.data() : nullptr, out.data());
    return dot(out, u);
  };
  auto dx = poisoned(x.size()), dw = poisoned(w.size()), db = poisoned(b.size());
  kc::conv2d_backward<double>(s, x.data(), w.data(), u.data(), dx.data(), dw.data(), c.bias ? db.data() : nullptr);
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
  EXPECT_ALL_CLOSE(dw, numeric_grad(loss, w), kAtol, kRtol);
  if (c.bias) EXPECT_ALL_CLOSE(db, numeric_grad(loss, b), kAtol, kRtol);

  // Each gradient alone (the others nullptr) gives the same values.
  auto dx2 = poisoned(x.size()), dw2 = poisoned(w.size());
  kc::conv2d_backward<double>(s, x.data(), w.data(), u.data(), dx2.data(), nullptr, nullptr);
  kc::conv2d_backward<double>(s, x.data(), w.data(), u.data(), nullptr, dw2.data(), nullptr);
  EXPECT_ALL_CLOSE(dx2, dx, 0.0, 1e-12);
  EXPECT_ALL_CLOSE(dw2, dw, 0.0, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(StridePadBias, Conv2dGrad,
                         ::testing::Values(ConvCase{1, 0, true}, ConvCase{1, 1, false}, ConvCase{2, 0, false},
                                           ConvCase{2, 1, true}, ConvCase{3, 2, true}));

// Distinct values 0.01 apart, shuffled: no two candidates of a window are within eps.
std::vector<double> distinct_values(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (auto& x : v) x = (x - n / 2.0) * 0.01;
  return v;
}

struct PoolCase {
  int K, stride, H, W;
  int pad = 0, OH = 0, OW = 0;  // OH/OW 0: floor mode without padding
};
class MaxPool2dGrad : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaxPool2dGrad, MatchesFiniteDifferences) {
  const PoolCase c = GetParam();
  kernels::Pool2dShape s{2, 3, c.H, c.W, c.K, c.stride, (c.H - c.K) / c.stride + 1, (c.W - c.K) / c.stride + 1};
  if (c.OH) {
    s.pad = c.pad;
    s.OH = c.OH;
    s.OW = c.OW;
  }
  auto x = distinct_values(static_cast<size_t>(s.N) * s.C * s.H * s.W, 5);
  const size_t out_n = static_cast<size_t>(s.N) * s.C * s.OH * s.OW;
  const auto u = random_vector(out_n, 6);
  std::vector<double> out(out_n);
  std::vector<int32_t> arg(out_n);
  auto loss = [&] {
    kc::max_pool2d_forward<double>(s, x.data(), out.data(), arg.data());
    return dot(out, u);
  };
  loss();
  auto dx = poisoned(x.size());
  kc::max_pool2d_backward<double>(s, u.data(), arg.data(), dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

INSTANTIATE_TEST_SUITE_P(KernelStride, MaxPool2dGrad,
                         ::testing::Values(PoolCase{2, 2, 8, 6}, PoolCase{3, 2, 9, 7}, PoolCase{2, 2, 7, 5},
                                           PoolCase{3, 1, 5, 5},
                                           // padded: (9 + 2 - 3) / 2 + 1 = 5, (7 + 2 - 3) / 2 + 1 = 4
                                           PoolCase{3, 2, 9, 7, 1, 5, 4},
                                           // ceil mode: a last window hanging over the end
                                           PoolCase{2, 2, 7, 5, 0, 4, 3}, PoolCase{3, 2, 8, 8, 1, 5, 5}));

TEST(LinearGrad, MatchesFiniteDifferences) {
  const int N = 4, IN = 6, OUT = 3;
  auto x = random_vector(N * IN, 7), w = random_vector(OUT * IN, 8), b = random_vector(OUT, 9);
  const auto u = random_vector(N * OUT, 10);
  std::vector<double> out(N * OUT);
  auto loss = [&] {
    kc::linear_forward<double>(N, IN, OUT, x.data(), w.data(), b.data(), out.data());
    return dot(out, u);
  };
  auto dx = poisoned(x.size()), dw = poisoned(w.size()), db = poisoned(b.size());
  kc::linear_backward<double>(N, IN, OUT, x.data(), w.data(), u.data(), dx.data(), dw.data(), db.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
  EXPECT_ALL_CLOSE(dw, numeric_grad(loss, w), kAtol, kRtol);
  EXPECT_ALL_CLOSE(db, numeric_grad(loss, b), kAtol, kRtol);
}

TEST(ReluGrad, MatchesFiniteDifferencesAwayFromZero) {
  auto x = random_vector(40, 11);
  for (auto& v : x) v = v < 0 ? v - 0.1 : v + 0.1;  // |x| >= 0.1: no kink within eps
  const auto u = random_vector(x.size(), 12);
  std::vector<double> out(x.size());
  auto loss = [&] {
    kc::relu_forward<double>(x.size(), x.data(), out.data());
    return dot(out, u);
  };
  loss();
  auto dx = poisoned(x.size());
  kc::relu_backward<double>(x.size(), out.data(), u.data(), dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

TEST(MulGrad, ScalarBroadcastSums) {
  // out = a * b[0]; d/db = sum(u * a): the kernel pieces the front end composes.
  auto a = random_vector(10, 13), b = random_vector(1, 14);
  const auto u = random_vector(a.size(), 15);
  std::vector<double> out(a.size());
  auto loss = [&] {
    kc::binary<double>(kernels::BinaryOp::Mul, a.size(), a.data(), b.data(), true, out.data());
    return dot(out, u);
  };
  std::vector<double> ua(a.size()), db(1);
  kc::binary<double>(kernels::BinaryOp::Mul, a.size(), u.data(), a.data(), false, ua.data());
  kc::sum<double>(ua.size(), ua.data(), db.data());
  EXPECT_ALL_CLOSE(db, numeric_grad(loss, b), kAtol, kRtol);
}

TEST(LogSoftmaxGrad, MatchesFiniteDifferences) {
  const int N = 3, C = 5;
  auto x = random_vector(N * C, 16, -3, 3);
  const auto u = random_vector(x.size(), 17);
  std::vector<double> out(x.size());
  auto loss = [&] {
    kc::log_softmax_forward<double>(N, C, x.data(), out.data());
    return dot(out, u);
  };
  loss();
  auto dx = poisoned(x.size());
  kc::log_softmax_backward<double>(N, C, out.data(), u.data(), dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

TEST(NllGrad, MatchesFiniteDifferences) {
  const int N = 4, C = 6;
  auto logp = random_vector(N * C, 18, -4, 0);
  const std::vector<int64_t> t{0, 5, 2, 2};
  const double dloss = 1.7;
  double loss_v = 0;
  auto loss = [&] {
    kc::nll_forward<double>(N, C, logp.data(), t.data(), &loss_v);
    return loss_v * dloss;
  };
  auto d = poisoned(logp.size());
  kc::nll_backward<double>(N, C, t.data(), &dloss, d.data());
  EXPECT_ALL_CLOSE(d, numeric_grad(loss, logp), kAtol, kRtol);
}

struct CeCase {
  double smoothing;
  int reduction;  // 0 mean, 1 sum, 2 none
};
class CrossEntropyGrad : public ::testing::TestWithParam<CeCase> {};

TEST_P(CrossEntropyGrad, MatchesFiniteDifferencesAndComposition) {
  const CeCase c = GetParam();
  const int N = 5, C = 7;
  auto x = random_vector(N * C, 19, -5, 5);
  const std::vector<int64_t> t{6, 0, 3, 3, 1};
  const bool per_row = c.reduction == 2;
  const double scale = c.reduction == 0 ? 1.0 / N : 1.0;
  // upstream gradient: one value (mean, sum) or one per row (none)
  const auto dloss = per_row ? random_vector(N, 31) : std::vector<double>{0.6};
  std::vector<double> rows(N), probs(x.size());
  double loss_v = 0;
  auto loss = [&] {
    kc::cross_entropy_forward<double>(N, C, x.data(), t.data(), c.smoothing, rows.data(), probs.data());
    if (per_row) return dot(rows, dloss);
    kc::cross_entropy_reduce<double>(N, rows.data(), scale, &loss_v);
    return loss_v * dloss[0];
  };
  loss();
  auto d = poisoned(x.size());
  kc::cross_entropy_backward<double>(N, C, probs.data(), t.data(), c.smoothing, dloss.data(), per_row, scale, d.data());
  EXPECT_ALL_CLOSE(d, numeric_grad(loss, x), kAtol, kRtol);

  // Without smoothing the mean loss equals nll(log_softmax(x)); probs equal softmax(x); with
  // smoothing, each row is (1 - ls) * nll + ls * mean_c(-logp).
  loss();  // numeric_grad left rows/probs at a perturbed point: recompute at x
  std::vector<double> logp(x.size()), sm(x.size());
  kc::log_softmax_forward<double>(N, C, x.data(), logp.data());
  kc::softmax_forward<double>(N, C, x.data(), sm.data());
  std::vector<double> expect(N);
  for (int i = 0; i < N; ++i) {
    double all = 0;
    for (int k = 0; k < C; ++k) all -= logp[i * C + k];
    expect[i] = (1 - c.smoothing) * -logp[i * C + t[i]] + c.smoothing / C * all;
  }
  EXPECT_ALL_CLOSE(rows, expect, 1e-14, 1e-12);
  EXPECT_ALL_CLOSE(probs, sm, 1e-15, 1e-12);
  if (c.smoothing == 0.0 && c.reduction == 0) {
    double nll = 0;
    kc::nll_forward<double>(N, C, logp.data(), t.data(), &nll);
    EXPECT_ALL_CLOSE(std::vector<double>{loss_v}, std::vector<double>{nll}, 1e-14, 1e-12);
  }
}

INSTANTIATE_TEST_SUITE_P(SmoothingReduction, CrossEntropyGrad,
                         ::testing::Values(CeCase{0.0, 0}, CeCase{0.0, 1}, CeCase{0.0, 2}, CeCase{0.1, 0},
                                           CeCase{0.3, 1}, CeCase{0.5, 2}));

TEST(SumGrad, BroadcastScalarIsTheGradientOfMean) {
  auto x = random_vector(9, 20);
  double s = 0;
  auto loss = [&] {
    kc::sum<double>(x.size(), x.data(), &s);
    return s / x.size() * 2.5;
  };
  const double g = 2.5;
  auto dx = poisoned(x.size());
  kc::broadcast_scalar<double>(x.size(), &g, 1.0 / x.size(), dx.data());
  EXPECT_ALL_CLOSE(dx, numeric_grad(loss, x), kAtol, kRtol);
}

}  // namespace
}  // namespace gpunet
