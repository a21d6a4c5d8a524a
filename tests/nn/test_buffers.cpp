// Module buffers: registered by name, any dtype, in state_dict in PyTorch's order (per module:
// parameters, buffers, then children), loaded with shape and dtype checks, saved and loaded
// through safetensors (int64 exactly), moved with to(), and never handed to optimizers.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>

#include "gpunet/gpunet.h"
#include "io/io_test_util.h"
#include "support/gpu.h"

using namespace gpunet;

namespace {

// A BatchNorm-shaped module: weight, bias, running_mean/var (float32), num_batches_tracked (int64).
class Norm : public nn::Module {
 public:
  explicit Norm(int64_t c) {
    weight = register_parameter("weight", Tensor::ones({c}));
    bias = register_parameter("bias", Tensor::zeros({c}));
    running_mean = register_buffer("running_mean", Tensor::zeros({c}));
    running_var = register_buffer("running_var", Tensor::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
  }
  Tensor forward(const Tensor& x) override { return x; }
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};

// conv-like parent: its own parameter and buffer come before its children's tensors.
class Net : public nn::Module {
 public:
  Net() {
    scale = register_parameter("scale", Tensor::full({3}, 0.5));
    steps = register_buffer("steps", Tensor::zeros({2}, DType::Int64));
    bn1 = register_module("bn1", std::make_shared<Norm>(3));
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return fc->forward(bn1->forward(x)); }
  Tensor scale, steps;
  std::shared_ptr<Norm> bn1;
  std::shared_ptr<nn::Linear> fc;
};

std::vector<std::string> names(const StateDict& sd) {
  std::vector<std::string> out;
  for (auto& [n, t] : sd) out.push_back(n);
  return out;
}

}  // namespace

TEST(Buffers, StateDictHasPyTorchsOrder) {
  Net net;
  EXPECT_EQ(names(net.state_dict()),
            (std::vector<std::string>{"scale", "steps", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                      "bn1.num_batches_tracked", "fc.weight", "fc.bias"}));
  EXPECT_EQ(names(net.named_buffers()), (std::vector<std::string>{"steps", "bn1.running_mean", "bn1.running_var",
                                                                    "bn1.num_batches_tracked"}));
  EXPECT_EQ(names(net.named_parameters()),
            (std::vector<std::string>{"scale", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"}));
  EXPECT_EQ(net.bn1->num_batches_tracked.dtype(), DType::Int64);
  EXPECT_FALSE(net.bn1->running_mean.requires_grad());
  // Buffers are state, not parameters: the optimizer never sees them.
  optim::SGD opt(net, optim::SGDOptions{.lr = 0.1});
  EXPECT_EQ(opt.params().size(), 5u);
  EXPECT_NE(net.bn1->running_mean.storage(), opt.store().master().storage());
}

TEST(Buffers, LoadStateDictCopiesBuffersAndChecksDtypes) {
  Net a, b;
  a.bn1->num_batches_tracked.fill_(7);
  a.bn1->running_mean.copy_(Tensor::from_vector<float>({1.f, 2.f, 3.f}, {3}));
  a.steps.copy_(Tensor::from_vector<int64_t>({(int64_t(1) << 60) + 1, -5}, {2}));
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.bn1->num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{7});
  EXPECT_EQ(b.steps.to_vector<int64_t>(), (std::vector<int64_t>{(int64_t(1) << 60) + 1, -5}));
  EXPECT_EQ(b.bn1->running_mean.to_vector<float>(), (std::vector<float>{1.f, 2.f, 3.f}));

  // A dtype mismatch names the tensor and both dtypes, and copies nothing.
  auto sd = a.state_dict();
  for (auto& [n, t] : sd)
    if (n == "bn1.num_batches_tracked") t = Tensor::zeros({}, DType::Float32);
  Net c;
  io::testing::expect_input_error([&] { c.load_state_dict(sd); }, {"bn1.num_batches_tracked", "float32", "int64"});
  EXPECT_EQ(c.steps.to_vector<int64_t>(), (std::vector<int64_t>{0, 0})) << "copied before checking";
  sd = a.state_dict();
  for (auto& [n, t] : sd)
    if (n == "fc.weight") t = t.to(DType::Float64);
  io::testing::expect_input_error([&] { c.load_state_dict(sd); }, {"fc.weight", "float64", "float32"});
  // A missing buffer is missing under strict loading only.
  sd = a.state_dict();
  sd.erase(sd.begin() + 1);
  io::testing::expect_input_error([&] { c.load_state_dict(sd); }, {"steps"});
  c.load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(c.bn1->num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{7});
}

TEST(Buffers, Int64BufferRoundTripsThroughSafetensors) {
  io::testing::TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Net a;
  const int64_t big = (int64_t(1) << 62) + 3;  // not representable in float32 or float64
  a.steps.copy_(Tensor::from_vector<int64_t>({big, -big}, {2}));
  a.bn1->num_batches_tracked.fill_(12345);
  a.bn1->running_var.copy_(Tensor::from_vector<float>({0.25f, 4.f, 9.f}, {3}));
  io::save_weights(path, a.state_dict());

  auto f = io::load_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 9u);
  for (auto& [n, t] : f.tensors)
    if (n == "steps" || n == "bn1.num_batches_tracked") EXPECT_EQ(t.dtype(), DType::Int64) << n;

  Net b;
  io::load_weights(path, b.state_dict());
  EXPECT_EQ(b.steps.to_vector<int64_t>(), (std::vector<int64_t>{big, -big}));
  EXPECT_EQ(b.bn1->num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{12345});
  EXPECT_EQ(b.bn1->running_var.to_vector<float>(), (std::vector<float>{0.25f, 4.f, 9.f}));

  // The strict load names a buffer of the wrong dtype (a float64 file tensor for an int64 buffer).
  auto sd = a.state_dict();
  for (auto& [n, t] : sd)
    if (n == "bn1.num_batches_tracked") t = Tensor::zeros({}, DType::Float64);
  io::save_weights(path, sd);
  io::testing::expect_input_error([&] { io::load_weights(path, b.state_dict()); },
                           {"bn1.num_batches_tracked", "F64", "I64"});
}

TEST(Buffers, MoveWithTo) {
  Net net;
  net.to(Device::cpu());
  EXPECT_EQ(net.device(), Device::cpu());
  if (!cuda::is_available()) {
    EXPECT_THROW(net.to(Device::cuda(0)), InputError);
    GTEST_SKIP() << "no usable GPU: " << cuda::unavailable_reason();
  }
  net.bn1->num_batches_tracked.fill_(41);
  Tensor handle = net.bn1->num_batches_tracked;
  optim::SGD opt(net, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  const uint64_t gen = opt.store().generation();
  net.to(Device::cuda(0));
  for (auto& [n, t] : net.state_dict()) EXPECT_TRUE(t.device().is_cuda()) << n;
  EXPECT_TRUE(handle.device().is_cuda());
  EXPECT_EQ(handle.to_vector<int64_t>(), std::vector<int64_t>{41});
  EXPECT_TRUE(opt.store().master().device().is_cuda());
  EXPECT_NE(opt.store().generation(), gen);
  // Saved from the GPU, loaded back on the CPU.
  io::testing::TempDir dir;
  io::save_weights(dir.file("gpu.safetensors"), net.state_dict());
  Net back;
  io::load_weights(dir.file("gpu.safetensors"), back.state_dict());
  EXPECT_EQ(back.bn1->num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{41});
  net.to(Device::cpu());
  EXPECT_EQ(handle.device(), Device::cpu());
  EXPECT_EQ(handle.to_vector<int64_t>(), std::vector<int64_t>{41});
}

TEST(Buffers, TrainingCheckpointCarriesBuffersAndResumes) {
  io::testing::TempDir dir;
  const std::string path = dir.file("ck.safetensors");
  Net a;
  a.bn1->num_batches_tracked.fill_(9);
  a.steps.copy_(Tensor::from_vector<int64_t>({(int64_t(1) << 55) + 1, 2}, {2}));
  optim::SGD opt(a, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  opt.zero_grad();
  a(Tensor::ones({2, 3})).sum().backward();
  opt.step();
  io::TrainState st{a.state_dict(), opt.state_tensors(), opt.state_scalars()};
  io::save_train_state(path, st);

  io::TrainState back = io::load_train_state(path);
  Net b;
  optim::SGD opt_b(b, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  b.load_state_dict(back.model);  // strict: buffers included, int64 kept
  opt_b.load_state(back.optimizer, back.scalars);
  EXPECT_EQ(b.bn1->num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{9});
  EXPECT_EQ(b.steps.to_vector<int64_t>(), (std::vector<int64_t>{(int64_t(1) << 55) + 1, 2}));
  EXPECT_EQ(b.fc->weight.to_vector<float>(), a.fc->weight.to_vector<float>());
  EXPECT_EQ(opt_b.steps(), 1);
  // A checkpoint without the buffers is rejected by the strict load, naming one.
  StateDict params_only = a.named_parameters();
  EXPECT_THROW(b.load_state_dict(params_only), InputError);
}
