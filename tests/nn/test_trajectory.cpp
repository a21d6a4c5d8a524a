// A small residual net (conv + BatchNorm + GELU + shortcut + adaptive pool + linear) trained 20
// steps with the airbench recipe's rule: two parameter groups (BN biases at 16x the lr), SGD
// Nesterov with weight decay, a piecewise lr schedule (optim::Schedule), label-smoothed summed
// cross-entropy and the lookahead EMA (optim::Lookahead), from PyTorch's initial weights on the
// embedded CIFAR-10 sample in file order. Fixture: tools/gen_trajectory.py
// (tests/golden/trajectory.{json,safetensors}).
//
// The measure, per state tensor (weights and BN running statistics): the rms error of gpunet's
// final state against PyTorch's float64 run, relative to the rms of the float64 update (final
// minus initial). The allowance is stated in the fixture: MULTIPLE (3) x the worst such error
// of 8 PyTorch float32 runs whose initial weights were each moved one ulp at random, at least
// FLOOR (1e-6). gpunet in float32 must be as close as PyTorch's own float32 runs; and the same
// test must fail for a wrong weight decay, momentum or label smoothing (the mutation tests).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"
#include "gpunet/gpunet.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/optim/lookahead.h"
#include "gpunet/optim/schedule.h"
#include "support/golden.h"

using namespace gpunet;

namespace {

// tools/gen_trajectory.py's Net, with the same state_dict names.
class TrajNet : public nn::Module {
 public:
  explicit TrajNet(int w) {
    stem = register_module("stem", std::make_shared<nn::Conv2d>(3, w, 3, 2, 1, false));
    bn0 = register_module("bn0", std::make_shared<nn::BatchNorm2d>(w));
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(w, w, 3, 1, 1, false));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(w, w, 3, 1, 1, false));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(w));
    head = register_module("head", std::make_shared<nn::Linear>(w, 10));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = ops::gelu((*bn0)((*stem)(x)));
    Tensor f = (*bn2)((*conv2)(ops::gelu((*bn1)((*conv1)(h)))));
    Tensor y = ops::gelu(h + f);  // the shortcut: y = x + f(x)
    return (*head)(ops::adaptive_avg_pool2d(y, 1).flatten(1));
  }
  std::shared_ptr<nn::Conv2d> stem, conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn0, bn1, bn2;
  std::shared_ptr<nn::Linear> head;
};

struct Fixture {
  nlohmann::json meta = test::load_golden("trajectory.json");
  std::map<std::string, Tensor> t;
  Fixture() {
    for (auto& [k, v] : io::load_safetensors(std::string(GPUNET_TEST_GOLDEN_DIR) + "/trajectory.safetensors").tensors)
      t[k] = v;
  }
  const Tensor& at(const std::string& k) const {
    auto it = t.find(k);
    if (it == t.end()) throw Error("trajectory fixture has no " + k);
    return it->second;
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// The training rule's knobs; the mutation tests change one each.
struct Rule {
  double weight_decay_scale = 1.0;
  double momentum;
  double label_smoothing;
};

Rule recipe_rule() {
  const auto& m = fixture().meta;
  return Rule{1.0, m["momentum"].get<double>(), m["label_smoothing"].get<double>()};
}

struct Run {
  std::map<std::string, Tensor> final_state;  // on the CPU
  std::vector<double> losses;
};

bool is_bn_bias(const std::string& name) { return name.rfind("bn", 0) == 0 && name.size() > 5 && name.substr(name.size() - 5) == ".bias"; }

Run train(Device dev, const Rule& rule) {
  const auto& fx = fixture();
  const auto& m = fx.meta;
  const int steps = m["steps"], batch = m["batch"];
  TrajNet net(m["width"].get<int>());
  StateDict init;
  for (auto& [n, t] : net.state_dict()) init.emplace_back(n, fx.at("init." + n));
  net.load_state_dict(init);
  net.to(dev);
  net.train();

  // Two parameter groups as torch's param_groups: the BN biases at bias_lr_scale x the lr, the
  // rest at the base lr; weight_decay = wd / group lr (the recipe's convention).
  std::vector<Tensor> biases, others;
  for (auto& [n, p] : net.named_parameters()) (is_bn_bias(n) ? biases : others).push_back(p);
  const double base_lr = m["base_lr"], lr_bias = base_lr * m["bias_lr_scale"].get<double>();
  const double wd = m["wd"].get<double>() * rule.weight_decay_scale;
  auto group = [&](double lr) {
    return optim::sgd_group({.lr = lr, .momentum = rule.momentum, .weight_decay = wd / lr, .nesterov = true});
  };
  optim::SGD opt({{biases, group(lr_bias)}, {others, group(base_lr)}}, &net);

  // lr factor: numpy.interp(step, [0, int(0.23 * steps), steps], lr_points).
  const auto pts = m["lr_points"].get<std::vector<double>>();
  const double warm = std::floor(m["warmup_fraction"].get<double>() * steps);
  opt.set_schedule(optim::Schedule::piecewise({{0, pts[0]}, {warm, pts[1]}, {double(steps), pts[2]}}), steps);

  optim::Lookahead ema(net);
  const int ema_every = m["ema_every"];
  const double ema_base = m["ema_base"];

  auto data = std::make_shared<data::Cifar10>(data::sample_dir(), data::Split::Train);
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = false;
  lo.device = dev;
  lo.transforms.mean = m["mean"].get<std::vector<float>>();
  lo.transforms.std = m["std"].get<std::vector<float>>();
  data::DataLoader loader(data, lo);

  Run run;
  data::Batch b;
  for (int s = 0; s < steps; ++s) {
    if (!loader.next(b)) throw Error("trajectory: the sample ran out of batches");
    // The schedule gives PyTorch's lr for this step in both groups (fixture's lr_factors).
    const double factor = m["lr_factors"][s].get<double>();
    EXPECT_NEAR(opt.current_lr(0), lr_bias * factor, 1e-12 * lr_bias) << "step " << s;
    EXPECT_NEAR(opt.current_lr(1), base_lr * factor, 1e-12 * base_lr) << "step " << s;
    Tensor loss = ops::cross_entropy(net(b.x), b.y, rule.label_smoothing, ops::Reduction::Sum);
    opt.zero_grad();
    loss.backward();
    opt.step();
    run.losses.push_back(loss.item());
    if ((s + 1) % ema_every == 0)
      ema.update(optim::lookahead_decay(s + 1, steps, ema_every, ema_base));
  }
  ema.copy_to_net();
  for (auto& [n, t] : net.state_dict()) run.final_state[n] = t.to(Device::cpu());
  return run;
}

// rms(got - ref) / rms(ref - init), in double.
double relative_rms_error(const Tensor& got, const Tensor& ref, const Tensor& init) {
  auto g = got.to_vector<float>();
  auto r = ref.to_vector<double>();
  auto i0 = init.to_vector<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    num += (g[i] - r[i]) * (g[i] - r[i]);
    den += (r[i] - i0[i]) * (r[i] - i0[i]);
  }
  return std::sqrt(num / den);
}

// Per floating-point tensor: the relative rms error over its allowance (> 1: out of bounds).
std::map<std::string, double> error_ratios(const Run& run, std::string* report) {
  const auto& fx = fixture();
  std::map<std::string, double> out;
  std::ostringstream os;
  for (auto& [n, allowance] : fx.meta["allowance"].items()) {
    const double err = relative_rms_error(run.final_state.at(n), fx.at("final." + n), fx.at("init." + n));
    out[n] = std::isnan(err) ? INFINITY : err / allowance.get<double>();
    os << "  " << n << ": relative rms error " << err << ", allowance " << allowance.get<double>()
       << " (ensemble worst " << fx.meta["ensemble_worst"][n].get<double>() << ")\n";
  }
  if (report) *report = os.str();
  return out;
}

void expect_within_allowance(Device dev) {
  const auto& fx = fixture();
  Run run = train(dev, recipe_rule());
  std::string report;
  auto ratios = error_ratios(run, &report);
  ASSERT_EQ(ratios.size(), 17u);  // 11 parameters + 3 x (running_mean, running_var)
  std::cout << "gpunet vs PyTorch float64 on " << dev.str() << ":\n" << report;
  for (auto& [n, r] : ratios) EXPECT_LE(r, 1.0) << n << " is further from float64 than PyTorch's float32 runs:\n" << report;
  // The losses, against the float64 run's, with the ensemble's allowance too.
  auto want = fx.at("losses").to_vector<double>();
  const double loss_allowance = fx.meta["loss_allowance"];
  ASSERT_EQ(run.losses.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s)
    EXPECT_LE(std::fabs(run.losses[s] - want[s]) / std::fabs(want[s]), loss_allowance)
        << "step " << s << ": loss " << run.losses[s] << ", PyTorch float64 " << want[s];
  for (const char* bn : {"bn0", "bn1", "bn2"}) {
    auto nbt = run.final_state.at(std::string(bn) + ".num_batches_tracked").to_vector<int64_t>();
    EXPECT_EQ(nbt.at(0), 20) << bn;
  }
}

// A wrong rule must put at least one tensor beyond its allowance.
void expect_detected(const Rule& rule, const std::string& what) {
  std::string report;
  auto ratios = error_ratios(train(Device::cpu(), rule), &report);
  auto worst = std::max_element(ratios.begin(), ratios.end(), [](auto& a, auto& b) { return a.second < b.second; });
  EXPECT_GT(worst->second, 1.0) << what << " went unnoticed:\n" << report;
  // Not by a hair: the mutations the fixture records are far beyond the allowance.
  EXPECT_GT(worst->second, 10.0) << what << " is barely noticed (worst " << worst->first << ")\n" << report;
}

}  // namespace

TEST(Trajectory, FixtureStatesItsAllowance) {
  const auto& m = fixture().meta;
  EXPECT_EQ(m["ensemble"].get<int>(), 8);
  EXPECT_EQ(m["multiple"].get<double>(), 3.0);
  EXPECT_EQ(m["floor"].get<double>(), 1e-6);
  for (auto& [n, a] : m["allowance"].items()) {
    EXPECT_DOUBLE_EQ(a.get<double>(), std::max(3.0 * m["ensemble_worst"][n].get<double>(), 1e-6)) << n;
    EXPECT_LT(a.get<double>(), 1e-3) << n << ": an allowance this loose would hide a wrong rule";
  }
}

TEST(Trajectory, TwentyStepsAsCloseToFloat64AsPyTorchFloat32) { expect_within_allowance(Device::cpu()); }

TEST(Trajectory, WrongWeightDecayIsDetected) {
  Rule r = recipe_rule();
  r.weight_decay_scale = 1.1;
  expect_detected(r, "weight decay x 1.1");
}

TEST(Trajectory, WrongMomentumIsDetected) {
  Rule r = recipe_rule();
  r.momentum = 0.8;
  expect_detected(r, "momentum 0.8 instead of 0.9");
}

TEST(Trajectory, WrongLabelSmoothingIsDetected) {
  Rule r = recipe_rule();
  r.label_smoothing = 0.1;
  expect_detected(r, "label smoothing 0.1 instead of 0.2");
}

TEST(Trajectory, TwentyStepsOnTheGpu) {
  if (!cuda::is_available()) GTEST_SKIP() << "no GPU: " << cuda::unavailable_reason();
  expect_within_allowance(Device::cuda(0));
}
