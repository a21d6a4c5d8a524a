// Autograd through the op front ends: a small graph against a hand-computed gradient,
// accumulation over two backward calls, freed graphs, non-scalar roots, NoGradGuard,
// scalar broadcasting, views, and the absence of reference cycles.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "support/assert_close.h"
#include "support/gpu.h"

namespace gpunet {
namespace {

Tensor vec(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s); }

// loss = mean(relu(x·Wᵀ + b)²), with a hand-written gradient in double.
struct SmallGraph {
  std::vector<float> xv{0.5f, -1.0f, 2.0f, 0.1f, -0.3f, 0.7f, 1.5f, -2.0f, 0.2f, 0.4f, -0.6f, 1.0f};  // (3, 4)
  std::vector<float> wv{0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.6f, 0.2f, -0.3f};                           // (2, 4)
  std::vector<float> bv{0.05f, -0.1f};
  Tensor x = vec(xv, {3, 4}), w = vec(wv, {2, 4}).requires_grad_(), b = vec(bv, {2}).requires_grad_();

  Tensor loss() const {
    Tensor r = ops::relu(ops::linear(x, w, b));
    return ops::mean(r * r);
  }
  void expected(std::vector<double>& dw, std::vector<double>& db) const {
    dw.assign(8, 0.0);
    db.assign(2, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int o = 0; o < 2; ++o) {
        double h = bv[o];
        for (int k = 0; k < 4; ++k) h += double(xv[i * 4 + k]) * wv[o * 4 + k];
        const double g = h > 0 ? 2.0 * h / 6.0 : 0.0;  // d mean(r²)/dh
        db[o] += g;
        for (int k = 0; k < 4; ++k) dw[o * 4 + k] += g * xv[i * 4 + k];
      }
  }
};

TEST(AutogradOps, SmallGraphMatchesHandGradient) {
  SmallGraph g;
  Tensor loss = g.loss();
  EXPECT_TRUE(loss.requires_grad());
  EXPECT_EQ(loss.dim(), 0);
  loss.backward();
  std::vector<double> dw, db;
  g.expected(dw, db);
  EXPECT_ALL_CLOSE(g.w.grad().to_vector<float>(), dw, 1e-6, 1e-5);
  EXPECT_ALL_CLOSE(g.b.grad().to_vector<float>(), db, 1e-6, 1e-5);
  EXPECT_FALSE(g.x.grad().defined());  // x does not require grad
}

TEST(AutogradOps, TwoBackwardCallsDoubleTheGradient) {
  SmallGraph g;
  g.loss().backward();
  const auto once = g.w.grad().to_vector<float>();
  g.loss().backward();
  std::vector<double> twice(once.begin(), once.end());
  for (auto& v : twice) v *= 2.0;
  EXPECT_ALL_CLOSE(g.w.grad().to_vector<float>(), twice, 1e-7, 1e-6);
}

TEST(AutogradOps, BackwardTwiceThroughAFreedGraphThrows) {
  SmallGraph g;
  Tensor loss = g.loss();
  loss.backward();
  EXPECT_THROW(loss.backward(), Error);
}

TEST(AutogradOps, NonScalarBackwardNeedsAGradient) {
  Tensor x = Tensor::ones({2, 3}).requires_grad_();
  Tensor y = ops::relu(x);
  EXPECT_THROW(y.backward(), Error);
  y.backward(Tensor::full({2, 3}, 3.0));
  EXPECT_ALL_CLOSE(x.grad().to_vector<float>(), std::vector<float>(6, 3.0f), 0.0, 0.0);
}

TEST(AutogradOps, NoGradGuardRecordsNothing) {
  SmallGraph g;
  NoGradGuard guard;
  Tensor loss = g.loss();
  EXPECT_FALSE(loss.requires_grad());
  EXPECT_EQ(loss.grad_fn(), nullptr);
  Tensor t = ops::cross_entropy(ops::linear(g.x, g.w, g.b), Tensor::from_vector<int64_t>({0, 1, 1}, {3}));
  EXPECT_EQ(t.grad_fn(), nullptr);
}

TEST(AutogradOps, ScalarBroadcastGradientsSum) {
  Tensor a = vec({1.0f, 2.0f, 3.0f}, {3}).requires_grad_();
  Tensor s = vec({0.5f}, {1}).requires_grad_();
  // L = sum(a*s + a - s) -> dL/da = s + 1, dL/ds = sum(a) - 3
  ops::sum(ops::sub(ops::add(ops::mul(a, s), a), s)).backward();
  EXPECT_ALL_CLOSE(a.grad().to_vector<float>(), std::vector<float>(3, 1.5f), 1e-7, 0.0);
  EXPECT_EQ(s.grad().shape(), Shape({1}));
  EXPECT_ALL_CLOSE(s.grad().to_vector<float>(), std::vector<float>{3.0f}, 1e-6, 0.0);
}

TEST(AutogradOps, ScalarOpsAndNeg) {
  Tensor a = vec({1.0f, -2.0f}, {2}).requires_grad_();
  Tensor y = ops::neg(ops::add(ops::mul(a, 3.0), 1.0));  // -(3a + 1)
  EXPECT_ALL_CLOSE(y.to_vector<float>(), std::vector<float>{-4.0f, 5.0f}, 0.0, 0.0);
  ops::sum(y).backward();
  EXPECT_ALL_CLOSE(a.grad().to_vector<float>(), std::vector<float>{-3.0f, -3.0f}, 0.0, 0.0);
  Tensor z = (a * a - a) * 2.0;  // operators
  EXPECT_ALL_CLOSE(z.to_vector<float>(), std::vector<float>{0.0f, 12.0f}, 0.0, 0.0);
}

TEST(AutogradOps, FlattenAndReshapeAreDifferentiableViews) {
  Tensor x = Tensor::ones({2, 3, 2, 2}).requires_grad_();
  Tensor f = ops::flatten(x);
  EXPECT_EQ(f.shape(), Shape({2, 12}));
  EXPECT_EQ(f.storage(), x.storage());  // a view
  Tensor r = ops::reshape(f, {4, -1});
  EXPECT_EQ(r.shape(), Shape({4, 6}));
  ops::sum(ops::mul(r, 2.0)).backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_ALL_CLOSE(x.grad().to_vector<float>(), std::vector<float>(24, 2.0f), 0.0, 0.0);
  EXPECT_TRUE(x.is_leaf());  // recording on the view did not touch x
}

TEST(AutogradOps, SumMeanEqAllFinite) {
  Tensor x = vec({1.0f, 2.0f, 3.0f, 6.0f}, {2, 2});
  EXPECT_NEAR(ops::sum(x).item(), 12.0, 1e-6);
  EXPECT_NEAR(x.mean().item(), 3.0, 1e-6);
  Tensor a = Tensor::from_vector<int64_t>({1, 2, 3}, {3}), b = Tensor::from_vector<int64_t>({1, 0, 3}, {3});
  Tensor e = ops::eq(a, b);
  EXPECT_EQ(e.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_NEAR(e.sum().item(), 2.0, 0.0);  // counting correct predictions
  EXPECT_TRUE(ops::all_finite(x));
  EXPECT_FALSE(ops::all_finite(vec({1.0f, NAN}, {2})));
  EXPECT_FALSE(ops::all_finite(vec({INFINITY}, {1})));
  EXPECT_TRUE(std::isnan(ops::mean(Tensor::empty({0})).item()));
}

TEST(AutogradOps, NonContiguousInputsAreMadeContiguous) {
  Tensor x = vec({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}).narrow(1, 1, 2);  // [[2,3],[6,7]]
  EXPECT_FALSE(x.is_contiguous());
  EXPECT_ALL_CLOSE(ops::relu(x).to_vector<float>(), std::vector<float>{2, 3, 6, 7}, 0.0, 0.0);
  EXPECT_EQ(ops::argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
}

TEST(AutogradOps, NodesHoldNoReferenceCycles) {
  Tensor x = Tensor::ones({2, 5}).requires_grad_();
  std::weak_ptr<TensorImpl> relu_out, lsm_out;
  {
    Tensor r = ops::relu(x);
    Tensor l = ops::log_softmax(r);
    relu_out = r.impl_ptr();
    lsm_out = l.impl_ptr();
  }
  EXPECT_TRUE(relu_out.expired());
  EXPECT_TRUE(lsm_out.expired());
}

TEST(AutogradOps, DeviceMismatchNamesBothDevices) {
  GPUNET_REQUIRE_GPU();
  Tensor a = Tensor::ones({2}), b = Tensor::ones({2}, DType::Float32, Device::cuda(0));
  try {
    ops::add(a, b);
    FAIL() << "expected a device mismatch error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("add"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda:0"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace gpunet
