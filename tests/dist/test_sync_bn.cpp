// Sync batch norm (issue 15), in one process: two "ranks" are two threads sharing a SumGroup, so
// the semantics are checked without MPI (tests/dist/test_mpirun.cpp runs it over mpirun).
//  - the op: 2 ranks at batch 4 give the output, dx, running statistics and (summed) weight and
//    bias gradients of batch_norm2d at batch 8;
//  - training as DDP: 2 ranks with --sync-bn equal 1 process at the double batch (weights and
//    running statistics); without it each rank's statistics are its own batch's (equal to a
//    single process run on that rank's half, unequal to the global batch's).
#include <gtest/gtest.h>

#include <condition_variable>
#include <cmath>
#include <functional>
#include <mutex>
#include <thread>

#include "gpunet/autograd.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/nn/layers.h"
#include "gpunet/ops.h"
#include "gpunet/optim/sgd.h"
#include "gpunet/sync_batch_norm.h"
#include "gpunet/train.h"

namespace gpunet {
namespace {

// K threads, one sum per round (a barrier that adds).
class ThreadGroup : public SumGroup {
 public:
  explicit ThreadGroup(int k) : k_(k) {}
  int size() const override { return k_; }
  void allreduce_sum(std::vector<double>& v) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (arrived_ == 0) acc_.assign(v.size(), 0.0);
    EXPECT_EQ(acc_.size(), v.size());
    for (size_t i = 0; i < v.size() && i < acc_.size(); ++i) acc_[i] += v[i];
    const uint64_t gen = gen_;
    if (++arrived_ == k_) {
      result_ = acc_;
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
    v = result_;
  }

 private:
  int k_, arrived_ = 0;
  uint64_t gen_ = 0;
  std::vector<double> acc_, result_;
  std::mutex mu_;
  std::condition_variable cv_;
};

// Runs f(rank) on `k` threads at once.
void on_ranks(int k, const std::function<void(int)>& f) {
  std::vector<std::thread> ts;
  for (int r = 0; r < k; ++r) ts.emplace_back(f, r);
  for (auto& t : ts) t.join();
}

// max |a - b| / max(max|b|, tiny): relative to the tensor's scale.
double rel(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  EXPECT_EQ(va.size(), vb.size());
  double scale = 1e-12, worst = 0;
  for (float v : vb) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) worst = std::max(worst, std::fabs(double(va[i]) - vb[i]));
  return worst / scale;
}

Tensor param(const Tensor& t) { return t.clone().requires_grad_(); }

TEST(SyncBn, TwoRanksEqualBatchNormAtTheDoubleBatch) {
  Generator gen(7);
  const int64_t N = 8, C = 3, H = 5, W = 4;
  // A mean far from 0 (the variance must not cancel) and unequal halves (the ranks' batch
  // statistics differ from the global ones).
  Tensor x = ops::add(Tensor::normal({N, C, H, W}, 0.f, 2.f, gen), 30.0);
  Tensor xs = x.clone();
  xs.narrow(0, 0, 4).copy_(ops::add(x.narrow(0, 0, 4), 3.0));
  Tensor gy = Tensor::normal({N, C, H, W}, 0.f, 1.f, gen);
  Tensor w0 = Tensor::uniform({C}, 0.5f, 1.5f, gen), b0 = Tensor::uniform({C}, -1.f, 1.f, gen);
  Tensor rm0 = Tensor::uniform({C}, -1.f, 1.f, gen), rv0 = Tensor::uniform({C}, 0.5f, 2.f, gen);

  Tensor x1 = param(xs), w1 = param(w0), b1 = param(b0), rm1 = rm0.clone(), rv1 = rv0.clone();
  Tensor y1 = ops::batch_norm2d(x1, w1, b1, rm1, rv1, true, 0.1, 1e-5);
  ops::sum(ops::mul(y1, gy)).backward();

  auto group = std::make_shared<ThreadGroup>(2);
  struct Rank { Tensor x, w, b, rm, rv, y; };
  std::vector<Rank> rk(2);
  on_ranks(2, [&](int r) {
    Rank& k = rk[r];
    k.x = param(xs.narrow(0, 4 * r, 4).contiguous());
    k.w = param(w0), k.b = param(b0), k.rm = rm0.clone(), k.rv = rv0.clone();
    k.y = ops::sync_batch_norm2d(k.x, k.w, k.b, k.rm, k.rv, 0.1, 1e-5, group);
    ops::sum(ops::mul(k.y, gy.narrow(0, 4 * r, 4).contiguous())).backward();
  });
  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    EXPECT_LT(rel(rk[r].y, y1.narrow(0, 4 * r, 4).contiguous()), 1e-6);
    EXPECT_LT(rel(rk[r].x.grad(), x1.grad().narrow(0, 4 * r, 4).contiguous()), 1e-5);
    EXPECT_LT(rel(rk[r].rm, rm1), 1e-6);
    EXPECT_LT(rel(rk[r].rv, rv1), 1e-6);
  }
  // The weight and bias gradients are each rank's share: their sum is the single process's.
  EXPECT_LT(rel(ops::add(rk[0].w.grad(), rk[1].w.grad()), w1.grad()), 1e-5);
  EXPECT_LT(rel(ops::add(rk[0].b.grad(), rk[1].b.grad()), b1.grad()), 1e-5);
  // Not the per-rank statistics: batch_norm2d on a half differs.
  Tensor rm_half = rm0.clone(), rv_half = rv0.clone();
  Tensor y_half = ops::batch_norm2d(xs.narrow(0, 0, 4).contiguous(), w0, b0, rm_half, rv_half, true, 0.1, 1e-5);
  EXPECT_GT(rel(y_half, y1.narrow(0, 0, 4).contiguous()), 1e-2);
  EXPECT_GT(rel(rm_half, rm1), 1e-2);
}

// A small BN network: conv -> BN -> ReLU -> linear.
std::shared_ptr<nn::Module> bn_net() {
  Generator gen(3);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(3, 6, 3, 1, 1, true, gen));
  net->push_back(std::make_shared<nn::BatchNorm2d>(6));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Conv2d>(6, 4, 3, 2, 1, false, gen));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(4 * 4 * 4, 5, true, gen));
  return net;
}

// DDP's gradient averaging over the threads.
struct ThreadGradSync : GradSync {
  ThreadGradSync(ThreadGroup& g, nn::Module& m) : group(g), model(m) {}
  void before_backward() override {}
  void after_backward() override {
    NoGradGuard no_grad;
    for (auto& [name, p] : model.named_parameters()) {
      Tensor g = p.grad();
      const auto f = g.to_vector<float>();
      std::vector<double> v(f.begin(), f.end());
      group.allreduce_sum(v);
      std::vector<float> mean(v.size());
      for (size_t i = 0; i < v.size(); ++i) mean[i] = static_cast<float>(v[i] / group.size());
      g.copy_(Tensor::from_vector(mean, g.shape()));
    }
  }
  ThreadGroup& group;
  nn::Module& model;
};

struct Batch { Tensor x, y; };
std::vector<Batch> batches(int steps) {
  Generator gen(11);
  std::vector<Batch> out;
  for (int s = 0; s < steps; ++s) {
    Tensor x = ops::add(Tensor::normal({8, 3, 8, 8}, 0.f, 1.f, gen), 0.5);
    x.narrow(0, 0, 4).copy_(ops::mul(x.narrow(0, 0, 4), 2.0));  // the halves' statistics differ
    std::vector<int64_t> y(8);
    for (int i = 0; i < 8; ++i) y[i] = (i * 3 + s) % 5;
    out.push_back({x, Tensor::from_vector(y, {8})});
  }
  return out;
}

// Trains `net` on rows [first, first + n) of every batch.
void train(nn::Module& net, const std::vector<Batch>& data, int64_t first, int64_t n, GradSync* sync) {
  optim::SGD opt(net, optim::SGDOptions{0.1, 0.9});
  TrainStep step(net, opt);
  step.set_grad_sync(sync);
  for (const Batch& b : data) step(b.x.narrow(0, first, n).contiguous(), b.y.narrow(0, first, n).contiguous());
}

double worst_state_diff(const nn::Module& a, const nn::Module& b, std::string* where) {
  const auto sa = a.state_dict(), sb = b.state_dict();
  double worst = 0;
  for (size_t i = 0; i < sa.size(); ++i) {
    if (sa[i].second.dtype() != DType::Float32) continue;
    const double d = rel(sa[i].second, sb[i].second);
    if (d > worst) worst = d, *where = sa[i].first;
  }
  return worst;
}

TEST(SyncBn, DataParallelWithSyncBnEqualsOneProcessAtTheDoubleBatch) {
  const auto data = batches(5);
  auto single = bn_net();
  train(*single, data, 0, 8, nullptr);
  ThreadGroup grads(2);
  auto stats = std::make_shared<ThreadGroup>(2);
  std::vector<std::shared_ptr<nn::Module>> nets{bn_net(), bn_net()};
  on_ranks(2, [&](int r) {
    EXPECT_EQ(nn::convert_sync_batchnorm(*nets[r], stats), 2);
    ThreadGradSync sync(grads, *nets[r]);
    train(*nets[r], data, 4 * r, 4, &sync);
  });
  for (int r = 0; r < 2; ++r) {
    std::string where;
    EXPECT_LT(worst_state_diff(*nets[r], *single, &where), 1e-5) << "rank " << r << ": worst at " << where;
  }
}

TEST(SyncBn, WithoutSyncBnEachRankKeepsItsOwnStatisticsAsDdp) {
  const auto data = batches(5);
  auto single = bn_net();
  train(*single, data, 0, 8, nullptr);
  ThreadGroup grads(2);
  std::vector<std::shared_ptr<nn::Module>> nets{bn_net(), bn_net()};
  on_ranks(2, [&](int r) {
    ThreadGradSync sync(grads, *nets[r]);
    train(*nets[r], data, 4 * r, 4, &sync);
  });
  // The per-rank computation: after one DDP step, rank r's running statistics are exactly those
  // of a single process stepped once on rank r's half alone (same weights, same rows), and not
  // those of the global batch.
  ThreadGroup g1(2);
  std::vector<std::shared_ptr<nn::Module>> pair{bn_net(), bn_net()};
  on_ranks(2, [&](int r) {
    ThreadGradSync sync(g1, *pair[r]);
    train(*pair[r], {data[0]}, 4 * r, 4, &sync);
  });
  auto global = bn_net();
  train(*global, {data[0]}, 0, 8, nullptr);
  auto bn = [](const std::shared_ptr<nn::Module>& m) -> nn::BatchNorm2d& {
    return dynamic_cast<nn::BatchNorm2d&>(*m->children()[1].second);
  };
  for (int r = 0; r < 2; ++r) {
    auto alone = bn_net();
    train(*alone, {data[0]}, 4 * r, 4, nullptr);
    EXPECT_EQ(bn(pair[r]).running_mean.to_vector<float>(), bn(alone).running_mean.to_vector<float>()) << "rank " << r;
    EXPECT_EQ(bn(pair[r]).running_var.to_vector<float>(), bn(alone).running_var.to_vector<float>()) << "rank " << r;
    EXPECT_GT(rel(bn(pair[r]).running_var, bn(global).running_var), 1e-3) << "rank " << r;
  }
  // After 5 steps: the weights agree between the ranks (averaged gradients), the running
  // statistics do not, and neither rank's are the global batch's.
  const auto s0 = nets[0]->state_dict(), s1 = nets[1]->state_dict(), s = single->state_dict();
  for (size_t i = 0; i < s0.size(); ++i) {
    const std::string& name = s0[i].first;
    if (s0[i].second.dtype() != DType::Float32) continue;
    const bool running = name.find("running_") != std::string::npos;
    if (running) {
      EXPECT_GT(rel(s0[i].second, s1[i].second), 1e-3) << name;
      EXPECT_GT(rel(s0[i].second, s[i].second), 1e-3) << name;
    } else {
      EXPECT_LT(rel(s0[i].second, s1[i].second), 1e-6) << name;
    }
  }
}

TEST(SyncBn, EvalModeUsesTheRunningStatisticsWithoutTheGroup) {
  auto net = bn_net();
  struct Refuse : SumGroup {
    int size() const override { return 2; }
    void allreduce_sum(std::vector<double>&) override { ADD_FAILURE() << "eval mode must not talk to the group"; }
  };
  nn::convert_sync_batchnorm(*net, std::make_shared<Refuse>());
  net->eval();
  NoGradGuard no_grad;
  Tensor y = (*net)(batches(1)[0].x);
  EXPECT_EQ(y.shape(), (Shape{8, 5}));
  EXPECT_FALSE(net->capturable());
}

}  // namespace
}  // namespace gpunet
