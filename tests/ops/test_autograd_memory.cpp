// What the autograd graph keeps alive: the tensors its nodes save, not every intermediate of the
// forward pass. max_pool2d saves only its argmax, so the conv output it pools is freed as soon
// as the caller drops it, and backward still reaches the weights with the same gradient.
#include <gtest/gtest.h>

#include <memory>

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

}  // namespace
}  // namespace gpunet
