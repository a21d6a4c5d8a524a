// NCHW <-> nChw16c (kernels/cpu/reorder16.h): both directions against a scalar loop over the
// layout's definition, for pixel counts below, at and above multiples of 16 (1, 9, 15, 16, 49,
// 225, 1024); a round trip is the identity; and a blocked oneDNN convolution gives the same bits
// through these kernels as through oneDNN's own reorders.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_dnnl.h"
#include "kernels/cpu/reorder16.h"

namespace gpunet {
namespace {

namespace kd = kernels::cpu::detail;

std::vector<float> random_vec(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(Reorder16, BothDirectionsFollowTheLayoutsDefinition) {
  if (!kd::reorder16_available()) GTEST_SKIP() << "no AVX-512 here: oneDNN's reorders run instead";
  unsigned seed = 1;
  for (int64_t P : {1, 9, 15, 16, 17, 49, 225, 1024})
    for (int64_t C : {16, 32, 64}) {
      const int64_t N = 3;
      SCOPED_TRACE(::testing::Message() << "N=" << N << " C=" << C << " P=" << P);
      const auto x = random_vec(static_cast<size_t>(N * C * P), seed++);
      std::vector<float> blocked(x.size(), NAN), back(x.size(), NAN), want(x.size());
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t p = 0; p < P; ++p)
            want[static_cast<size_t>(((n * (C / 16) + c / 16) * P + p) * 16 + c % 16)] =
                x[static_cast<size_t>((n * C + c) * P + p)];
      kd::nchw_to_nchw16c(x.data(), blocked.data(), N, C, P);
      EXPECT_EQ(blocked, want);
      kd::nchw16c_to_nchw(blocked.data(), back.data(), N, C, P);
      EXPECT_EQ(back, x);
    }
}

// Forward, dx, dw and db of blocked oneDNN convolutions with 16k channels (the reorders these
// kernels replace) and one with 24 (oneDNN's own, padded), the same bits either way.
TEST(Reorder16, BlockedConvolutionsGiveTheSameBitsAsWithOneDnnsReorders) {
  if (!kd::dnnl_available()) GTEST_SKIP() << "gpunet was built without oneDNN";
  struct Restore {
    ~Restore() { kd::set_dnnl_own_reorders_for_testing(true); }
  } restore;
  unsigned seed = 50;
  for (const kernels::Conv2dShape& s0 :
       {kernels::Conv2dShape{2, 32, 15, 15, 64, 3, 3, 1, 1, 0, 0}, kernels::Conv2dShape{3, 64, 7, 7, 32, 3, 3, 2, 1, 0, 0},
        kernels::Conv2dShape{2, 24, 9, 9, 40, 3, 3, 1, 1, 0, 0}}) {
    kernels::Conv2dShape s = s0;
    s.OH = (s.H + 2 * s.pad - s.KH) / s.stride + 1;
    s.OW = (s.W + 2 * s.pad - s.KW) / s.stride + 1;
    SCOPED_TRACE(::testing::Message() << s.IC << "->" << s.OC << " on " << s.H << "x" << s.W << " stride " << s.stride);
    const auto x = random_vec(static_cast<size_t>(s.N) * s.IC * s.H * s.W, seed++);
    const auto w = random_vec(static_cast<size_t>(s.OC) * s.IC * 9, seed++);
    const auto b = random_vec(static_cast<size_t>(s.OC), seed++);
    const auto g = random_vec(static_cast<size_t>(s.N) * s.OC * s.OH * s.OW, seed++);
    std::vector<float> out[2], dx[2], dw[2], db[2];
    for (int own = 0; own < 2; ++own) {
      kd::set_dnnl_own_reorders_for_testing(own == 1);
      out[own].assign(g.size(), NAN);
      dx[own].assign(x.size(), NAN);
      dw[own].assign(w.size(), NAN);
      db[own].assign(b.size(), NAN);
      ASSERT_TRUE(kd::conv2d_dnnl_forward(s, x.data(), w.data(), b.data(), out[own].data(), kd::DnnlLayout::Blocked));
      ASSERT_TRUE(kd::conv2d_dnnl_backward(s, x.data(), w.data(), g.data(), dx[own].data(), dw[own].data(),
                                           db[own].data(), kd::DnnlLayout::Blocked));
    }
    EXPECT_EQ(out[0], out[1]);
    EXPECT_EQ(dx[0], dx[1]);
    EXPECT_EQ(dw[0], dw[1]);
    EXPECT_EQ(db[0], db[1]);
  }
}

}  // namespace
}  // namespace gpunet
