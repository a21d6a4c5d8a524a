// The CNN ops' front ends: errors that name the op and the value (PyTorch's wording where it
// has one), dropout's semantics, batch-norm state handling, broadcasting and residuals through
// autograd, and the 2x2 fast path staying in place under the general max_pool2d.
#include <gtest/gtest.h>

#include <cmath>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "support/assert_close.h"

namespace gpunet {
namespace {

template <typename F>
void expect_error(F&& f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

Tensor rand(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::uniform(s, -1.f, 1.f, g);
}

TEST(CnnOpErrors, BatchNorm) {
  const Tensor x = rand({2, 3, 4, 4}, 1);
  const Tensor c3 = Tensor::ones({3}), c4 = Tensor::ones({4});
  expect_error([&] { ops::batch_norm2d(x, c4, c3, c3, c3, true); }, {"batch_norm2d", "3 channels", "weight", "[4]"});
  expect_error([&] { ops::batch_norm2d(x, c3, c3, c4, c3, false); }, {"batch_norm2d", "3 channels", "running_mean"});
  expect_error([&] { ops::batch_norm2d(Tensor::zeros({1, 5, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
               {"batch_norm2d: Expected more than 1 value per channel when training, got input size [1, 5, 1, 1]"});
  // eval mode with running statistics accepts a single value per channel (PyTorch does)
  EXPECT_NO_THROW(ops::batch_norm2d(Tensor::zeros({1, 3, 1, 1}), c3, c3, c3, c3, false));
  expect_error([&] { ops::batch_norm2d(rand({2, 3, 4}, 2), c3, c3, c3, c3, true); },
               {"batch_norm2d", "4-D", "[2, 3, 4]"});
  expect_error([&] { ops::batch_norm2d(x, c3, c3, c3, c3, true, 1.5); }, {"batch_norm2d", "momentum", "1.5"});
}

TEST(CnnOpErrors, PoolingActivationsLossDropout) {
  const Tensor x = rand({1, 2, 6, 6}, 3);
  expect_error([&] { ops::max_pool2d(x, 3, 1, 2); },
               {"max_pool2d: pad should be at most half of effective kernel size, but got pad=2, kernel_size=3"});
  expect_error([&] { ops::avg_pool2d(x, 2, 2, 2); }, {"avg_pool2d", "pad=2", "kernel_size=2"});
  expect_error([&] { ops::avg_pool2d(x, 7); }, {"avg_pool2d", "kernel 7", "larger"});
  expect_error([&] { ops::adaptive_avg_pool2d(x, 0, 2); }, {"adaptive_avg_pool2d", "0x2"});
  expect_error([&] { ops::gelu(x, "fast"); }, {"gelu", "'fast'"});
  const Tensor logits = rand({2, 3}, 4), y = Tensor::from_vector<int64_t>({0, 2}, {2});
  expect_error([&] { ops::cross_entropy(logits, y, 1.0); }, {"cross_entropy", "label_smoothing", "[0, 1)", "got 1"});
  expect_error([&] { ops::cross_entropy(logits, y, -0.1); }, {"cross_entropy", "label_smoothing", "-0.1"});
  expect_error([&] { ops::dropout(x, 1.5, true, 0, 0); }, {"dropout", "p=1.5"});
  expect_error([&] { ops::dropout(x, -0.2, false, 0, 0); }, {"dropout", "p=-0.2"});
  expect_error([&] { ops::add(rand({2, 3, 4, 4}, 5), rand({4, 1, 1}, 6)); }, {"add", "[2, 3, 4, 4]", "[4, 1, 1]"});
  // Hyperparameters are user input (the CLI's exit code 2 with one line): InputError.
  EXPECT_THROW(ops::cross_entropy(logits, y, 1.0), InputError);
  EXPECT_THROW(ops::dropout(x, 1.5, true, 0, 0), InputError);
  EXPECT_THROW(ops::max_pool2d(x, 3, 1, 2), InputError);
  EXPECT_THROW(ops::batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true, -0.5), InputError);
}

TEST(Dropout, SemanticsAndReproducibility) {
  const Tensor x = rand({4, 8, 5, 5}, 7);
  EXPECT_TRUE(ops::dropout(x, 0.5, false, 1, 0).is_same(x));  // eval: the identity
  EXPECT_TRUE(ops::dropout(x, 0.0, true, 1, 0).is_same(x));
  const auto zero = ops::dropout(x, 1.0, true, 1, 0).to_vector<float>();
  for (float v : zero) ASSERT_EQ(v, 0.0f);
  const auto a = ops::dropout(x, 0.4, true, 9, 100).to_vector<float>();
  const auto b = ops::dropout(x, 0.4, true, 9, 100).to_vector<float>();
  const auto c = ops::dropout(x, 0.4, true, 9, 100 + x.numel()).to_vector<float>();
  const auto xv = x.to_vector<float>();
  EXPECT_EQ(a, b);  // the same (seed, offset): the same mask
  EXPECT_NE(a, c);  // the next offset: a new mask
  int kept = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != 0.0f) {
      ++kept;
      EXPECT_FLOAT_EQ(a[i], xv[i] / 0.6f);
    }
  }
  EXPECT_NEAR(kept, 0.6 * a.size(), 4.5 * std::sqrt(a.size() * 0.24));
  // backward: the same mask, scaled
  Tensor xg = x.clone().requires_grad_();
  ops::dropout(xg, 0.4, true, 9, 100).backward(Tensor::ones(x.shape()));
  const auto g = xg.grad().to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(g[i], a[i] != 0.0f ? 1.0f / 0.6f : 0.0f);
}

TEST(BatchNorm, EvalDoesNotTouchRunningStatsAndAffineIsOptional) {
  const Tensor x = rand({3, 2, 4, 4}, 8);
  Tensor rm = Tensor::from_vector<float>({0.1f, -0.2f}, {2}), rv = Tensor::from_vector<float>({1.5f, 0.5f}, {2});
  const Tensor y = ops::batch_norm2d(x, Tensor(), Tensor(), rm, rv, false);
  EXPECT_EQ(rm.to_vector<float>(), (std::vector<float>{0.1f, -0.2f}));
  EXPECT_EQ(rv.to_vector<float>(), (std::vector<float>{1.5f, 0.5f}));
  const auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
  for (size_t i = 0; i < xv.size(); ++i) {
    const int c = static_cast<int>((i / 16) % 2);
    const double m = c ? -0.2 : 0.1, v = c ? 0.5 : 1.5;
    EXPECT_NEAR(yv[i], (xv[i] - m) / std::sqrt(v + 1e-5), 1e-5);
  }
  // training: per-channel mean 0, biased variance 1 (eps aside)
  const auto t = ops::batch_norm2d(x, Tensor(), Tensor(), rm, rv, true).to_vector<float>();
  for (int c = 0; c < 2; ++c) {
    double s = 0, sq = 0;
    for (size_t i = 0; i < t.size(); ++i)
      if (static_cast<int>((i / 16) % 2) == c) {
        s += t[i];
        sq += t[i] * t[i];
      }
    EXPECT_NEAR(s / 48, 0.0, 1e-6);
    EXPECT_NEAR(sq / 48, 1.0, 1e-3);
  }
  EXPECT_NE(rm.to_vector<float>()[0], 0.1f);  // updated in training mode
}

TEST(Broadcast, PerChannelOperandsAndResidualThroughAutograd) {
  Tensor x = rand({2, 3, 4, 4}, 9).requires_grad_();
  Tensor bias = rand({3}, 10).reshape({1, 3, 1, 1}).requires_grad_();
  Tensor scale = rand({3, 1, 1}, 11).requires_grad_();
  // y = x + (x * scale + bias): a residual around a per-channel affine
  Tensor y = ops::add(x, ops::add(ops::mul(x, scale), bias));
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4, 4}));
  y.backward(Tensor::ones(y.shape()));
  const auto xv = x.detach().to_vector<float>(), sv = scale.detach().to_vector<float>();
  const auto dx = x.grad().to_vector<float>(), ds = scale.grad().to_vector<float>();
  const auto db = bias.grad().to_vector<float>();
  EXPECT_EQ(bias.grad().shape(), (Shape{1, 3, 1, 1}));
  EXPECT_EQ(scale.grad().shape(), (Shape{3, 1, 1}));
  for (int c = 0; c < 3; ++c) {
    double sx = 0;
    for (size_t i = 0; i < xv.size(); ++i)
      if (static_cast<int>((i / 16) % 3) == c) {
        sx += xv[i];
        EXPECT_NEAR(dx[i], 1.0 + sv[c], 1e-6);  // the shortcut's 1 plus the branch's scale
      }
    EXPECT_NEAR(ds[c], sx, 1e-4);
    EXPECT_NEAR(db[c], 32.0, 1e-5);
  }
  // a scalar-shaped [1] still takes the fast path; [C] against [N, C] broadcasts on the last dim
  EXPECT_EQ(ops::mul(rand({2, 3}, 12), rand({3}, 13)).shape(), (Shape{2, 3}));
  EXPECT_EQ(ops::sub(rand({3, 1}, 14), rand({1, 4}, 15)).shape(), (Shape{3, 4}));
}

TEST(MaxPool2d, GeneralPathAgreesWithTheFastPathOnItsCase) {
  // k = 2, s = 2: the vector path; the same pool written as k = 2, s = 2 with ceil_mode on an
  // even plane takes the same path; an odd plane with ceil_mode takes the general loops and
  // must agree on the whole windows.
  const Tensor x = rand({2, 3, 9, 9}, 16);
  const auto fast = ops::max_pool2d(x.narrow(2, 0, 8).narrow(3, 0, 8), 2).to_vector<float>();
  const Tensor general = ops::max_pool2d(x, 2, 2, 0, true);  // 5x5: the last row/column clipped
  EXPECT_EQ(general.shape(), (Shape{2, 3, 5, 5}));
  const auto gv = general.to_vector<float>();
  for (int p = 0; p < 6; ++p)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) EXPECT_EQ(gv[(p * 5 + i) * 5 + j], fast[(p * 4 + i) * 4 + j]);
}

TEST(ResidualBlock, EveryNewOpInOneGraphGivesFiniteNonzeroGradients) {
  // conv -> batch_norm -> gelu -> conv -> batch_norm, + shortcut, silu, dropout, avg pool,
  // adaptive pool, linear, cross_entropy with label smoothing: one backward reaches every leaf.
  const Tensor x = rand({2, 4, 8, 8}, 20);
  Tensor w1 = (rand({4, 4, 3, 3}, 21) * 0.3).requires_grad_(), w2 = (rand({4, 4, 3, 3}, 22) * 0.3).requires_grad_();
  Tensor g1 = Tensor::ones({4}).requires_grad_(), b1 = Tensor::zeros({4}).requires_grad_();
  Tensor g2 = Tensor::ones({4}).requires_grad_(), b2 = Tensor::zeros({4}).requires_grad_();
  Tensor fc = (rand({3, 4}, 23) * 0.5).requires_grad_();
  Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
  Tensor h = ops::gelu(ops::batch_norm2d(ops::conv2d(x, w1, Tensor(), 1, 1), g1, b1, rm, rv, true));
  h = ops::batch_norm2d(ops::conv2d(h, w2, Tensor(), 1, 1), g2, b2, Tensor(), Tensor(), true);
  h = ops::dropout(ops::silu(ops::add(x, h)), 0.2, true, 3, 0);
  h = ops::adaptive_avg_pool2d(ops::avg_pool2d(h, 3, 2, 1), 1);
  const Tensor logits = ops::linear(ops::flatten(h, 1), fc, Tensor());
  const Tensor loss = ops::cross_entropy(logits, Tensor::from_vector<int64_t>({0, 2}, {2}), 0.1);
  loss.backward();
  for (const Tensor* t : {&w1, &w2, &g1, &b1, &g2, &b2, &fc}) {
    ASSERT_TRUE(t->grad().defined());
    EXPECT_TRUE(ops::all_finite(t->grad()));
    double norm = 0;
    for (float v : t->grad().to_vector<float>()) norm += std::abs(v);
    EXPECT_GT(norm, 0.0);
  }
}

}  // namespace
}  // namespace gpunet
