// LeNet trained 20 steps from PyTorch's initial weights on the same data in the same order
// must give PyTorch's losses and weights (fixture: tools/gen_lenet_steps.py).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"
#include "gpunet/gpunet.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/train.h"

using namespace gpunet;

namespace {

const Tensor& find(const io::SafetensorsFile& f, const std::string& name) {
  for (auto& [n, t] : f.tensors)
    if (n == name) return t;
  throw Error("fixture has no " + name);
}

// Worst relative error max|a-b| / (|b| + floor), reported with the element.
void expect_close(const std::string& what, const Tensor& got, const Tensor& want, double rtol, double atol) {
  auto a = got.to_vector<float>();
  auto b = want.to_vector<float>();
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  size_t wi = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double excess = std::fabs(double(a[i]) - b[i]) - (atol + rtol * std::fabs(double(b[i])));
    if (excess > worst || std::isnan(a[i])) worst = std::isnan(a[i]) ? INFINITY : excess, wi = i;
  }
  EXPECT_LE(worst, 0.0) << what << ": element " << wi << " is " << a[wi] << ", PyTorch " << b[wi];
}

void run_steps(Device dev, const std::string& prefix, std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)> make) {
  auto fx = io::load_safetensors(std::string(GPUNET_TEST_GOLDEN_DIR) + "/lenet_sgd_steps.safetensors");
  models::LeNet net;
  StateDict init;
  for (auto& [n, t] : net.state_dict()) init.emplace_back(n, find(fx, "init." + n));
  net.load_state_dict(init);
  net.to(dev);
  auto opt = make(net);
  auto data = std::make_shared<data::Cifar10>(data::sample_dir(), data::Split::Train);
  data::LoaderOptions lo;
  lo.batch_size = 4;
  lo.shuffle = false;
  lo.device = dev;
  data::DataLoader loader(data, lo);
  auto want_losses = find(fx, prefix + ".losses").to_vector<float>();
  data::Batch b;
  for (int s = 0; s < 20; ++s) {
    ASSERT_TRUE(loader.next(b));
    opt->zero_grad();
    Tensor loss = ops::cross_entropy(net(b.x), b.y);
    loss.backward();
    opt->step();
    const double l = loss.item();
    EXPECT_NEAR(l, want_losses[s], 1e-5 * std::fabs(want_losses[s]) + 1e-6) << prefix << " step " << s;
  }
  for (auto& [n, t] : net.state_dict()) expect_close(prefix + " " + n, t, find(fx, prefix + "." + n), 1e-4, 1e-6);
}

}  // namespace

TEST(LeNetVsPyTorch, TwentySgdMomentumStepsMatch) {
  run_steps(Device::cpu(), "sgd", [](nn::Module& m) {
    return std::make_unique<optim::SGD>(m, optim::SGDOptions{.lr = 0.001, .momentum = 0.9});
  });
}

TEST(LeNetVsPyTorch, TwentyNesterovWeightDecayStepsMatch) {
  run_steps(Device::cpu(), "sgdn", [](nn::Module& m) {
    return std::make_unique<optim::SGD>(
        m, optim::SGDOptions{.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  });
}

TEST(LeNetVsPyTorch, TwentyAdamStepsMatch) {
  run_steps(Device::cpu(), "adam", [](nn::Module& m) {
    return std::make_unique<optim::Adam>(m, optim::AdamOptions{.lr = 0.001});
  });
}

TEST(LeNetVsPyTorch, TwentySgdStepsMatchOnTheGpu) {
  if (!cuda::is_available()) GTEST_SKIP() << "no GPU: " << cuda::unavailable_reason();
  run_steps(Device::cuda(0), "sgd", [](nn::Module& m) {
    return std::make_unique<optim::SGD>(m, optim::SGDOptions{.lr = 0.001, .momentum = 0.9});
  });
}
