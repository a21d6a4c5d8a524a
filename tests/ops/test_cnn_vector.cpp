// The vector CNN kernels (kernels/cpu/cnn_vector.h; AVX-512 and AVX2, each level the CPU has)
// against the portable loops they replace (Isa::Generic), on random data, data with a large
// mean, and NaN / inf / signed zeros / huge values. Tolerances (eps = float epsilon):
//   erf:             <= 3 ulp of the correctly rounded erf (std::erf in double), dense sweep
//   gelu, silu:      |fast - ref| <= 8 eps (|ref| + s), s = |x| for gelu, 0 for silu (the
//                    reference's 1 + erf / 1 + tanh cancels for negative x); backward
//                    s = |dout| (1 + |x|)
//   batch norm:      out and statistics 1e-5 (1 + |ref|); dweight, dbias 2e-5 sum |terms|
//   avg pools:       1e-6 (1 + |ref|) (rows are summed first)
//   general max pool: bit-identical values and argmax
// NaN where the reference has NaN, the same infinities. Also: a small conv + BN + GELU + pool
// training step allocates nothing from the system after the first (memory::stats).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gpunet/gpunet.h"
#include "gpunet/optim/sgd.h"
#include "kernels/activation.h"
#include "kernels/batch_norm.h"
#include "kernels/cpu/cnn_vector.h"
#include "kernels/cpu/isa.h"
#include "kernels/max_pool2d.h"
#include "kernels/pooling.h"

namespace gpunet {
namespace {

using kernels::cpu::Isa;
namespace kc = kernels::cpu;
constexpr float kEps = std::numeric_limits<float>::epsilon();
constexpr float kInf = std::numeric_limits<float>::infinity();

struct IsaRestore {
  ~IsaRestore() { kc::set_isa_for_testing(kc::default_isa()); }
};
std::vector<Isa> vector_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Avx512, Isa::Avx2})
    if (static_cast<int>(kc::detected_isa()) >= static_cast<int>(isa)) v.push_back(isa);
  return v;
}
const char* name(Isa isa) { return isa == Isa::Avx512 ? "avx512" : "avx2"; }

// Normal values (scale), then specials and a sweep of [-12, 12] at the end.
std::vector<float> data(size_t n, float scale, float offset, uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = offset + scale * normal(rng);
  if (specials) {
    const float sp[] = {std::nanf(""), -std::nanf(""), kInf, -kInf, 0.0f, -0.0f, 1e30f, -1e30f, 1e-40f, -1e-40f,
                        88.0f, -88.0f, 89.0f, -89.0f, 104.0f, -104.0f, 1e13f, -1e13f, 3.9f, -3.9f, 1.0f, -1.0f};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0] && i < n; ++i) v[i] = sp[i];
    for (size_t i = 32; i < n; i += 3) v[i] = -12.0f + 24.0f * static_cast<float>(i) / static_cast<float>(n);
  }
  return v;
}

// |a - b| <= tol, NaN against NaN, infinities equal.
::testing::AssertionResult close(float a, float b, double tol, const char* what, size_t i, float x) {
  if (std::isnan(b) && std::isnan(a)) return ::testing::AssertionSuccess();
  if (std::isinf(b) || std::isinf(a) || std::isnan(a) || std::isnan(b)) {
    if (a == b) return ::testing::AssertionSuccess();
  } else if (a == b || std::fabs(static_cast<double>(a) - b) <= tol) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << what << "[" << i << "] (x = " << x << "): fast " << a << " ref " << b
                                       << " tol " << tol;
}

TEST(CnnVector, ErfWithinThreeUlp) {
  std::vector<float> x;
  for (float v = -6.0f; v <= 6.0f; v += 1.0f / 4096) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-40f, 1e-20f, kInf, -kInf, 3.92f, 0.99999f, 1.00001f}) x.push_back(v);
  for (Isa isa : vector_isas()) {
    std::vector<float> out(x.size());
    ASSERT_TRUE(kc::fast::erf(isa, static_cast<int64_t>(x.size()), x.data(), out.data()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = static_cast<float>(std::erf(static_cast<double>(x[i])));
      const double ulp = std::max<double>(std::nextafter(std::fabs(want), kInf) - std::fabs(want), 1.4e-45);
      worst = std::max(worst, std::fabs(static_cast<double>(out[i]) - want) / ulp);
    }
    std::printf("%s erf: worst %.2f ulp over %zu points\n", name(isa), worst, x.size());
    EXPECT_LE(worst, 3.0) << name(isa);
    const float nan = std::nanf("");
    float o = 0;
    kc::fast::erf(isa, 1, &nan, &o);
    EXPECT_TRUE(std::isnan(o));
  }
}

enum class Act { GeluExact, GeluTanh, Silu };

TEST(CnnVector, ActivationsMatchReference) {
  IsaRestore restore;
  for (size_t n : {size_t{1}, size_t{15}, size_t{17}, size_t{4099}, size_t{200003}}) {
    const auto x = data(n, 3.0f, 0.0f, 7 + static_cast<uint32_t>(n), n > 40);
    const auto g = data(n, 1.0f, 0.0f, 99, false);
    for (Act act : {Act::GeluExact, Act::GeluTanh, Act::Silu}) {
      auto run = [&](Isa isa, std::vector<float>& out, std::vector<float>& dx) {
        kc::set_isa_for_testing(isa);
        out.assign(n, -7.0f);
        dx.assign(n, -7.0f);
        if (act == Act::Silu) {
          kc::silu_forward<float>(n, x.data(), out.data());
          kc::silu_backward<float>(n, x.data(), g.data(), dx.data());
        } else {
          kc::gelu_forward<float>(n, x.data(), act == Act::GeluTanh, out.data());
          kc::gelu_backward<float>(n, x.data(), g.data(), act == Act::GeluTanh, dx.data());
        }
      };
      std::vector<float> ro, rd;
      run(Isa::Generic, ro, rd);
      for (Isa isa : vector_isas()) {
        std::vector<float> fo, fd;
        run(isa, fo, fd);
        const char* what = act == Act::Silu ? "silu" : act == Act::GeluTanh ? "gelu_tanh" : "gelu";
        for (size_t i = 0; i < n; ++i) {
          const double s = act == Act::Silu ? 0.0 : std::fabs(x[i]);
          ASSERT_TRUE(close(fo[i], ro[i], 8 * kEps * (std::fabs(ro[i]) + s) + 1e-44, what, i, x[i])) << name(isa);
          const double sb = std::fabs(g[i]) * (1.0 + std::fabs(x[i]));
          ASSERT_TRUE(close(fd[i], rd[i], 8 * kEps * (std::fabs(rd[i]) + sb) + 1e-44, what, i, x[i])) << name(isa);
        }
      }
    }
  }
}

struct BnOut {
  std::vector<float> out, mean, invstd, rm, rv, dx, dw, db;
};
BnOut run_bn(Isa isa, const kernels::BatchNormShape& s, const std::vector<float>& x, const std::vector<float>& g,
             bool affine, bool train, bool track) {
  kc::set_isa_for_testing(isa);
  const size_t C = s.C;
  BnOut r{std::vector<float>(x.size()), std::vector<float>(C), std::vector<float>(C), std::vector<float>(C, 0.3f),
          std::vector<float>(C, 1.7f), std::vector<float>(x.size()), std::vector<float>(C), std::vector<float>(C)};
  std::vector<float> w(C), b(C);
  for (size_t c = 0; c < C; ++c) {
    w[c] = 0.5f + 0.1f * static_cast<float>(c);
    b[c] = -0.2f * static_cast<float>(c);
  }
  kc::batch_norm_forward<float>(s, x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr,
                                track ? r.rm.data() : nullptr, track ? r.rv.data() : nullptr, train, 0.1, 1e-5,
                                r.out.data(), r.mean.data(), r.invstd.data());
  kc::batch_norm_backward<float>(s, x.data(), affine ? w.data() : nullptr, r.mean.data(), r.invstd.data(), train,
                                 g.data(), r.dx.data(), affine ? r.dw.data() : nullptr, affine ? r.db.data() : nullptr);
  return r;
}

TEST(CnnVector, BatchNormMatchesReference) {
  IsaRestore restore;
  struct Case {
    int N, C;
    int64_t HW;
    float offset;
  };
  for (Case k : {Case{2, 3, 1, 0.0f}, Case{4, 5, 7, 0.0f}, Case{8, 16, 33, 0.0f}, Case{16, 8, 1024, 0.0f},
                 Case{4, 4, 256, 1000.0f}, Case{3, 2, 4099, -5.0f},
                 Case{2, 1030, 3, 0.0f}}) {  // more channels than the plane-order pass takes
    const kernels::BatchNormShape s{k.N, k.C, k.HW};
    const size_t n = static_cast<size_t>(k.N) * k.C * k.HW;
    const auto x = data(n, 2.0f, k.offset, 3, k.HW == 7);  // NaN, inf in the first channels
    const auto g = data(n, 1.0f, 0.1f, 4, false);
    for (int mode = 0; mode < 4; ++mode) {
      const bool affine = mode & 1, train = mode != 2, track = mode >= 2;
      const BnOut ref = run_bn(Isa::Generic, s, x, g, affine, train, track);
      for (Isa isa : vector_isas()) {
        const BnOut f = run_bn(isa, s, x, g, affine, train, track);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(close(f.out[i], ref.out[i], 1e-5 * (1 + std::fabs(ref.out[i])), "bn out", i, x[i]))
              << name(isa) << " mode " << mode << " N " << k.N << " HW " << k.HW;
          ASSERT_TRUE(close(f.dx[i], ref.dx[i], 1e-5 * (1 + std::fabs(ref.dx[i])), "bn dx", i, x[i]))
              << name(isa) << " mode " << mode << " N " << k.N << " HW " << k.HW;
        }
        for (int c = 0; c < k.C; ++c) {
          const float* v[] = {f.mean.data(), f.invstd.data(), f.rm.data(), f.rv.data()};
          const float* w[] = {ref.mean.data(), ref.invstd.data(), ref.rm.data(), ref.rv.data()};
          for (int j = 0; j < 4; ++j)
            ASSERT_TRUE(close(v[j][c], w[j][c], 1e-5 * (1 + std::fabs(w[j][c])), "bn stat", c * 4 + j, 0.0f))
                << name(isa) << " mode " << mode;
          double abs_g = 0, abs_gx = 0;  // sum |terms| of dbias and dweight
          for (int nn = 0; nn < k.N; ++nn)
            for (int64_t i = 0; i < k.HW; ++i) {
              const size_t e = (static_cast<size_t>(nn) * k.C + c) * k.HW + i;
              abs_g += std::fabs(g[e]);
              abs_gx += std::fabs(g[e] * (x[e] - ref.mean[c]) * ref.invstd[c]);
            }
          ASSERT_TRUE(close(f.db[c], ref.db[c], 2e-5 * abs_g, "bn dbias", c, 0.0f)) << name(isa);
          ASSERT_TRUE(close(f.dw[c], ref.dw[c], 2e-5 * abs_gx + 1e-6, "bn dweight", c, 0.0f)) << name(isa);
        }
      }
    }
  }
}

// PyTorch's output size, ceil_mode included.
kernels::Pool2dShape pool_shape(int N, int C, int H, int W, int K, int stride, int pad, bool ceil) {
  auto out = [&](int L) {
    int o = (L + 2 * pad - K + (ceil ? stride - 1 : 0)) / stride + 1;
    if (ceil && (o - 1) * stride >= L + pad) --o;
    return o;
  };
  return {N, C, H, W, K, stride, out(H), out(W), pad};
}

struct PoolCase {
  int H, W, K, stride, pad;
  bool ceil;
};
const PoolCase kPools[] = {{32, 32, 3, 2, 1, false}, {16, 16, 3, 1, 1, false}, {7, 9, 2, 1, 0, false},
                           {13, 11, 3, 3, 1, true},   {33, 40, 4, 2, 2, false}, {5, 5, 5, 1, 2, false},
                           {9, 9, 3, 2, 0, true},     {32, 32, 2, 2, 0, false}, {1, 1, 1, 1, 0, false},
                           {11, 13, 3, 3, 0, true},   {9, 7, 2, 2, 0, false}};

TEST(CnnVector, AvgPoolsMatchReference) {
  IsaRestore restore;
  for (const PoolCase& p : kPools)
    for (bool cip : {true, false}) {
      const auto s = pool_shape(2, 3, p.H, p.W, p.K, p.stride, p.pad, p.ceil);
      const auto x = data(static_cast<size_t>(2) * 3 * p.H * p.W, 1.0f, 0.5f, 11, false);
      const auto g = data(static_cast<size_t>(2) * 3 * s.OH * s.OW, 1.0f, 0.0f, 12, false);
      auto run = [&](Isa isa, std::vector<float>& out, std::vector<float>& dx) {
        kc::set_isa_for_testing(isa);
        out.assign(g.size(), -7.0f);
        dx.assign(x.size(), -7.0f);
        kc::avg_pool2d_forward<float>(s, cip, x.data(), out.data());
        kc::avg_pool2d_backward<float>(s, cip, g.data(), dx.data());
      };
      std::vector<float> ro, rd;
      run(Isa::Generic, ro, rd);
      for (Isa isa : vector_isas()) {
        std::vector<float> fo, fd;
        run(isa, fo, fd);
        for (size_t i = 0; i < fo.size(); ++i)
          ASSERT_TRUE(close(fo[i], ro[i], 1e-6 * (1 + std::fabs(ro[i])), "avg out", i, 0.0f))
              << name(isa) << " H " << p.H << " K " << p.K << " s " << p.stride << " pad " << p.pad;
        for (size_t i = 0; i < fd.size(); ++i)
          ASSERT_TRUE(close(fd[i], rd[i], 1e-6 * (1 + std::fabs(rd[i])), "avg dx", i, 0.0f))
              << name(isa) << " H " << p.H << " K " << p.K << " s " << p.stride << " pad " << p.pad;
      }
    }
  struct Ad {
    int H, W, OH, OW;
  };
  for (Ad a : {Ad{32, 32, 1, 1}, Ad{7, 7, 3, 3}, Ad{5, 9, 5, 2}, Ad{4, 4, 7, 6}, Ad{1, 1, 1, 1}, Ad{37, 3, 1, 1}}) {
    const kernels::AdaptivePool2dShape s{3, 5, a.H, a.W, a.OH, a.OW};
    const auto x = data(static_cast<size_t>(15) * a.H * a.W, 1.0f, 0.5f, 13, false);
    const auto g = data(static_cast<size_t>(15) * a.OH * a.OW, 1.0f, 0.0f, 14, false);
    auto run = [&](Isa isa, std::vector<float>& out, std::vector<float>& dx) {
      kc::set_isa_for_testing(isa);
      out.assign(g.size(), -7.0f);
      dx.assign(x.size(), -7.0f);
      kc::adaptive_avg_pool2d_forward<float>(s, x.data(), out.data());
      kc::adaptive_avg_pool2d_backward<float>(s, g.data(), dx.data());
    };
    std::vector<float> ro, rd;
    run(Isa::Generic, ro, rd);
    for (Isa isa : vector_isas()) {
      std::vector<float> fo, fd;
      run(isa, fo, fd);
      for (size_t i = 0; i < fo.size(); ++i)
        ASSERT_TRUE(close(fo[i], ro[i], 1e-6 * (1 + std::fabs(ro[i])), "adaptive out", i, 0.0f)) << name(isa);
      for (size_t i = 0; i < fd.size(); ++i)
        ASSERT_TRUE(close(fd[i], rd[i], 1e-6 * (1 + std::fabs(rd[i])), "adaptive dx", i, 0.0f)) << name(isa);
    }
  }
}

TEST(CnnVector, GeneralMaxPoolBitIdentical) {
  IsaRestore restore;
  for (const PoolCase& p : kPools)
    for (int kind = 0; kind < 3; ++kind) {
      const auto s = pool_shape(2, 3, p.H, p.W, p.K, p.stride, p.pad, p.ceil);
      auto x = data(static_cast<size_t>(2) * 3 * p.H * p.W, 1.0f, 0.0f, 21 + kind, kind == 2);
      if (kind == 1)
        for (auto& v : x) v = std::round(v);  // ties
      auto run = [&](Isa isa, std::vector<float>& out, std::vector<int32_t>& am) {
        kc::set_isa_for_testing(isa);
        out.assign(static_cast<size_t>(2) * 3 * s.OH * s.OW, -7.0f);
        am.assign(out.size(), -1);
        kc::max_pool2d_forward<float>(s, x.data(), out.data(), am.data());
      };
      std::vector<float> ro;
      std::vector<int32_t> ra;
      run(Isa::Generic, ro, ra);
      for (Isa isa : vector_isas()) {
        std::vector<float> fo;
        std::vector<int32_t> fa;
        run(isa, fo, fa);
        EXPECT_EQ(std::memcmp(fo.data(), ro.data(), fo.size() * sizeof(float)), 0)
            << name(isa) << " H " << p.H << " K " << p.K << " s " << p.stride << " kind " << kind;
        EXPECT_EQ(fa, ra) << name(isa) << " H " << p.H << " K " << p.K << " s " << p.stride << " kind " << kind;
      }
    }
}

// A small conv + BN + GELU + pools training step: after the first, no new system allocations.
TEST(CnnVector, TrainingStepAllocatesNothingAfterTheFirst) {
  Generator gen(5);
  nn::Conv2d conv(3, 8, 3, 1, 1, true, gen);
  nn::Linear fc(8, 10, true, gen);
  Tensor bw = Tensor::ones({8}).requires_grad_(), bb = Tensor::zeros({8}).requires_grad_();
  Tensor rm = Tensor::zeros({8}), rv = Tensor::ones({8});
  std::vector<Tensor> params = conv.parameters();
  for (const Tensor& t : fc.parameters()) params.push_back(t);
  params.push_back(bw);
  params.push_back(bb);
  optim::SGDOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  optim::SGD opt(params, o);
  const Tensor x = Tensor::normal({4, 3, 16, 16}, 0.0f, 1.0f, gen);
  const Tensor y = Tensor::from_vector<int64_t>({1, 2, 3, 4}, {4});
  size_t after_first = 0;
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    Tensor h = ops::batch_norm2d(conv(x), bw, bb, rm, rv, true);
    h = ops::max_pool2d(ops::gelu(h), 3, 2, 1);
    h = ops::avg_pool2d(ops::silu(h), 2);
    h = ops::adaptive_avg_pool2d(h, 1).flatten(1);
    Tensor loss = ops::cross_entropy(fc(h), y);
    loss.backward();
    opt.step();
    const size_t allocs = memory::stats(Device::cpu()).system_allocs;
    if (step == 0) after_first = allocs;
    EXPECT_EQ(allocs, after_first) << "step " << step;
  }
}

}  // namespace
}  // namespace gpunet
