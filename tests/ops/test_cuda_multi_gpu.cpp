// The wrong-GPU bug: kernels launched for cuda:1 tensors while device 0 is current run on
// device 0's stream (or fail on its memory). With two or more GPUs: a small conv/pool/linear/loss
// model's forward, backward (the engine's gradient accumulation included) and an SGD and an Adam
// step on cuda:1 must give the CPU's results, and leave the thread's current device as it was
// (device 0) after every stage. Skips, with the reason, on a machine with fewer than two GPUs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/ops.h"
#include "gpunet/optim/adam.h"
#include "gpunet/optim/sgd.h"
#include "support/assert_close.h"
#include "support/gpu.h"

#if GPUNET_HAVE_CUDA
#include "core/device_api.h"
#endif

namespace gpunet {
namespace {

struct Net {
  Tensor cw, cb, lw, lb;
  std::vector<Tensor> params() const { return {cw, cb, lw, lb}; }
};

[[maybe_unused]] Net make_net(Device dev) {
  Generator g(7);
  Net n{Tensor::uniform({4, 3, 3, 3}, -0.3f, 0.3f, g), Tensor::uniform({4}, -0.3f, 0.3f, g),
        Tensor::uniform({5, 4 * 4 * 4}, -0.3f, 0.3f, g), Tensor::uniform({5}, -0.3f, 0.3f, g)};
  for (Tensor* t : {&n.cw, &n.cb, &n.lw, &n.lb}) *t = t->to(dev).requires_grad_();
  return n;
}

// Uses x twice (relu and the skip through mul), so the engine accumulates a gradient.
[[maybe_unused]] Tensor loss_of(const Net& n, const Tensor& x, const Tensor& target) {
  const Tensor h = ops::relu(ops::conv2d(x, n.cw, n.cb, 1, 1));
  const Tensor p = ops::max_pool2d(ops::add(h, ops::mul(h, 0.5)), 2);
  return ops::cross_entropy(ops::linear(ops::flatten(p, 1), n.lw, n.lb), target);
}

TEST(CudaMultiGpu, OpsAndOptimizerStepsOnCuda1MatchTheCpuAndKeepTheCurrentDevice) {
  GPUNET_REQUIRE_GPU();
#if GPUNET_HAVE_CUDA
  const int gpus = cuda::device_count();
  if (gpus < 2)
    GTEST_SKIP() << "needs two GPUs, this machine has " << gpus
                 << ": the wrong-GPU bug (a kernel for a cuda:1 tensor launched on the current device, 0) "
                    "only shows with a second device";
  const Device d1 = Device::cuda(1);
  cuda::detail::set_device(0);
  auto expect_device_0 = [](const char* stage) {
    EXPECT_EQ(cuda::detail::current_device(), 0) << "the current device changed during " << stage;
  };
  Generator g(8);
  const Tensor x = Tensor::uniform({2, 3, 8, 8}, -1.f, 1.f, g);
  const Tensor target = Tensor::from_vector<int64_t>({1, 4}, {2});
  for (int use_adam = 0; use_adam < 2; ++use_adam) {
    SCOPED_TRACE(use_adam ? "adam" : "sgd");
    Net cpu = make_net(Device::cpu()), gpu = make_net(d1);
    expect_device_0("the upload");
    optim::SGDOptions so;
    so.lr = 0.1;
    so.momentum = 0.9;
    optim::AdamOptions ao;
    ao.lr = 0.01;
    std::unique_ptr<optim::Optimizer> oc, og;
    if (use_adam) {
      oc = std::make_unique<optim::Adam>(cpu.params(), ao);
      og = std::make_unique<optim::Adam>(gpu.params(), ao);
    } else {
      oc = std::make_unique<optim::SGD>(cpu.params(), so);
      og = std::make_unique<optim::SGD>(gpu.params(), so);
    }
    const Tensor xg = x.to(d1), tg = target.to(d1);
    for (int step = 0; step < 2; ++step) {
      const Tensor lc = loss_of(cpu, x, target), lg = loss_of(gpu, xg, tg);
      expect_device_0("the forward");
      EXPECT_NEAR(lg.item(), lc.item(), 1e-5) << "loss, step " << step;
      lc.backward();
      lg.backward();
      expect_device_0("the backward");
      oc->step();
      og->step();
      expect_device_0("the optimizer step");
      const auto pc = cpu.params(), pg = gpu.params();
      for (size_t i = 0; i < pc.size(); ++i) {
        SCOPED_TRACE(testing::Message() << "parameter " << i << ", step " << step);
        EXPECT_EQ(pg[i].device(), d1);
        EXPECT_ALL_CLOSE(pg[i].grad().to(Device::cpu()), pc[i].grad(), 1e-5, 1e-4);
        EXPECT_ALL_CLOSE(pg[i].to(Device::cpu()), pc[i], 1e-5, 1e-4);
      }
      oc->zero_grad();
      og->zero_grad();
      expect_device_0("zero_grad");
    }
  }
#endif
}

}  // namespace
}  // namespace gpunet
