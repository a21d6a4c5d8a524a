// models::ResNet18 against torchvision's resnet18 in its CIFAR form (conv1 = 3x3 stride 1,
// maxpool = Identity): the same state_dict names, shapes and dtypes in the same order, and the
// same logits in eval mode on a fixed batch with the same weights. The weights come from a
// formula both sides compute (tools/gen_resnet18_fixture.py), so the 45 MB are not committed.
#include <gtest/gtest.h>

#include <cmath>

#include "gpunet/autograd.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/models/registry.h"
#include "gpunet/models/resnet.h"
#include "gpunet/ops.h"
#include "gpunet/optim/sgd.h"
#include "support/assert_close.h"
#include "support/formula.h"
#include "support/golden.h"
#include "support/run_command.h"

using namespace gpunet;
using test::formula_u;

namespace {

using test::fill_state_by_formula;

TEST(ResNet18, StateDictIsTorchvisionsInNamesShapesAndDtypes) {
  const auto fx = test::load_golden("resnet18_torchvision.json");
  models::ResNet18 net(10);
  const StateDict sd = net.state_dict();
  ASSERT_EQ(sd.size(), fx["tensors"].size());
  for (size_t i = 0; i < sd.size(); ++i) {
    const auto& e = fx["tensors"][i];
    SCOPED_TRACE(e["name"].get<std::string>());
    EXPECT_EQ(sd[i].first, e["name"].get<std::string>());
    EXPECT_EQ(sd[i].second.shape(), e["shape"].get<Shape>());
    EXPECT_EQ(dtype_name(sd[i].second.dtype()), e["dtype"].get<std::string>());
  }
  EXPECT_EQ(net.num_parameters(), 11173962);  // torchvision's resnet18(num_classes=10) with a 3x3 stem
}

TEST(ResNet18, SameLogitsAsTorchvisionWithTheSameWeights) {
  const auto fx = test::load_golden("resnet18_torchvision.json");
  models::ResNet18 net(10);
  fill_state_by_formula(net);
  net.eval();
  auto u = formula_u(1000, 2 * 3 * 32 * 32);
  std::vector<float> xv(u.begin(), u.end());
  NoGradGuard g;
  const Tensor logits = net(Tensor::from_vector(xv, {2, 3, 32, 32}));
  ASSERT_EQ(logits.shape(), (Shape{2, 10}));
  // The bound: within 1e-4 of torchvision's float32 logits (|logits| ~ 1).
  EXPECT_ALL_CLOSE(logits.to_vector<double>(), fx["logits"].get<std::vector<double>>(), 1e-4, 0.0);
  EXPECT_ALL_CLOSE(logits.to_vector<double>(), fx["logits_float64"].get<std::vector<double>>(), 1e-4, 0.0);
}

TEST(ResNet18, WeightsRoundTripThroughSafetensorsStrictly) {
  models::ResNet18 a(10);
  fill_state_by_formula(a);
  const std::string path = ::testing::TempDir() + "resnet18.safetensors";
  io::save_safetensors(path, a.state_dict());
  models::ResNet18 b(10);
  b.load_state_dict(io::load_safetensors(path).tensors, true);
  const StateDict sa = a.state_dict(), sb = b.state_dict();
  for (size_t i = 0; i < sa.size(); ++i)
    EXPECT_ALL_CLOSE(sb[i].second.to_vector<double>(), sa[i].second.to_vector<double>(), 0.0, 0.0) << sa[i].first;
}

TEST(ResNet18, TrainsAStepAndTracksBatches) {
  Generator gen(3);
  models::ResNet18 net(10, gen);
  optim::SGD opt(net, {.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  auto u = formula_u(5, 4 * 3 * 16 * 16);
  std::vector<float> xv(u.begin(), u.end());
  const Tensor x = Tensor::from_vector(xv, {4, 3, 16, 16});
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 3, 5, 7}, {4});
  const std::vector<double> before = net.fc->weight.to_vector<double>();
  opt.zero_grad();
  Tensor loss = ops::cross_entropy(net(x), y);
  EXPECT_TRUE(std::isfinite(loss.item()));
  loss.backward();
  opt.step();
  EXPECT_EQ(net.bn1->num_batches_tracked.item(), 1);
  EXPECT_NE(net.fc->weight.to_vector<double>(), before);
  EXPECT_TRUE(net.conv1->weight.grad().defined());
}

TEST(ResNet18, IsInTheRegistryAndRecognisedFromItsNames) {
  const auto& reg = models::registry();
  Generator gen(1);
  auto m = reg.make("resnet18", gen);
  std::vector<std::string> names;
  for (auto& [n, t] : m->state_dict()) names.push_back(n);
  const auto r = reg.recognise(names);
  ASSERT_NE(r.unique(), nullptr);
  EXPECT_EQ(r.unique()->name, "resnet18");
}

}  // namespace

// Through files and torchvision itself, when a Python with torch and torchvision is at hand
// ($GPUNET_TORCH_PYTHON, else python3): gpunet -> torchvision and torchvision -> gpunet.
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

using test::run_command;
using test::torch_python;

TEST(ResNet18Torchvision, WeightsMoveBothWaysWithTheSameLogits) {
  auto [rc0, out0] = run_command(torch_python() + " -c 'import torch, torchvision, safetensors, numpy'");
  if (rc0 != 0) GTEST_SKIP() << "no Python with torch, torchvision and safetensors (set GPUNET_TORCH_PYTHON): " << out0;
  const std::string dir = ::testing::TempDir(), tool = std::string(GPUNET_SOURCE_DIR) + "/tools/check_resnet18_torch.py";
  auto x_formula = [] {
    auto u = formula_u(1000, 2 * 3 * 32 * 32);
    return Tensor::from_vector(std::vector<float>(u.begin(), u.end()), {2, 3, 32, 32});
  };
  // gpunet -> torchvision.
  {
    Generator gen(11);
    models::ResNet18 net(10, gen);
    net.train();
    (void)net(x_formula());  // move the BN statistics off their initial values
    net.eval();
    NoGradGuard g;
    nlohmann::json j;
    j["logits"] = net(x_formula()).to_vector<double>();
    std::ofstream(dir + "gn_logits.json") << j.dump();
    io::save_safetensors(dir + "gn_resnet18.safetensors", net.state_dict());
    auto [rc, out] = run_command(torch_python() + " " + tool + " load " + dir + "gn_resnet18.safetensors " + dir + "gn_logits.json");
    EXPECT_EQ(rc, 0) << out;
  }
  // torchvision -> gpunet.
  {
    auto [rc, out] = run_command(torch_python() + " " + tool + " save " + dir + "tv_resnet18.safetensors " + dir + "tv_logits.json");
    ASSERT_EQ(rc, 0) << out;
    models::ResNet18 net(10);
    net.load_state_dict(io::load_safetensors(dir + "tv_resnet18.safetensors").tensors, true);
    net.eval();
    NoGradGuard g;
    std::ifstream f(dir + "tv_logits.json");
    const auto want = nlohmann::json::parse(f)["logits"].get<std::vector<double>>();
    EXPECT_ALL_CLOSE(net(x_formula()).to_vector<double>(), want, 1e-4, 0.0);
  }
}

}  // namespace
