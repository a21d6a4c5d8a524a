// nn::BatchNorm2d against torch.nn.BatchNorm2d (tests/golden/nn_batch_norm2d.json, made by
// tools/gen_bn_module_fixture.py): 3 training steps (outputs, gradients of x/weight/bias,
// running statistics, num_batches_tracked) then one eval step, for 5 constructor settings.
#include <gtest/gtest.h>

#include <optional>

#include "gpunet/autograd.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/ops.h"
#include "support/assert_close.h"
#include "support/formula.h"
#include "support/golden.h"

using namespace gpunet;
using test::formula_u;

namespace {

const Shape kShape{4, 3, 5, 5};

Tensor formula_tensor(uint64_t k, double scale, double shift, const Shape& shape) {
  auto u = formula_u(k, numel_of(shape));
  std::vector<float> f(u.size());
  for (size_t i = 0; i < u.size(); ++i) f[i] = static_cast<float>(scale * u[i] + shift);
  return Tensor::from_vector(f, shape);
}

std::shared_ptr<nn::BatchNorm2d> make_bn(const nlohmann::json& kw) {
  const double eps = kw.value("eps", 1e-5);
  std::optional<double> momentum = 0.1;
  if (kw.contains("momentum")) momentum = kw["momentum"].is_null() ? std::nullopt : std::optional<double>(kw["momentum"].get<double>());
  auto bn = std::make_shared<nn::BatchNorm2d>(3, eps, momentum, kw.value("affine", true),
                                              kw.value("track_running_stats", true));
  if (bn->weight.defined()) {
    NoGradGuard g;
    bn->weight.copy_(formula_tensor(7, 0.3, 1.0, {3}));
    bn->bias.copy_(formula_tensor(8, 0.2, 0.0, {3}));
  }
  return bn;
}

class BatchNorm2dVsTorch : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchNorm2dVsTorch, ThreeTrainingStepsThenEval) {
  const auto fx = test::load_golden("nn_batch_norm2d.json");
  const auto& c = test::golden_case(fx, GetParam());
  auto bn = make_bn(c["kwargs"]);
  // The state_dict keys, in PyTorch's order.
  std::vector<std::string> keys;
  for (auto& [n, t] : bn->state_dict()) keys.push_back(n);
  EXPECT_EQ(keys, c["state_dict_keys"].get<std::vector<std::string>>());
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE("training step " + std::to_string(s));
    const auto& st = c["steps"][s];
    bn->train();
    Tensor x = formula_tensor(100 + s, 2.0, 0.5, kShape).requires_grad_(true);
    const Tensor r = formula_tensor(200 + s, 1.0, 0.0, kShape);
    if (bn->weight.defined()) bn->zero_grad();
    Tensor y = (*bn)(x);
    ops::sum(ops::mul(y, r)).backward();
    EXPECT_ALL_CLOSE(y.to_vector<double>(), st["y"].get<std::vector<double>>(), 1e-5, 1e-4);
    EXPECT_ALL_CLOSE(x.grad().to_vector<double>(), st["dx"].get<std::vector<double>>(), 1e-5, 1e-4);
    if (bn->weight.defined()) {
      EXPECT_ALL_CLOSE(bn->weight.grad().to_vector<double>(), st["dweight"].get<std::vector<double>>(), 1e-5, 1e-4);
      EXPECT_ALL_CLOSE(bn->bias.grad().to_vector<double>(), st["dbias"].get<std::vector<double>>(), 1e-5, 1e-4);
    }
    if (bn->running_mean.defined()) {
      EXPECT_ALL_CLOSE(bn->running_mean.to_vector<double>(), st["running_mean"].get<std::vector<double>>(), 1e-6, 1e-5);
      EXPECT_ALL_CLOSE(bn->running_var.to_vector<double>(), st["running_var"].get<std::vector<double>>(), 1e-6, 1e-5);
      EXPECT_EQ(bn->num_batches_tracked.item(), st["num_batches_tracked"].get<int64_t>());
    }
  }
  bn->eval();
  NoGradGuard g;
  const Tensor y = (*bn)(formula_tensor(103, 2.0, 0.5, kShape));
  EXPECT_ALL_CLOSE(y.to_vector<double>(), c["eval_y"].get<std::vector<double>>(), 1e-5, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Settings, BatchNorm2dVsTorch,
                         ::testing::Values("default", "momentum_none", "airbench", "no_affine", "no_running_stats"));

TEST(BatchNorm2dModule, BuffersHaveTorchDtypesAndRoundTripThroughSafetensors) {
  nn::BatchNorm2d bn(5);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  bn.train();
  for (int i = 0; i < 3; ++i) (void)bn(formula_tensor(300 + i, 1.0, 0.0, {2, 5, 3, 3}));
  EXPECT_EQ(bn.num_batches_tracked.item(), 3);
  const std::string path = ::testing::TempDir() + "bn_module.safetensors";
  io::save_safetensors(path, bn.state_dict());
  nn::BatchNorm2d back(5);
  back.load_state_dict(io::load_safetensors(path).tensors, true);
  EXPECT_EQ(back.num_batches_tracked.item(), 3);
  EXPECT_ALL_CLOSE(back.running_var.to_vector<double>(), bn.running_var.to_vector<double>(), 0.0, 0.0);
}

TEST(BatchNorm2dModule, BadArgumentsAndInputsNameTheValue) {
  EXPECT_THROW(nn::BatchNorm2d(0), InputError);
  EXPECT_THROW(nn::BatchNorm2d(3, 0.0), InputError);
  EXPECT_THROW(nn::BatchNorm2d(3, 1e-5, 1.5), InputError);
  nn::BatchNorm2d bn(3);
  try {
    (void)bn(Tensor::zeros({2, 4, 3, 3}));
    FAIL() << "a wrong channel count must throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find('3'), std::string::npos) << msg;
    EXPECT_NE(msg.find('4'), std::string::npos) << msg;
  }
  try {
    (void)bn(Tensor::zeros({1, 3, 1, 1}));
    FAIL() << "one value per channel in training must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Expected more than 1 value per channel when training"), std::string::npos)
        << e.what();
  }
  bn.eval();
  EXPECT_NO_THROW((void)bn(Tensor::zeros({1, 3, 1, 1})));  // eval uses the running statistics
}

TEST(BatchNorm2dModule, CapturableUnlessCumulative) {
  EXPECT_TRUE(nn::BatchNorm2d(3).capturable());
  EXPECT_FALSE(nn::BatchNorm2d(3, 1e-5, std::nullopt).capturable());
}

TEST(BatchNorm2dModule, MissingOrMisshapenTensorsAreRefusedByName) {
  nn::BatchNorm2d bn(3);
  StateDict sd = bn.state_dict();
  StateDict missing(sd.begin(), sd.end() - 1);  // no num_batches_tracked
  try {
    nn::BatchNorm2d(3).load_state_dict(missing, true);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("num_batches_tracked"), std::string::npos) << e.what();
  }
  StateDict bad = sd;
  for (auto& [n, t] : bad)
    if (n == "running_var") t = Tensor::ones({4});
  try {
    nn::BatchNorm2d(3).load_state_dict(bad, true);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("running_var"), std::string::npos) << e.what();
  }
}

}  // namespace
