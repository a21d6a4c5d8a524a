// The autograd hook that starts a bucket's all-reduce: a leaf is reported once per backward,
// only when every node feeding it has run (its .grad is final then), and never when unreached.
#include <gtest/gtest.h>

#include <map>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"

namespace gpunet {
namespace {

TEST(LeafReadyHook, ReportsEachLeafOnceWithItsFinalGradient) {
  Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).requires_grad_();
  Tensor u = Tensor::from_vector(std::vector<float>{4, 5, 6}, {3}).requires_grad_();
  Tensor unused = Tensor::from_vector(std::vector<float>{7}, {1}).requires_grad_();
  const Tensor a = Tensor::from_vector(std::vector<float>{1, 1, 1}, {3});
  const Tensor b = Tensor::from_vector(std::vector<float>{2, 2, 2}, {3});
  // w feeds two nodes far apart in the graph (a shared weight); u only the last one.
  Tensor y = ops::add(ops::mul(w, a), ops::mul(ops::mul(w, b), u));
  Tensor loss = ops::sum(y);
  std::map<const TensorImpl*, int> calls;
  std::map<const TensorImpl*, std::vector<float>> grad_then;
  {
    autograd::LeafReadyScope scope([&](const TensorImpl* leaf) {
      ++calls[leaf];
      Tensor g(leaf == w.impl_ptr().get() ? w.grad() : u.grad());
      grad_then[leaf] = g.to_vector<float>();
    });
    loss.backward();
  }
  EXPECT_EQ(calls[w.impl_ptr().get()], 1);
  EXPECT_EQ(calls[u.impl_ptr().get()], 1);
  EXPECT_EQ(calls.count(unused.impl_ptr().get()), 0u);
  EXPECT_EQ(grad_then[w.impl_ptr().get()], w.grad().to_vector<float>()) << "reported before its last contribution";
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1 + 2 * 4, 1 + 2 * 5, 1 + 2 * 6}));
  // Out of scope: no hook.
  calls.clear();
  Tensor loss2 = ops::sum(ops::mul(w, a));
  loss2.backward();
  EXPECT_TRUE(calls.empty());
}

}  // namespace
}  // namespace gpunet
