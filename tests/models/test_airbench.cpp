// models::Airbench94 against the peer's Net (../shared/peers/pytorch_airbench.py): the same
// state_dict names, shapes, dtypes and frozen parameters in the same order; its initialisation;
// with the same deterministic weights (tools/gen_airbench_fixture.py's formula), the same eval
// logits, and in train mode the same logits, summed label-smoothed loss, BN statistics and
// gradients (tests/golden/airbench94_net.json); whitening from the data; weights both ways
// through the peer itself when a Python with torch is at hand.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/models/airbench.h"
#include "gpunet/models/registry.h"
#include "gpunet/ops.h"
#include "support/assert_close.h"
#include "support/formula.h"
#include "support/run_command.h"
#include "support/golden.h"

using namespace gpunet;
using test::formula_u;

namespace {

const nlohmann::json& net_fixture() {
  static const nlohmann::json fx = test::load_golden("airbench94_net.json");
  return test::golden_case(fx, "net");
}


using test::fill_state_by_formula;

Tensor formula_batch() {
  const std::vector<double> u = formula_u(1000, 4 * 3 * 32 * 32);
  return Tensor::from_vector(std::vector<float>(u.begin(), u.end()), {4, 3, 32, 32});
}

// Worst |got - want| over the largest |want|, printed, and checked against `bound`.
void expect_relative(const std::string& what, const std::vector<double>& got, const std::vector<double>& want,
                     double bound) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0, worst = 0;
  size_t at = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < got.size(); ++i)
    if (std::abs(got[i] - want[i]) > worst) worst = std::abs(got[i] - want[i]), at = i;
  const double rel = worst / std::max(scale, 1e-30);
  std::cout << what << ": worst |diff| " << worst << " at " << at << " (" << rel << " of the largest |value| " << scale
            << ")\n";
  EXPECT_LE(rel, bound) << what << " element " << at << ": " << got[at] << " vs the peer's " << want[at];
}

TEST(Airbench94, StateDictIsThePeersInNamesShapesDtypesAndFrozenParameters) {
  const nlohmann::json& fx = net_fixture();
  models::Airbench94 net;
  const StateDict sd = net.state_dict();
  ASSERT_EQ(sd.size(), fx["tensors"].size());
  const StateDict params = net.named_parameters();
  for (size_t i = 0; i < sd.size(); ++i) {
    const nlohmann::json& e = fx["tensors"][i];
    SCOPED_TRACE(e["name"].get<std::string>());
    EXPECT_EQ(sd[i].first, e["name"].get<std::string>());
    EXPECT_EQ(sd[i].second.shape(), e["shape"].get<Shape>());
    EXPECT_EQ(dtype_name(sd[i].second.dtype()), e["dtype"].get<std::string>());
    const bool is_param = std::any_of(params.begin(), params.end(), [&](auto& p) { return p.first == sd[i].first; });
    EXPECT_EQ(is_param, e["parameter"].get<bool>());
    EXPECT_EQ(sd[i].second.requires_grad(), e["requires_grad"].get<bool>());
  }
  EXPECT_EQ(net.num_parameters(), fx["num_parameters"].get<int64_t>());
}

TEST(Airbench94, InitialisedAsThePeer) {
  Generator gen(5);
  models::Airbench94 net(gen);
  EXPECT_EQ(net.whiten->bias.to_vector<float>(), std::vector<float>(24, 0.f));
  for (const auto* g : {net.group1.get(), net.group2.get(), net.group3.get()}) {
    for (const auto* conv : {g->conv1.get(), g->conv2.get()}) {
      const Tensor& w = conv->weight;
      const int64_t out = w.size(0), in = w.size(1);
      const std::vector<float> v = w.to_vector<float>();
      const double bound = 1.0 / std::sqrt(static_cast<double>(in * 9));
      double sumsq = 0;
      int64_t rest = 0;
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i)
          for (int k = 0; k < 9; ++k) {
            const float x = v[static_cast<size_t>((o * in + i) * 9 + k)];
            if (o < in) {  // dirac_: the identity on channel o
              ASSERT_EQ(x, (i == o && k == 4) ? 1.f : 0.f) << "filter " << o << " input " << i << " tap " << k;
            } else {  // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
              ASSERT_LE(std::abs(x), bound);
              sumsq += static_cast<double>(x) * x;
              ++rest;
            }
          }
      if (rest > 1000) EXPECT_NEAR(std::sqrt(sumsq / static_cast<double>(rest)), bound / std::sqrt(3.0), 0.05 * bound);
    }
    for (const auto* bn : {g->norm1.get(), g->norm2.get()}) {
      EXPECT_EQ(bn->eps(), 1e-12);
      EXPECT_EQ(bn->momentum().value(), 0.4);
      EXPECT_FALSE(bn->weight.requires_grad());
      EXPECT_TRUE(bn->bias.requires_grad());
      const std::vector<float> ones(static_cast<size_t>(bn->num_features()), 1.f);
      EXPECT_EQ(bn->weight.to_vector<float>(), ones);
      EXPECT_EQ(bn->running_var.to_vector<float>(), ones);
    }
  }
  const std::vector<float> h = net.head->weight.to_vector<float>();
  for (float x : h) ASSERT_LE(std::abs(x), 1.0 / 16.0);  // 1/sqrt(256)
  EXPECT_FALSE(net.whiten->weight.requires_grad());
  EXPECT_EQ(net.head->bias.defined(), false);
  Generator other(6);
  models::Airbench94 net2(other);
  EXPECT_NE(net2.head->weight.to_vector<float>(), h);
}

TEST(Airbench94, SameEvalLogitsAsThePeerWithTheSameWeights) {
  const nlohmann::json& fx = net_fixture();
  models::Airbench94 net;
  fill_state_by_formula(net);
  net.eval();
  NoGradGuard g;
  const Tensor logits = net(formula_batch());
  ASSERT_EQ(logits.shape(), (Shape{4, 10}));
  expect_relative("eval logits vs float32", logits.to_vector<double>(), test::golden_doubles(fx["eval_logits"]), 1e-4);
  expect_relative("eval logits vs float64", logits.to_vector<double>(), test::golden_doubles(fx["eval_logits_float64"]),
                  1e-4);
}

TEST(Airbench94, TrainStepForwardAndBackwardMatchThePeer) {
  const nlohmann::json& fx = net_fixture();
  models::Airbench94 net;
  fill_state_by_formula(net);
  net.train();
  const Tensor y = Tensor::from_vector(fx["y"].get<std::vector<int64_t>>(), {4});
  const Tensor logits = net(formula_batch());
  expect_relative("train logits", logits.to_vector<double>(), test::golden_doubles(fx["train_logits"]), 1e-4);
  Tensor loss = ops::cross_entropy(logits, y, 0.2, ops::Reduction::Sum);
  EXPECT_NEAR(loss.item(), fx["train_loss_sum"].get<double>(), 1e-5 * fx["train_loss_sum"].get<double>());
  loss.backward();
  const StateDict sd = net.state_dict();
  for (const auto& [name, t] : sd) {
    if (!fx["stats_after"].contains(name)) continue;
    if (t.dtype() == DType::Int64) {
      EXPECT_EQ(t.item(), test::golden_ints(fx["stats_after"][name])[0]) << name;
      continue;
    }
    expect_relative(name, t.to_vector<double>(), test::golden_doubles(fx["stats_after"][name]), 1e-5);
  }
  int checked = 0;
  for (const auto& [name, p] : net.named_parameters()) {
    SCOPED_TRACE(name);
    if (!fx["grads"].contains(name)) {
      EXPECT_FALSE(p.requires_grad());
      EXPECT_FALSE(p.grad().defined()) << "a frozen parameter got a gradient";
      continue;
    }
    ASSERT_TRUE(p.grad().defined());
    const nlohmann::json& e = fx["grads"][name];
    const std::vector<double> g = p.grad().to_vector<double>();
    std::vector<double> got;
    if (e.contains("index"))
      for (int64_t i : e["index"].get<std::vector<int64_t>>()) got.push_back(g[static_cast<size_t>(i)]);
    else
      got = g;
    // Gradients through six BN layers in float32 (seen: 6e-6 of the largest): the bound is on the
    // worst element over the largest, and on the whole tensor's norm.
    expect_relative("grad " + name, got, e["data"].get<std::vector<double>>(), 5e-5);
    double norm = 0;
    for (double v : g) norm += v * v;
    EXPECT_NEAR(std::sqrt(norm), e["norm"].get<double>(), 1e-4 * e["norm"].get<double>());
    ++checked;
  }
  EXPECT_EQ(checked, 14);  // whiten.bias, 6 convs, 6 BN biases, head
}

TEST(Airbench94, WhiteningFromTheDataIsSetAndFrozen) {
  models::Airbench94 net;
  const data::Cifar10 train(data::sample_dir(), data::Split::Train);
  const data::Whitening w = net.whiten_from(train, data::Transforms::airbench());
  EXPECT_EQ(w.images, 2000);
  EXPECT_EQ(net.whiten->weight.to_vector<float>(), w.filters.to_vector<float>());
  EXPECT_FALSE(net.whiten->weight.requires_grad());
  EXPECT_THROW(net.set_whitening(Tensor::zeros({12, 3, 2, 2})), InputError);
  // A whole training step leaves it alone: no gradient reaches it.
  net.train();
  Tensor loss = ops::cross_entropy(net(formula_batch()), Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4}));
  loss.backward();
  EXPECT_FALSE(net.whiten->weight.grad().defined());
  EXPECT_TRUE(net.whiten->bias.grad().defined());
}

TEST(Airbench94, WeightsRoundTripThroughSafetensorsStrictlyAndTheRegistryKnowsIt) {
  models::Airbench94 a;
  fill_state_by_formula(a);
  const std::string path = ::testing::TempDir() + "airbench94.safetensors";
  io::save_safetensors(path, a.state_dict());
  Generator gen(2);
  auto b = models::make_model("airbench94", gen);
  b->load_state_dict(io::load_safetensors(path).tensors, true);
  const StateDict sa = a.state_dict(), sb = b->state_dict();
  for (size_t i = 0; i < sa.size(); ++i)
    EXPECT_EQ(sb[i].second.to_vector<double>(), sa[i].second.to_vector<double>()) << sa[i].first;
  std::vector<std::string> names;
  for (const auto& [n, t] : sa) names.push_back(n);
  const models::Recognition r = models::registry().recognise(names);
  ASSERT_NE(r.unique(), nullptr);
  EXPECT_EQ(r.unique()->name, "airbench94");
}

// ---- through the peer itself ---------------------------------------------------------------
using test::run_command;

TEST(Airbench94Peer, WeightsMoveBothWaysWithTheSameLogits) {
  const std::string py = test::torch_python();
  const std::string peer = std::string(GPUNET_SOURCE_DIR) + "/../shared/peers/pytorch_airbench.py";
  if (!std::filesystem::exists(peer)) GTEST_SKIP() << "no peer at " << peer;
  auto [rc0, out0] = run_command(py + " -c 'import torch, safetensors, numpy'");
  if (rc0 != 0) GTEST_SKIP() << "no Python with torch and safetensors (set GPUNET_TORCH_PYTHON): " << out0;
  const std::string dir = ::testing::TempDir(), tool = py + " " + GPUNET_SOURCE_DIR + "/tools/gen_airbench_fixture.py";
  {  // gpunet -> the peer
    Generator gen(11);
    models::Airbench94 net(gen);
    net.train();
    (void)net(formula_batch());  // move the BN statistics off their initial values
    net.eval();
    NoGradGuard g;
    nlohmann::json j;
    j["logits"] = net(formula_batch()).to_vector<double>();
    std::ofstream(dir + "gn_airbench_logits.json") << j.dump();
    io::save_safetensors(dir + "gn_airbench.safetensors", net.state_dict());
    auto [rc, out] = run_command(tool + " load " + dir + "gn_airbench.safetensors " + dir + "gn_airbench_logits.json");
    EXPECT_EQ(rc, 0) << out;
  }
  {  // the peer -> gpunet
    auto [rc, out] = run_command(tool + " save " + dir + "peer_airbench.safetensors " + dir + "peer_airbench_logits.json");
    ASSERT_EQ(rc, 0) << out;
    models::Airbench94 net;
    net.load_state_dict(io::load_safetensors(dir + "peer_airbench.safetensors").tensors, true);
    net.eval();
    NoGradGuard g;
    std::ifstream f(dir + "peer_airbench_logits.json");
    const auto want = nlohmann::json::parse(f)["logits"].get<std::vector<double>>();
    EXPECT_ALL_CLOSE(net(formula_batch()).to_vector<double>(), want, 1e-4, 0.0);
  }
}

}  // namespace
