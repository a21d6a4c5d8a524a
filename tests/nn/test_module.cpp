#include <gtest/gtest.h>

#include <cmath>

#include "gpunet/gpunet.h"

using namespace gpunet;

TEST(LeNet, StateDictHasPyTorchNamesAndShapes) {
  models::LeNet net;
  const std::vector<std::pair<std::string, Shape>> want = {
      {"conv1.weight", {6, 3, 5, 5}}, {"conv1.bias", {6}},     {"conv2.weight", {16, 6, 5, 5}}, {"conv2.bias", {16}},
      {"fc1.weight", {120, 400}},     {"fc1.bias", {120}},     {"fc2.weight", {84, 120}},       {"fc2.bias", {84}},
      {"fc3.weight", {10, 84}},       {"fc3.bias", {10}}};
  auto sd = net.state_dict();
  ASSERT_EQ(sd.size(), want.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(sd[i].first, want[i].first);
    EXPECT_EQ(sd[i].second.shape(), want[i].second) << sd[i].first;
    EXPECT_TRUE(sd[i].second.requires_grad());
  }
  EXPECT_EQ(net.num_parameters(), 62006);
  EXPECT_NE(nn::describe(net).find("(conv1): Conv2d(3, 6, kernel_size=(5, 5)"), std::string::npos) << nn::describe(net);
}

TEST(LeNet, InitialisationIsPyTorchsDistribution) {
  // kaiming_uniform_(a=sqrt(5)) and the bias rule: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  Generator g(0);
  models::LeNet net(g);
  const std::map<std::string, double> fan_in = {{"conv1", 75}, {"conv2", 150}, {"fc1", 400}, {"fc2", 120}, {"fc3", 84}};
  for (auto& [name, t] : net.state_dict()) {
    const double bound = 1.0 / std::sqrt(fan_in.at(name.substr(0, name.find('.'))));
    auto v = t.to_vector<float>();
    double lo = 1e9, hi = -1e9, mean = 0;
    for (float x : v) lo = std::min<double>(lo, x), hi = std::max<double>(hi, x), mean += x;
    mean /= v.size();
    EXPECT_GE(lo, -bound) << name;
    EXPECT_LT(hi, bound) << name;
    if (v.size() > 1000) {
      EXPECT_GT(hi, 0.95 * bound) << name;
      EXPECT_NEAR(mean, 0.0, 0.05 * bound) << name;
    }
  }
  Generator g2(0);
  models::LeNet same(g2);
  EXPECT_EQ(same.fc1->weight.to_vector<float>(), net.fc1->weight.to_vector<float>());
}

TEST(LeNet, ForwardShapeAndInputCheck) {
  models::LeNet net;
  Generator g(1);
  Tensor x = Tensor::normal({2, 3, 32, 32}, 0, 1, g);
  Tensor y = net(x);
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
  EXPECT_THROW(net(Tensor::zeros({2, 1, 32, 32})), Error);
}

TEST(Module, GradientsAccumulateAndZeroGradClears) {
  models::LeNet net;
  Generator g(2);
  Tensor x = Tensor::normal({2, 3, 32, 32}, 0, 1, g);
  Tensor y = Tensor::from_vector<int64_t>({3, 7}, {2});
  ops::cross_entropy(net(x), y).backward();
  auto g1 = net.fc3->weight.grad().to_vector<float>();
  ops::cross_entropy(net(x), y).backward();
  auto g2 = net.fc3->weight.grad().to_vector<float>();
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g2[i], 2 * g1[i], 1e-6 + 1e-5 * std::fabs(g1[i]));
  net.zero_grad();
  EXPECT_FALSE(net.fc3->weight.grad().defined());
  // With an optimizer's parameter store, zero_grad zeroes in place, and gradients land in the
  // store's flat buffer.
  optim::SGD opt(net, optim::SGDOptions{});
  EXPECT_EQ(net.param_store().get(), &opt.store());
  EXPECT_EQ(net.fc3->weight.grad().storage(), opt.store().grads().storage());
  ops::cross_entropy(net(x), y).backward();
  auto g3 = net.fc3->weight.grad().to_vector<float>();
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g3[i], g1[i], 1e-6 + 1e-5 * std::fabs(g1[i]));
  net.zero_grad();
  for (float v : net.fc3->weight.grad().to_vector<float>()) EXPECT_EQ(v, 0.f);
}

TEST(Module, ParamStoreKeepsValuesAndIdentity) {
  models::LeNet net;
  auto before = net.fc1->bias.to_vector<float>();
  Tensor handle = net.fc1->bias;
  optim::SGD opt(net, optim::SGDOptions{});
  EXPECT_EQ(handle.to_vector<float>(), before);
  EXPECT_EQ(net.conv1->weight.storage(), net.fc3->bias.storage());
  EXPECT_EQ(net.conv1->weight.storage(), opt.store().master().storage());
  EXPECT_TRUE(handle.is_same(net.fc1->bias));
  EXPECT_EQ(opt.store().master().numel(), net.num_parameters());
  // zero_grad zeroes the one gradient buffer: gradients stay defined, as views into it.
  ops::cross_entropy(net(Tensor::ones({1, 3, 32, 32})), Tensor::from_vector<int64_t>({1}, {1})).backward();
  net.zero_grad();
  for (auto& p : net.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().storage(), opt.store().grads().storage());
  }
  for (float v : opt.store().grads().to_vector<float>()) ASSERT_EQ(v, 0.f);
}

TEST(Module, LoadStateDictChecksNamesAndShapes) {
  models::LeNet a, b;
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.fc2->weight.to_vector<float>(), a.fc2->weight.to_vector<float>());
  auto sd = a.state_dict();
  sd.pop_back();
  try {
    b.load_state_dict(sd);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fc3.bias"), std::string::npos) << e.what();
  }
  b.load_state_dict(sd, /*strict=*/false);
  sd = a.state_dict();
  sd[0].second = Tensor::zeros({6, 1, 5, 5});
  try {
    b.load_state_dict(sd);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[6, 1, 5, 5]"), std::string::npos) << e.what();
  }
  sd = a.state_dict();
  sd.emplace_back("extra.weight", Tensor::zeros({1}));
  EXPECT_THROW(b.load_state_dict(sd), InputError);
}

TEST(Module, TrainEvalAndSequential) {
  auto seq = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(12, 5), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(5, 2)});
  auto names = seq->named_parameters();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0].first, "1.weight");
  EXPECT_EQ(names[3].first, "3.bias");
  Tensor out = (*seq)(Tensor::ones({4, 3, 2, 2}));
  EXPECT_EQ(out.shape(), (Shape{4, 2}));
  seq->eval();
  EXPECT_FALSE(seq->is_training());
  EXPECT_FALSE(seq->children()[1].second->is_training());
  seq->train();
  EXPECT_TRUE(seq->children()[3].second->is_training());
}

TEST(Module, NoGradGuardRecordsNothing) {
  models::LeNet net;
  NoGradGuard guard;
  Tensor y = net(Tensor::ones({1, 3, 32, 32}));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(y.sum().backward(), Error);
}

TEST(Module, ToMovesInPlaceAndRejectsMissingGpu) {
  models::LeNet net;
  net.to(Device::cpu());
  if (!cuda::is_available()) EXPECT_THROW(net.to(Device::cuda(0)), InputError);
}
