// What the autograd graph keeps alive: the tensors its nodes save, not every intermediate of the
// forward pass. max_pool2d saves only its argmax, so the conv output it pools is freed as soon
// as the caller drops it, and backward still reaches the weights with the same gradient.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "gpunet/random.h"

namespace gpunet {
namespace {

struct ConvPool {
  Tensor x, w;
  ConvPool() {
    Generator gen(3);
    x = Tensor::normal({2, 3, 8, 8}, 0.f, 1.f, gen);
    w = Tensor::normal({4, 3, 3, 3}, 0.f, 1.f, gen).requires_grad_();
  }
};

TEST(AutogradMemory, AnIntermediateNoNodeSavesIsFreedBeforeBackward) {
  // The reference gradient, with the conv output held by the caller until backward.
  ConvPool ref;
  Tensor y_held = ops::conv2d(ref.x, ref.w, Tensor(), 1, 1);
  ops::sum(ops::max_pool2d(ops::mul(y_held, 1.5), 2)).backward();

  ConvPool t;
  Tensor p;
  std::weak_ptr<Storage> y_storage, z_storage;
  {
    Tensor y = ops::conv2d(t.x, t.w, Tensor(), 1, 1);  // a non-leaf; a scalar mul saves nothing of it
    Tensor z = ops::mul(y, 1.5);                        // read by max_pool2d, which saves only its argmax
    y_storage = y.impl().storage;
    z_storage = z.impl().storage;
    p = ops::max_pool2d(z, 2);
  }
  EXPECT_TRUE(z_storage.expired()) << "the graph holds the max-pool's input, which its backward does not need";
  EXPECT_TRUE(y_storage.expired()) << "the graph holds the conv output, which no backward needs";
  ops::sum(p).backward();
  ASSERT_TRUE(t.w.grad().defined());
  const std::vector<float> got = t.w.grad().to_vector<float>(), want = ref.w.grad().to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "dw[" << i << "]";  // same ops, same bits
}

// A leaf that requires grad is still the engine's target: its .grad is filled in place.
TEST(AutogradMemory, LeavesStillReceiveTheirGradients) {
  Tensor a = Tensor::from_vector(std::vector<float>{1.f, -2.f, 3.f}, {3}).requires_grad_();
  Tensor b = ops::mul(ops::mul(a, 2.0), 3.0);
  ops::sum(b).backward();
  ASSERT_TRUE(a.grad().defined());
  for (float g : a.grad().to_vector<float>()) EXPECT_EQ(g, 6.f);
}

// batch_norm2d_gelu is gelu(batch_norm2d(...)) with one node that keeps batch norm's input and
// statistics, not the normalised tensor: the same values, gradients and running statistics, bit
// for bit on the CPU (the backward recomputes the normalised tensor with the forward's kernel).
struct BnGeluCase {
  bool frozen_weight, running, training;
  const char* approximate;
};
class BatchNormGelu : public ::testing::TestWithParam<BnGeluCase> {};

TEST_P(BatchNormGelu, EqualsTheTwoOpsBitForBit) {
  const BnGeluCase c = GetParam();
  struct Run {
    Tensor x, w, b, rm, rv, y;
    double held = 0;  // bytes in use after the forward, over those before it
  };
  auto run = [&](bool fused) {
    const size_t before = memory::stats(Device::cpu()).in_use;
    Generator gen(11);
    Run r;
    // 40 channels of 6x7 planes, 5 images: the vector kernels' paths with their remainders.
    r.x = Tensor::normal({5, 40, 6, 7}, 0.5f, 2.f, gen).requires_grad_();
    r.w = Tensor::uniform({40}, 0.5f, 1.5f, gen).requires_grad_(!c.frozen_weight);
    r.b = Tensor::normal({40}, 0.f, 1.f, gen).requires_grad_();
    if (c.running) {
      r.rm = Tensor::normal({40}, 0.f, 1.f, gen);
      r.rv = Tensor::uniform({40}, 0.5f, 2.f, gen);
    }
    const Tensor u = Tensor::normal({5, 40, 6, 7}, 0.f, 1.f, gen);
    // Through a mul, so that the op's input is a non-leaf as in a network.
    const Tensor h = ops::mul(r.x, 1.25);
    r.y = fused ? ops::batch_norm2d_gelu(h, r.w, r.b, r.rm, r.rv, c.training, 0.1, 1e-5, c.approximate)
                : ops::gelu(ops::batch_norm2d(h, r.w, r.b, r.rm, r.rv, c.training, 0.1, 1e-5), c.approximate);
    r.held = static_cast<double>(memory::stats(Device::cpu()).in_use) - static_cast<double>(before);
    ops::sum(ops::mul(r.y, u)).backward();
    return r;
  };
  const Run a = run(false), f = run(true);
  auto same = [](const Tensor& got, const Tensor& want, const char* what) {
    ASSERT_EQ(got.defined(), want.defined()) << what;
    if (!want.defined()) return;
    const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
    ASSERT_EQ(g.size(), w.size()) << what;
    for (size_t i = 0; i < g.size(); ++i) ASSERT_EQ(g[i], w[i]) << what << "[" << i << "]";
  };
  same(f.y, a.y, "output");
  same(f.x.grad(), a.x.grad(), "dx");
  same(f.w.grad(), a.w.grad(), "dweight");
  same(f.b.grad(), a.b.grad(), "dbias");
  same(f.rm, a.rm, "running_mean");
  same(f.rv, a.rv, "running_var");
  if (c.frozen_weight) EXPECT_FALSE(f.w.grad().defined());
  // With batch statistics it is one node, whose only input edge is the mul's (and the leaves').
  const bool batch_stats = c.training || !c.running;
  ASSERT_TRUE(f.y.grad_fn());
  EXPECT_STREQ(f.y.grad_fn()->name(), batch_stats ? "batch_norm2d_gelu" : "gelu");
  // ... which holds one input-sized tensor less between forward and backward.
  const double x_bytes = 5.0 * 40 * 6 * 7 * 4;
  if (batch_stats) EXPECT_LE(f.held, a.held - x_bytes) << "fused " << f.held << " B, two ops " << a.held << " B";
  else EXPECT_EQ(f.held, a.held);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, BatchNormGelu,
    ::testing::Values(BnGeluCase{false, true, true, "none"}, BnGeluCase{true, true, true, "none"},
                      BnGeluCase{false, false, true, "tanh"}, BnGeluCase{true, true, true, "tanh"},
                      BnGeluCase{false, true, false, "none"}, BnGeluCase{false, false, false, "none"}));

TEST(BatchNormGeluErrors, NameTheOp) {
  const Tensor x = Tensor::zeros({2, 3, 4, 4});
  try {
    ops::batch_norm2d_gelu(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, "fast");
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("batch_norm2d_gelu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'fast'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpunet
