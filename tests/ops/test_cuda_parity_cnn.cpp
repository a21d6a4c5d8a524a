// CUDA vs CPU for the CNN kernels of issue 12: each CUDA twin against the CPU twin (float) on
// the same inputs, with every output buffer poisoned (NaN) on both sides first, over odd shapes
// and batch 1; then the ops through autograd on cuda:0 against the CPU. atol 1e-5 / rtol 1e-4
// unless a comment says why. Every test skips (with the reason) where no GPU is usable; the file
// compiles in every build.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/ops.h"
#include "support/assert_close.h"
#include "support/gpu.h"

#if GPUNET_HAVE_CUDA
#include "kernels/activation.h"
#include "kernels/batch_norm.h"
#include "kernels/broadcast.h"
#include "kernels/cross_entropy.h"
#include "kernels/dropout.h"
#include "kernels/max_pool2d.h"
#include "kernels/pooling.h"
#endif

namespace gpunet {
namespace {

const Device kGpu = Device::cuda(0);

Tensor rand_cpu(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Generator g(seed);
  return Tensor::uniform(s, lo, hi, g);
}
// An output buffer filled with NaN, on the CPU or the GPU.
Tensor poison(const Shape& s, Device d) { return Tensor::full(s, std::nan(""), DType::Float32, d); }
float* F(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// Runs op on CPU copies and on cuda:0 copies of the inputs, compares the output and the
// gradients of the inputs marked in `grad` after a backward with the same upstream gradient.
using Inputs = std::vector<Tensor>;
void op_parity(const char* name, const Inputs& in, const std::vector<bool>& grad,
               const std::function<Tensor(const Inputs&)>& op, double atol = 1e-5, double rtol = 1e-4) {
  SCOPED_TRACE(name);
  Inputs a, b;
  for (size_t i = 0; i < in.size(); ++i) {
    a.push_back(in[i].clone());
    b.push_back(in[i].to(kGpu));
    if (i < grad.size() && grad[i]) {
      a.back().requires_grad_();
      b.back().requires_grad_();
    }
  }
  Tensor ya = op(a), yb = op(b);
  ASSERT_EQ(yb.device(), kGpu);
  EXPECT_ALL_CLOSE(yb, ya, atol, rtol);
  const Tensor up = rand_cpu(ya.shape(), 4242);
  ya.backward(up);
  yb.backward(up.to(kGpu));
  for (size_t i = 0; i < in.size(); ++i)
    if (i < grad.size() && grad[i]) {
      SCOPED_TRACE(testing::Message() << "gradient of input " << i);
      EXPECT_ALL_CLOSE(b[i].grad(), a[i].grad(), atol, rtol);
    }
}

#if GPUNET_HAVE_CUDA
namespace kc = kernels::cpu;
namespace kg = kernels::cuda;

TEST(CudaParityCnn, BatchNormKernels) {
  GPUNET_REQUIRE_GPU();
  struct Case {
    int N, C, H, W;
    bool affine, batch_stats;
  };
  for (const Case c : {Case{1, 3, 5, 7, true, true}, Case{4, 64, 9, 9, true, true}, Case{3, 5, 1, 1, false, true},
                       Case{2, 4, 67, 131, true, true}, Case{5, 6, 3, 3, true, false}, Case{1, 1, 1, 1, true, false}}) {
    SCOPED_TRACE(testing::Message() << c.N << "x" << c.C << "x" << c.H << "x" << c.W << (c.affine ? " affine" : "")
                                    << (c.batch_stats ? " batch" : " running"));
    const kernels::BatchNormShape s{c.N, c.C, static_cast<int64_t>(c.H) * c.W};
    const Shape xs{c.N, c.C, c.H, c.W};
    const Tensor x = rand_cpu(xs, 1, -2.f, 3.f), dout = rand_cpu(xs, 2);
    const Tensor w = c.affine ? rand_cpu({c.C}, 3, 0.5f, 1.5f) : Tensor(), b = c.affine ? rand_cpu({c.C}, 4) : Tensor();
    const Tensor rm = rand_cpu({c.C}, 5), rv = rand_cpu({c.C}, 6, 0.5f, 2.f);
    Tensor rm_c = rm.clone(), rv_c = rv.clone(), rm_g = rm.to(kGpu), rv_g = rv.to(kGpu);
    const Tensor xg = x.to(kGpu), dg = dout.to(kGpu), wg = w.defined() ? w.to(kGpu) : Tensor(),
                 bg = b.defined() ? b.to(kGpu) : Tensor();
    Tensor out_c = poison(xs, Device::cpu()), out_g = poison(xs, kGpu);
    Tensor m_c = poison({c.C}, Device::cpu()), m_g = poison({c.C}, kGpu);
    Tensor i_c = poison({c.C}, Device::cpu()), i_g = poison({c.C}, kGpu);
    kc::batch_norm_forward<float>(s, F(x), F(w), F(b), F(rm_c), F(rv_c), c.batch_stats, 0.1, 1e-5, F(out_c), F(m_c),
                                  F(i_c));
    kg::batch_norm_forward(s, F(xg), F(wg), F(bg), F(rm_g), F(rv_g), c.batch_stats, 0.1, 1e-5, F(out_g), F(m_g),
                           F(i_g));
    EXPECT_ALL_CLOSE(out_g, out_c, 1e-5, 1e-4);
    EXPECT_ALL_CLOSE(m_g, m_c, 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(i_g, i_c, 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(rm_g, rm_c, 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(rv_g, rv_c, 1e-6, 1e-5);
    Tensor dx_c = poison(xs, Device::cpu()), dx_g = poison(xs, kGpu);
    Tensor dw_c = poison({c.C}, Device::cpu()), dw_g = poison({c.C}, kGpu);
    Tensor db_c = poison({c.C}, Device::cpu()), db_g = poison({c.C}, kGpu);
    kc::batch_norm_backward<float>(s, F(x), F(w), F(m_c), F(i_c), c.batch_stats, F(dout), F(dx_c), F(dw_c), F(db_c));
    kg::batch_norm_backward(s, F(xg), F(wg), F(m_g), F(i_g), c.batch_stats, F(dg), F(dx_g), F(dw_g), F(db_g));
    EXPECT_ALL_CLOSE(dx_g, dx_c, 1e-5, 1e-4);
    // dw/db sum N*H*W products (up to 17,554) in double on both sides, rounded once: 1e-4 abs.
    EXPECT_ALL_CLOSE(dw_g, dw_c, 1e-4, 1e-4);
    EXPECT_ALL_CLOSE(db_g, db_c, 1e-4, 1e-4);
  }
}

TEST(CudaParityCnn, ActivationKernels) {
  GPUNET_REQUIRE_GPU();
  for (int64_t n : {1, 37, 100003}) {
    const Tensor x = rand_cpu({n}, 10, -6.f, 6.f), d = rand_cpu({n}, 11);
    const Tensor xg = x.to(kGpu), dg = d.to(kGpu);
    for (int kind = 0; kind < 3; ++kind) {
      SCOPED_TRACE(testing::Message() << "n " << n << " kind " << kind);
      Tensor oc = poison({n}, Device::cpu()), og = poison({n}, kGpu);
      Tensor dc = poison({n}, Device::cpu()), dgx = poison({n}, kGpu);
      if (kind == 2) {
        kc::silu_forward<float>(n, F(x), F(oc));
        kg::silu_forward(n, F(xg), F(og));
        kc::silu_backward<float>(n, F(x), F(d), F(dc));
        kg::silu_backward(n, F(xg), F(dg), F(dgx));
      } else {
        kc::gelu_forward<float>(n, F(x), kind == 1, F(oc));
        kg::gelu_forward(n, F(xg), kind == 1, F(og));
        kc::gelu_backward<float>(n, F(x), F(d), kind == 1, F(dc));
        kg::gelu_backward(n, F(xg), F(dg), kind == 1, F(dgx));
      }
      EXPECT_ALL_CLOSE(og, oc, 1e-6, 1e-5);
      EXPECT_ALL_CLOSE(dgx, dc, 1e-6, 1e-5);
    }
  }
}

TEST(CudaParityCnn, PoolingKernels) {
  GPUNET_REQUIRE_GPU();
  struct Case {
    int N, C, H, W, K, stride, pad, OH, OW;
  };
  // (OH, OW) as the front end computes them; the ceil-mode cases clip their last window.
  for (const Case c : {Case{1, 1, 7, 5, 3, 2, 1, 4, 3}, Case{2, 3, 9, 9, 3, 2, 1, 5, 5}, Case{1, 2, 7, 7, 2, 2, 0, 4, 4},
                       Case{3, 5, 10, 11, 3, 3, 0, 4, 4}, Case{2, 64, 32, 32, 3, 1, 1, 32, 32},
                       Case{1, 1, 6, 6, 4, 2, 2, 4, 4}}) {
    SCOPED_TRACE(testing::Message() << c.H << "x" << c.W << " k" << c.K << " s" << c.stride << " p" << c.pad);
    kernels::Pool2dShape s{c.N, c.C, c.H, c.W, c.K, c.stride, c.OH, c.OW, c.pad};
    const Shape xs{c.N, c.C, c.H, c.W}, os{c.N, c.C, c.OH, c.OW};
    const Tensor x = rand_cpu(xs, 20), g = rand_cpu(os, 21);
    const Tensor xg = x.to(kGpu), gg = g.to(kGpu);
    // max: values and argmax
    Tensor oc = poison(os, Device::cpu()), og = poison(os, kGpu);
    Tensor ac = Tensor::full(os, -1, DType::Int32), ag = Tensor::full(os, -1, DType::Int32, kGpu);
    kc::max_pool2d_forward<float>(s, F(x), F(oc), ac.data<int32_t>());
    kg::max_pool2d_forward(s, F(xg), F(og), ag.data<int32_t>());
    EXPECT_ALL_CLOSE(og, oc, 0.0, 0.0);
    EXPECT_EQ(ag.to_vector<int32_t>(), ac.to_vector<int32_t>());
    Tensor dc = poison(xs, Device::cpu()), dg = poison(xs, kGpu);
    kc::max_pool2d_backward<float>(s, F(g), ac.data<int32_t>(), F(dc));
    kg::max_pool2d_backward(s, F(gg), ag.data<int32_t>(), F(dg));
    EXPECT_ALL_CLOSE(dg, dc, 1e-6, 1e-6);
    for (bool cip : {true, false}) {
      SCOPED_TRACE(cip ? "avg count_include_pad" : "avg");
      Tensor ac2 = poison(os, Device::cpu()), ag2 = poison(os, kGpu);
      kc::avg_pool2d_forward<float>(s, cip, F(x), F(ac2));
      kg::avg_pool2d_forward(s, cip, F(xg), F(ag2));
      EXPECT_ALL_CLOSE(ag2, ac2, 1e-6, 1e-5);
      Tensor dc2 = poison(xs, Device::cpu()), dg2 = poison(xs, kGpu);
      kc::avg_pool2d_backward<float>(s, cip, F(g), F(dc2));
      kg::avg_pool2d_backward(s, cip, F(gg), F(dg2));
      EXPECT_ALL_CLOSE(dg2, dc2, 1e-6, 1e-5);
    }
  }
  for (const auto& [H, W, OH, OW] : std::vector<std::array<int, 4>>{{7, 5, 3, 2}, {8, 8, 1, 1}, {5, 7, 4, 5},
                                                                    {3, 4, 5, 7}, {32, 32, 1, 1}}) {
    SCOPED_TRACE(testing::Message() << "adaptive " << H << "x" << W << " -> " << OH << "x" << OW);
    const kernels::AdaptivePool2dShape s{2, 3, H, W, OH, OW};
    const Shape xs{2, 3, H, W}, os{2, 3, OH, OW};
    const Tensor x = rand_cpu(xs, 22), g = rand_cpu(os, 23);
    Tensor oc = poison(os, Device::cpu()), og = poison(os, kGpu);
    kc::adaptive_avg_pool2d_forward<float>(s, F(x), F(oc));
    kg::adaptive_avg_pool2d_forward(s, F(x.to(kGpu)), F(og));
    EXPECT_ALL_CLOSE(og, oc, 1e-6, 1e-5);
    const Tensor gg = g.to(kGpu);
    Tensor dc = poison(xs, Device::cpu()), dg = poison(xs, kGpu);
    kc::adaptive_avg_pool2d_backward<float>(s, F(g), F(dc));
    kg::adaptive_avg_pool2d_backward(s, F(gg), F(dg));
    EXPECT_ALL_CLOSE(dg, dc, 1e-6, 1e-5);
  }
}

TEST(CudaParityCnn, CrossEntropyKernels) {
  GPUNET_REQUIRE_GPU();
  for (const auto& [N, C] : std::vector<std::pair<int, int>>{{1, 10}, {7, 37}, {3000, 100}}) {
    for (double ls : {0.0, 0.1}) {
      SCOPED_TRACE(testing::Message() << "N " << N << " C " << C << " ls " << ls);
      const Tensor x = rand_cpu({N, C}, 30, -4.f, 4.f);
      std::vector<int64_t> tv(N);
      Generator gen(31);
      for (auto& t : tv) t = static_cast<int64_t>(gen.randint(C));
      const Tensor t = Tensor::from_vector(tv, {N}), tg = t.to(kGpu), xg = x.to(kGpu);
      Tensor rc = poison({N}, Device::cpu()), rg = poison({N}, kGpu);
      Tensor pc = poison({N, C}, Device::cpu()), pg = poison({N, C}, kGpu);
      kc::cross_entropy_forward<float>(N, C, F(x), t.data<int64_t>(), ls, F(rc), F(pc));
      kg::cross_entropy_forward(N, C, F(xg), tg.data<int64_t>(), ls, F(rg), F(pg));
      EXPECT_ALL_CLOSE(rg, rc, 1e-5, 1e-4);
      EXPECT_ALL_CLOSE(pg, pc, 1e-6, 1e-4);
      Tensor lc = poison({}, Device::cpu()), lg = poison({}, kGpu);
      kc::cross_entropy_reduce<float>(N, F(rc), 1.0 / N, F(lc));
      kg::cross_entropy_reduce(N, F(rg), 1.0 / N, F(lg));
      EXPECT_ALL_CLOSE(lg, lc, 1e-5, 1e-4);
      for (bool per_row : {false, true}) {
        const Tensor d = rand_cpu({per_row ? N : 1}, 32);
        Tensor dc = poison({N, C}, Device::cpu()), dgx = poison({N, C}, kGpu);
        kc::cross_entropy_backward<float>(N, C, F(pc), t.data<int64_t>(), ls, F(d), per_row, 0.5, F(dc));
        kg::cross_entropy_backward(N, C, F(pg), tg.data<int64_t>(), ls, F(d.to(kGpu)), per_row, 0.5, F(dgx));
        EXPECT_ALL_CLOSE(dgx, dc, 1e-6, 1e-4);
      }
    }
  }
}

TEST(CudaParityCnn, DropoutMaskIsBitIdentical) {
  GPUNET_REQUIRE_GPU();
  for (int64_t n : {1, 1000, 1 << 20}) {
    for (double p : {0.1, 0.5, 1.0}) {
      const Tensor x = rand_cpu({n}, 40);
      Tensor oc = poison({n}, Device::cpu()), og = poison({n}, kGpu);
      kc::dropout_apply<float>(n, F(x), p, 123, 456, F(oc));
      kg::dropout_apply(n, F(x.to(kGpu)), p, 123, 456, F(og));
      EXPECT_EQ(og.to_vector<float>(), oc.to_vector<float>()) << "n " << n << " p " << p;
    }
  }
}

TEST(CudaParityCnn, BroadcastKernels) {
  GPUNET_REQUIRE_GPU();
  // a [2,3,5,7] op b [1,3,1,1] (per channel), written as the front end writes it
  const kernels::BroadcastShape s{4, {2, 3, 5, 7}, {105, 35, 7, 1}, {0, 1, 0, 0}};
  const Tensor a = rand_cpu({2, 3, 5, 7}, 50), b = rand_cpu({3}, 51, 0.5f, 1.5f);
  for (auto op : {kernels::BroadcastOp::Add, kernels::BroadcastOp::Sub, kernels::BroadcastOp::Mul,
                  kernels::BroadcastOp::Div}) {
    Tensor oc = poison({2, 3, 5, 7}, Device::cpu()), og = poison({2, 3, 5, 7}, kGpu);
    kc::broadcast_binary<float>(op, s, F(a), F(b), F(oc));
    kg::broadcast_binary(op, s, F(a.to(kGpu)), F(b.to(kGpu)), F(og));
    EXPECT_ALL_CLOSE(og, oc, 0.0, 0.0);
  }
  // sum_to: the thread-per-output path (few reduced) and the block path (many reduced)
  for (const auto& [in, out] : std::vector<std::pair<Shape, Shape>>{{{2, 3, 5, 7}, {1, 3, 1, 1}},
                                                                    {{64, 32, 16, 16}, {1, 32, 1, 1}},
                                                                    {{4, 9}, {4, 1}}}) {
    kernels::SumToShape r{static_cast<int>(in.size()), {}, {}};
    for (size_t d = 0; d < in.size(); ++d) {
      r.in[d] = in[d];
      r.out[d] = out[d];
    }
    const Tensor g = rand_cpu(in, 52);
    Tensor oc = poison(out, Device::cpu()), og = poison(out, kGpu);
    kc::sum_to<float>(r, F(g), F(oc));
    kg::sum_to(r, F(g.to(kGpu)), F(og));
    EXPECT_ALL_CLOSE(og, oc, 1e-5, 1e-5);  // both in double, rounded once
  }
}
#endif  // GPUNET_HAVE_CUDA

TEST(CudaParityCnn, OpsThroughAutograd) {
  GPUNET_REQUIRE_GPU();
  const Tensor x = rand_cpu({2, 5, 9, 7}, 60), w = rand_cpu({5}, 61, 0.5f, 1.5f), b = rand_cpu({5}, 62);
  op_parity("batch_norm2d train", {x, w, b}, {true, true, true}, [](const Inputs& t) {
    return ops::batch_norm2d(t[0], t[1], t[2], Tensor(), Tensor(), true);
  }, 1e-4, 1e-4);
  op_parity("batch_norm2d batch 1", {rand_cpu({1, 3, 4, 5}, 63)}, {true},
            [](const Inputs& t) { return ops::batch_norm2d(t[0], Tensor(), Tensor(), Tensor(), Tensor(), true); });
  op_parity("batch_norm2d_gelu train", {x, w, b}, {true, false, true}, [](const Inputs& t) {
    return ops::batch_norm2d_gelu(t[0], t[1], t[2], Tensor(), Tensor(), true);
  }, 1e-4, 1e-4);
  op_parity("gelu", {x}, {true}, [](const Inputs& t) { return ops::gelu(t[0]); });
  op_parity("gelu tanh", {x}, {true}, [](const Inputs& t) { return ops::gelu(t[0], "tanh"); });
  op_parity("silu", {x}, {true}, [](const Inputs& t) { return ops::silu(t[0]); });
  op_parity("max_pool2d 3/2/1 ceil", {x}, {true}, [](const Inputs& t) { return ops::max_pool2d(t[0], 3, 2, 1, true); });
  op_parity("avg_pool2d 3/2/1", {x}, {true}, [](const Inputs& t) { return ops::avg_pool2d(t[0], 3, 2, 1); });
  op_parity("adaptive_avg_pool2d 1", {x}, {true}, [](const Inputs& t) { return ops::adaptive_avg_pool2d(t[0], 1); });
  op_parity("dropout", {x}, {true}, [](const Inputs& t) { return ops::dropout(t[0], 0.3, true, 5, 6); });
  op_parity("residual + per-channel bias", {x, rand_cpu({5, 1, 1}, 64)}, {true, true},
            [](const Inputs& t) { return ops::add(t[0], ops::mul(ops::gelu(t[0]), t[1])); });
  const Tensor logits = rand_cpu({33, 10}, 65, -3.f, 3.f);
  const Tensor target = Tensor::from_vector<int64_t>(std::vector<int64_t>(33, 3), {33});
  for (auto r : {ops::Reduction::Mean, ops::Reduction::Sum, ops::Reduction::None})
    op_parity("cross_entropy ls 0.1", {logits, target}, {true, false},
              [r](const Inputs& t) { return ops::cross_entropy(t[0], t[1], 0.1, r); });
  // Running statistics move the same way on both devices.
  Tensor rm_c = Tensor::zeros({5}), rv_c = Tensor::ones({5});
  Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
  for (int step = 0; step < 3; ++step) {
    const Tensor xs = rand_cpu({4, 5, 3, 3}, 70 + step);
    ops::batch_norm2d(xs, w, b, rm_c, rv_c, true);
    ops::batch_norm2d(xs.to(kGpu), w.to(kGpu), b.to(kGpu), rm_g, rv_g, true);
  }
  EXPECT_ALL_CLOSE(rm_g, rm_c, 1e-6, 1e-5);
  EXPECT_ALL_CLOSE(rv_g, rv_c, 1e-6, 1e-5);
}

}  // namespace
}  // namespace gpunet
