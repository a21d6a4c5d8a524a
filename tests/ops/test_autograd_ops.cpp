// Autograd through the op front ends: a small graph against a hand-computed gradient,
// accumulation over two backward calls, freed graphs, non-scalar roots, NoGradGuard,
// scalar broadcasting, views, and the absence of reference cycles.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "gpunet/random.h"
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
  Tensor f = ops::flatten(x, 1);
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

// ---- the Tensor's view methods are differentiable (issue 11's first trap) ----------------
// A conv -> (a view method) -> linear model: the conv's gradients must arrive through
// .reshape / .view / .flatten(1) exactly as through ops::flatten(h, 1), and match central
// differences. (Before the fix, the methods dropped the graph: the conv's .grad stayed undefined.)
enum class Through { OpsFlatten, Reshape, View, Flatten1, NarrowReshape };

struct ConvLinear {
  Generator gen{11};
  Tensor x = Tensor::uniform({2, 3, 6, 6}, -1.f, 1.f, gen);
  Tensor w = Tensor::uniform({4, 3, 3, 3}, -0.5f, 0.5f, gen).requires_grad_();
  Tensor b = Tensor::uniform({4}, -0.5f, 0.5f, gen).requires_grad_();
  Tensor w2 = Tensor::uniform({5, 64}, -0.5f, 0.5f, gen).requires_grad_();
  Tensor w2_narrow = Tensor::uniform({5, 32}, -0.5f, 0.5f, gen).requires_grad_();
  Tensor b2 = Tensor::uniform({5}, -0.5f, 0.5f, gen).requires_grad_();
  Tensor r = Tensor::uniform({2, 5}, -1.f, 1.f, gen);  // fixed upstream weights

  Tensor loss(Through how) const {
    const Tensor h = ops::conv2d(x, w, b);  // (2, 4, 4, 4)
    Tensor flat;
    switch (how) {
      case Through::OpsFlatten: flat = ops::flatten(h, 1); break;
      case Through::Reshape: flat = h.reshape({2, -1}); break;
      case Through::View: flat = h.view({2, 64}); break;
      case Through::Flatten1: flat = h.flatten(1); break;
      case Through::NarrowReshape: flat = h.narrow(3, 1, 2).reshape({2, 32}); break;  // a copy
    }
    const Tensor out = ops::linear(flat, how == Through::NarrowReshape ? w2_narrow : w2, b2);
    return ops::sum(out * r);
  }
  // d loss / d w[i] by central differences (the loss is linear in w, so eps can be large).
  double numeric_dw(Through how, int64_t i) {
    NoGradGuard no_grad;
    float* p = w.data<float>();
    const float keep = p[i], eps = 0.25f;
    p[i] = keep + eps;
    const double up = loss(how).item();
    p[i] = keep - eps;
    const double down = loss(how).item();
    p[i] = keep;
    return (up - down) / (2.0 * eps);
  }
};

TEST(AutogradOps, ConvThroughTensorReshapeViewAndFlattenTrainsTheConv) {
  ConvLinear m;
  m.loss(Through::OpsFlatten).backward();
  const Tensor ref_dw = m.w.grad().clone(), ref_db = m.b.grad().clone();
  for (Through how : {Through::Reshape, Through::View, Through::Flatten1}) {
    SCOPED_TRACE(static_cast<int>(how));
    m.w.set_grad(Tensor());
    m.b.set_grad(Tensor());
    const Tensor loss = m.loss(how);
    ASSERT_TRUE(loss.requires_grad());
    loss.backward();
    ASSERT_TRUE(m.w.grad().defined()) << "the conv weight got no gradient through the view method";
    ASSERT_TRUE(m.b.grad().defined());
    EXPECT_ALL_CLOSE(m.w.grad(), ref_dw, 0.0, 0.0);  // the same graph, the same bits
    EXPECT_ALL_CLOSE(m.b.grad(), ref_db, 0.0, 0.0);
  }
  const std::vector<float> dw = ref_dw.to_vector<float>();
  for (int64_t i : {0, 13, 40, 81, 107})
    EXPECT_NEAR(dw[i], m.numeric_dw(Through::Reshape, i), 2e-3 * (1.0 + std::fabs(dw[i]))) << "w[" << i << "]";
}

TEST(AutogradOps, NarrowThenCopyingReshapeIsDifferentiable) {
  ConvLinear m;
  const Tensor loss = m.loss(Through::NarrowReshape);
  loss.backward();
  ASSERT_TRUE(m.w.grad().defined());
  const std::vector<float> dw = m.w.grad().to_vector<float>();
  for (int64_t i : {0, 5, 26, 60, 107})
    EXPECT_NEAR(dw[i], m.numeric_dw(Through::NarrowReshape, i), 2e-3 * (1.0 + std::fabs(dw[i]))) << "w[" << i << "]";
}

TEST(AutogradOps, NarrowSliceContiguousAndCloneGradients) {
  Tensor x = vec({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4}).requires_grad_();
  const Tensor up = vec({1, 10, 100, 1000}, {2, 2});
  ops::sum(x.narrow(1, 1, 2).slice(1, 3).contiguous() * up).backward();
  EXPECT_ALL_CLOSE(x.grad().to_vector<float>(), std::vector<float>{0, 0, 0, 0, 0, 1, 10, 0, 0, 100, 1000, 0}, 0.0, 0.0);
  x.set_grad(Tensor());
  ops::sum(x.clone() * 3.0).backward();
  EXPECT_ALL_CLOSE(x.grad().to_vector<float>(), std::vector<float>(12, 3.0f), 0.0, 0.0);
  EXPECT_TRUE(x.narrow(0, 0, 1).grad_fn() != nullptr);
  NoGradGuard no_grad;
  EXPECT_FALSE(x.narrow(0, 0, 1).requires_grad());
}

TEST(AutogradOps, Float64GradientsAccumulateThroughViews) {
  Tensor x = Tensor::zeros({2, 3}, DType::Float64).requires_grad_();
  for (int k = 0; k < 2; ++k) x.view({6}).backward(Tensor::ones({6}, DType::Float64));
  EXPECT_EQ(x.grad().dtype(), DType::Float64);
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_ALL_CLOSE(x.grad().to_vector<double>(), std::vector<double>(6, 2.0), 0.0, 0.0);
}

}  // namespace
}  // namespace gpunet
