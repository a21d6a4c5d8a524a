// Optimizers on the parameter store: parameter groups with their own options, frozen parameters
// (no gradient, no update of any kind), the learning rate and step count in the device scalars
// (set_lr, steps), state round trips through state_tensors/load_state, and the capability flags
// that TrainStep reads.
#include <gtest/gtest.h>

#include <cmath>

#include "gpunet/gpunet.h"
#include "io/io_test_util.h"

using namespace gpunet;
using io::testing::expect_input_error;

namespace {

struct Net {
  Generator gen{11};
  std::shared_ptr<nn::Sequential> seq = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, 5, true, gen), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(5, 3, true, gen)});
  nn::Linear& l1() { return static_cast<nn::Linear&>(*seq->children()[0].second); }
  nn::Linear& l2() { return static_cast<nn::Linear&>(*seq->children()[2].second); }
  // A fixed loss whose gradient reaches every parameter.
  Tensor loss() {
    Generator g(3);
    Tensor x = Tensor::uniform({4, 6}, -1.f, 1.f, g);
    return ops::cross_entropy((*seq)(x), Tensor::from_vector<int64_t>({0, 2, 1, 2}, {4}));
  }
};

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

// The exact float32 rule of a plain SGD step (no momentum): p - lr * (g + wd * p).
std::vector<float> sgd_by_hand(const std::vector<float>& p, const std::vector<float>& g, double lr, double wd) {
  std::vector<float> out(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    float d = g[i];
    if (wd != 0) d = d + static_cast<float>(wd) * p[i];
    out[i] = p[i] + (-static_cast<float>(lr)) * d;
  }
  return out;
}

}  // namespace

TEST(Optimizer, ParameterGroupsUseTheirOwnOptions) {
  Net n;
  optim::SGD opt({{{n.l1().weight, n.l1().bias}, optim::sgd_group({.lr = 0.1})},
                  {{n.l2().weight, n.l2().bias}, optim::sgd_group({.lr = 0.5, .weight_decay = 0.01})}},
                 n.seq.get());
  EXPECT_EQ(n.seq->param_store().get(), &opt.store());
  ASSERT_EQ(opt.store().num_groups(), 2u);
  EXPECT_EQ(opt.lr(1), 0.5);
  const auto w1 = values(n.l1().weight), w2 = values(n.l2().weight);
  opt.zero_grad();
  n.loss().backward();
  const auto g1 = values(n.l1().weight.grad()), g2 = values(n.l2().weight.grad());
  opt.step();
  EXPECT_EQ(values(n.l1().weight), sgd_by_hand(w1, g1, 0.1, 0.0));
  EXPECT_EQ(values(n.l2().weight), sgd_by_hand(w2, g2, 0.5, 0.01));
  EXPECT_EQ(opt.steps(), 1);
  // Options are checked per group, before any parameter is touched.
  expect_input_error([&] { optim::SGD bad({{{n.l1().weight}, optim::sgd_group({.lr = -1})}}); },
                     {"SGD", "learning rate", "-1", "group 0"});
  expect_input_error(
      [&] { optim::SGD bad({{{n.l1().weight}, {}}, {{n.l2().weight}, optim::sgd_group({.nesterov = true})}}); },
      {"nesterov", "group 1"});
}

TEST(Optimizer, AdamGroupsShareTheStepCountAndMatchSeparateOptimizers) {
  // Two groups in one Adam = two Adams over the halves (the bias corrections per group).
  Net a, b;
  optim::Adam two({{{a.l1().weight, a.l1().bias}, optim::adam_group({.lr = 0.01})},
                   {{a.l2().weight, a.l2().bias}, optim::adam_group({.lr = 0.003, .beta1 = 0.8, .weight_decay = 0.1})}});
  optim::Adam first({b.l1().weight, b.l1().bias}, {.lr = 0.01});
  optim::Adam second({b.l2().weight, b.l2().bias}, {.lr = 0.003, .beta1 = 0.8, .weight_decay = 0.1});
  for (int s = 0; s < 4; ++s) {
    two.zero_grad();
    a.loss().backward();
    two.step();
    first.zero_grad();
    second.zero_grad();
    b.loss().backward();
    first.step();
    second.step();
  }
  EXPECT_EQ(values(a.l1().weight), values(b.l1().weight));
  EXPECT_EQ(values(a.l1().bias), values(b.l1().bias));
  EXPECT_EQ(values(a.l2().weight), values(b.l2().weight));
  EXPECT_EQ(values(a.l2().bias), values(b.l2().bias));
  EXPECT_EQ(two.steps(), 4);
  auto names = two.state_tensors();
  ASSERT_EQ(names.size(), 8u);
  EXPECT_EQ(names[0].first, "state.0.exp_avg");
  EXPECT_EQ(names[7].first, "state.3.exp_avg_sq");
  expect_input_error([&] { optim::Adam bad({{{a.l1().weight}, optim::adam_group({})}, {{a.l2().weight}, optim::adam_group(optim::adamw_options())}}); },
                     {"group 1", "AdamW"});
}

TEST(Optimizer, FrozenParametersGetNoGradientAndNoUpdate) {
  Net n;
  optim::SGD opt(*n.seq, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  n.l1().bias.requires_grad_(false);  // frozen during training: no step, no weight decay, no momentum
  const auto frozen = values(n.l1().bias);
  const auto w = values(n.l1().weight);
  for (int s = 0; s < 3; ++s) {
    opt.zero_grad();
    n.loss().backward();
    opt.step();
    EXPECT_FALSE(n.l1().bias.grad().defined());
  }
  EXPECT_EQ(values(n.l1().bias), frozen);
  EXPECT_NE(values(n.l1().weight), w);
  for (const auto& [name, t] : opt.state_tensors()) EXPECT_NE(name, "state.1.momentum_buffer");
  EXPECT_EQ(opt.state_tensors().size(), 3u);
  // Unfrozen, it trains again.
  n.l1().bias.requires_grad_(true);
  opt.zero_grad();
  n.loss().backward();
  opt.step();
  EXPECT_NE(values(n.l1().bias), frozen);
}

TEST(Optimizer, LearningRateAndStepCountLiveInTheDeviceScalars) {
  Net n;
  optim::SGD opt(*n.seq, {.lr = 0.1});
  EXPECT_EQ(opt.steps(), 0);
  EXPECT_EQ(opt.step_scalars().dtype(), DType::Float64);
  EXPECT_EQ(opt.step_scalars().device(), n.seq->device());
  opt.set_lr(0, 0.25);
  EXPECT_EQ(opt.lr(0), 0.25);
  EXPECT_EQ(opt.step_scalars().to_vector<double>()[1], 0.25);
  const auto w = values(n.l2().weight);
  opt.zero_grad();
  n.loss().backward();
  const auto g = values(n.l2().weight.grad());
  opt.step();
  EXPECT_EQ(values(n.l2().weight), sgd_by_hand(w, g, 0.25, 0.0));
  opt.set_lr(0, 0.0);
  const auto w2 = values(n.l2().weight);
  opt.step();
  EXPECT_EQ(values(n.l2().weight), w2);
  EXPECT_EQ(opt.steps(), 2);
  expect_input_error([&] { opt.set_lr(0, -0.1); }, {"set_lr", "-0.1"});
  expect_input_error([&] { opt.set_lr(3, 0.1); }, {"set_lr", "group 3"});
}

TEST(Optimizer, StateRoundTripResumesBitForBit) {
  for (bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "adam" : "sgd");
    auto make = [&](nn::Module& m) -> std::unique_ptr<optim::Optimizer> {
      if (adam) return std::make_unique<optim::Adam>(m, optim::AdamOptions{.lr = 0.01});
      return std::make_unique<optim::SGD>(m, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
    };
    Net a, b;
    auto oa = make(*a.seq);
    auto ob = make(*b.seq);
    for (int s = 0; s < 3; ++s) {
      oa->zero_grad();
      a.loss().backward();
      oa->step();
    }
    // Resume b from a's state (copies, as a checkpoint would).
    StateDict sd;
    for (auto& [name, t] : oa->state_tensors()) sd.emplace_back(name, t.clone());
    if (!adam) EXPECT_EQ(sd.front().first, "state.0.momentum_buffer");
    b.seq->load_state_dict(a.seq->state_dict());
    ob->load_state(sd, oa->state_scalars());
    EXPECT_EQ(ob->steps(), 3);
    for (auto* n : {&a, &b}) {
      auto& o = n == &a ? *oa : *ob;
      o.zero_grad();
      n->loss().backward();
      o.step();
    }
    EXPECT_EQ(values(a.l1().weight), values(b.l1().weight));
    EXPECT_EQ(values(a.l2().bias), values(b.l2().bias));
    auto scalars = oa->state_scalars();
    scalars["optimizer"] = adam ? "sgd" : "adam";
    expect_input_error([&] { ob->load_state(sd, scalars); }, {"saved by optimizer"});
  }
}

namespace {
// A module that draws on the host in forward(): a graph would freeze the draw.
class HostNoise : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  bool capturable() const override { return false; }
};
// An optimizer that did not declare itself capturable.
class PlainSgd : public optim::SGD {
 public:
  using SGD::SGD;
  bool capturable() const override { return false; }
};
}  // namespace

TEST(Optimizer, CapabilityFlags) {
  Net n;
  EXPECT_TRUE(n.seq->capturable());
  optim::SGD sgd(*n.seq, {.lr = 0.1});
  optim::Adam adam(std::vector<Tensor>{n.l1().weight}, {});
  EXPECT_TRUE(sgd.capturable());
  EXPECT_TRUE(adam.capturable());
  auto noisy = std::make_shared<nn::Sequential>(
      std::initializer_list<std::shared_ptr<nn::Module>>{std::make_shared<nn::Linear>(2, 2), std::make_shared<HostNoise>()});
  EXPECT_FALSE(noisy->capturable());
  // On the CPU the graph mode is ignored, so neither flag matters there.
  PlainSgd plain(*noisy, optim::SGDOptions{.lr = 0.1});
  EXPECT_FALSE(plain.capturable());
  EXPECT_NO_THROW({ TrainStep s(*noisy, plain, GraphMode::On); });
}

TEST(Optimizer, StepsRunOnTheParametersDevice) {
  // The update kernels run under the parameters' device (GPUNET_DISPATCH's guard), whatever
  // device is current: cuda:1 parameters with cuda:0 current give the CPU's results.
  if (cuda::device_count() < 2) GTEST_SKIP() << "needs two GPUs, found " << cuda::device_count();
  for (bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "adam" : "sgd");
    Net cpu, gpu;
    gpu.seq->to(Device::cuda(1));
    auto make = [&](nn::Module& m) -> std::unique_ptr<optim::Optimizer> {
      if (adam) return std::make_unique<optim::Adam>(m, optim::AdamOptions{.lr = 0.01});
      return std::make_unique<optim::SGD>(m, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
    };
    auto oc = make(*cpu.seq);
    auto og = make(*gpu.seq);
    Generator g(3);
    Tensor x = Tensor::uniform({4, 6}, -1.f, 1.f, g);
    Tensor y = Tensor::from_vector<int64_t>({0, 2, 1, 2}, {4});
    for (int s = 0; s < 3; ++s) {
      oc->zero_grad();
      ops::cross_entropy((*cpu.seq)(x), y).backward();
      oc->step();
      og->zero_grad();
      ops::cross_entropy((*gpu.seq)(x.to(Device::cuda(1))), y.to(Device::cuda(1))).backward();
      og->step();
    }
    EXPECT_EQ(og->steps(), 3);
    const auto a = cpu.l1().weight.to_vector<float>(), b = gpu.l1().weight.to_vector<float>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 + 1e-4 * std::fabs(a[i])) << i;
  }
}
