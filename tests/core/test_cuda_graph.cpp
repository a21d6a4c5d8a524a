// TrainStep's CUDA-graph mode (GraphMode Auto/On): the captured-and-replayed step gives the
// same bits as the eager step (losses and final weights, compared byte for byte: a replay runs
// the very same kernels on the very same addresses, so anything but identity is a bug), with SGD
// and with Adam (whose bias corrections and step count live in device memory), also across a
// set_lr between replays; does no cudaMalloc after the capture, runs a partial batch eagerly in
// between, refuses a non-capturable optimizer or model with On and falls back with Auto; and on
// the CPU the mode is ignored. The allocator's capture bookkeeping
// (blocks a graph used are held until it is destroyed) is tested directly. GPU tests skip without one.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/models/lenet.h"
#include "gpunet/optim/adam.h"
#include "gpunet/optim/sgd.h"
#include "gpunet/tensor.h"
#include "gpunet/train.h"
#include "support/gpu.h"
#if GPUNET_HAVE_CUDA
#include "core/cuda/allocator.h"
#include "core/device_api.h"
#endif

namespace gpunet {
namespace {

constexpr int kBatch = 16;

// Host batches: x (B, 3, 32, 32) uniform in [-1, 1], y (B) in [0, 10), fixed by the seed.
struct HostBatches {
  std::vector<Tensor> x, y;
  HostBatches(int n, uint64_t seed) {
    Generator g(seed);
    for (int i = 0; i < n; ++i) {
      x.push_back(Tensor::uniform({kBatch, 3, 32, 32}, -1.f, 1.f, g));
      std::vector<int64_t> labels(kBatch);
      for (auto& l : labels) l = static_cast<int64_t>(g.uniform(0.f, 10.f)) % 10;
      y.push_back(Tensor::from_vector<int64_t>(labels, {kBatch}));
    }
  }
};

struct RunResult {
  std::vector<double> losses;
  std::vector<std::vector<uint8_t>> weights;  // final parameters, raw bytes, state_dict order
  int64_t graph_steps = 0, optimizer_steps = 0;
  // cudaMalloc calls so far: after the capture, before the partial batch, after the first
  // replay that follows it, and at the end. The partial batch runs eagerly with a new shape and
  // may allocate once (the blocks of the warm-up steps now belong to the graph).
  size_t allocs_after_capture = 0, allocs_before_partial = 0, allocs_after_partial = 0, allocs_at_end = 0;
};

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const Tensor h = t.cpu().contiguous();
  std::vector<uint8_t> b(h.nbytes());
  std::memcpy(b.data(), h.raw_data(), b.size());
  return b;
}

// An SGD that does not declare itself capturable (as an optimizer with host-side per-step state would).
class HostStateSgd : public optim::SGD {
 public:
  using SGD::SGD;
  bool capturable() const override { return false; }
};

// `steps` training steps of LeNet (seed 0) on `dev`, the batches written into one pair of device
// buffers as the loader does (outside the step); step `partial_at` uses the first B-5 rows only
// (the last batch of an epoch); before step `lr_at` the learning rate is halved (set_lr, between
// steps, as a schedule does). The loss is read after every step.
RunResult train(Device dev, GraphMode mode, bool adam, int steps, int partial_at, int lr_at = -1,
                bool capturable = true) {
  Generator gen(0);
  models::LeNet net(gen);
  net.to(dev);
  std::unique_ptr<optim::Optimizer> opt;
  if (adam) opt = std::make_unique<optim::Adam>(net, optim::AdamOptions{});
  else if (!capturable) opt = std::make_unique<HostStateSgd>(net, optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  else opt = std::make_unique<optim::SGD>(net, optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  TrainStep step(net, *opt, mode);
  const HostBatches data(steps, 42);
  Tensor x = Tensor::empty({kBatch, 3, 32, 32}, DType::Float32, dev);
  Tensor y = Tensor::empty({kBatch}, DType::Int64, dev);
  RunResult r;
  for (int i = 0; i < steps; ++i) {
    x.copy_(data.x[i]);
    y.copy_(data.y[i]);
    if (i == lr_at) opt->set_lr(0, opt->lr(0) * 0.5);
    if (i == partial_at) step(x.narrow(0, 0, kBatch - 5), y.narrow(0, 0, kBatch - 5));
    else step(x, y);
    r.losses.push_back(step.take_running_loss());  // synchronises
    const size_t allocs = dev.is_cuda() ? memory::stats(dev).system_allocs : 0;
    if (step.graph_steps() == 1) r.allocs_after_capture = allocs;
    if (i + 1 == partial_at) r.allocs_before_partial = allocs;
    if (i == partial_at + 1) r.allocs_after_partial = allocs;
  }
  r.allocs_at_end = dev.is_cuda() ? memory::stats(dev).system_allocs : 0;
  for (const auto& [name, p] : net.state_dict()) r.weights.push_back(bytes_of(p));
  r.graph_steps = step.graph_steps();
  r.optimizer_steps = opt->steps();
  return r;
}

void expect_identical(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t i = 0; i < a.losses.size(); ++i)  // bit-identical, NaN included
    EXPECT_EQ(0, std::memcmp(&a.losses[i], &b.losses[i], sizeof(double)))
        << "step " << i << ": loss " << a.losses[i] << " vs " << b.losses[i];
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (size_t k = 0; k < a.weights.size(); ++k) EXPECT_EQ(a.weights[k], b.weights[k]) << "parameter " << k << " differs";
}

TEST(CudaGraph, ModeIsIgnoredOnTheCpu) {
  const RunResult off = train(Device::cpu(), GraphMode::Off, false, 4, 2);
  const RunResult on = train(Device::cpu(), GraphMode::On, false, 4, 2);
  expect_identical(off, on);
  EXPECT_EQ(on.graph_steps, 0);
  // Adam, or an optimizer that is not capturable, with On is fine on the CPU: nothing is captured.
  EXPECT_NO_THROW(train(Device::cpu(), GraphMode::On, true, 2, -1));
  EXPECT_NO_THROW(train(Device::cpu(), GraphMode::On, false, 2, -1, -1, /*capturable=*/false));
}

TEST(CudaGraph, ReplayIsBitIdenticalToEager) {
  GPUNET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const RunResult eager = train(gpu, GraphMode::Off, false, 30, 17);
  const RunResult graph = train(gpu, GraphMode::On, false, 30, 17);
  expect_identical(eager, graph);
  EXPECT_EQ(eager.graph_steps, 0);
  // Steps 0-1 eager (warm-up), captured at step 2, step 17 (partial batch) eager: 30 - 2 - 1 = 27.
  // (The momentum buffer exists from the start, in the parameter store; the first step is told
  // by the step count on the device, so the layout, and the store's generation, never change.)
  EXPECT_EQ(graph.graph_steps, 27);
  EXPECT_EQ(graph.allocs_before_partial, graph.allocs_after_capture) << "cudaMalloc in a replay";
  EXPECT_EQ(graph.allocs_at_end, graph.allocs_after_partial) << "cudaMalloc in a replay";
  // A replay runs no host code: the optimizer's step count (checkpointed) advances on the device.
  EXPECT_EQ(graph.optimizer_steps, eager.optimizer_steps);
  EXPECT_EQ(graph.optimizer_steps, 30);
}

TEST(CudaGraph, AdamReplayIsBitIdenticalToEager) {
  GPUNET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const RunResult eager = train(gpu, GraphMode::Off, true, 30, 17);
  const RunResult graph = train(gpu, GraphMode::On, true, 30, 17);
  expect_identical(eager, graph);  // the bias corrections of every replayed step are that step's
  EXPECT_EQ(graph.graph_steps, 27);
  EXPECT_EQ(graph.optimizer_steps, 30);
  EXPECT_EQ(graph.allocs_at_end, graph.allocs_after_partial) << "cudaMalloc in a replay";
}

TEST(CudaGraph, ReplaySeesTheLearningRateSetBetweenSteps) {
  GPUNET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  for (bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "adam" : "sgd");
    const RunResult eager = train(gpu, GraphMode::Off, adam, 16, -1, /*lr_at=*/9);
    const RunResult graph = train(gpu, GraphMode::On, adam, 16, -1, /*lr_at=*/9);
    const RunResult frozen_lr = train(gpu, GraphMode::Off, adam, 16, -1);
    expect_identical(eager, graph);
    EXPECT_EQ(graph.graph_steps, 14);  // set_lr does not re-capture
    EXPECT_NE(eager.weights, frozen_lr.weights) << "the lr change had no effect";
  }
}

TEST(CudaGraph, AutoWithANonCapturableOptimizerRunsEagerly) {
  GPUNET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const RunResult eager = train(gpu, GraphMode::Off, false, 8, -1);
  const RunResult autom = train(gpu, GraphMode::Auto, false, 8, -1, -1, /*capturable=*/false);
  expect_identical(eager, autom);
  EXPECT_EQ(autom.graph_steps, 0);
}

TEST(CudaGraph, OnWithANonCapturableOptimizerOrModelThrows) {
  GPUNET_REQUIRE_GPU();
  Generator gen(0);
  models::LeNet net(gen);
  net.to(Device::cuda(0));
  HostStateSgd plain(net, optim::SGDOptions{.lr = 0.01});
  EXPECT_THROW({ TrainStep s(net, plain, GraphMode::On); }, Error);
  EXPECT_NO_THROW({ TrainStep s(net, plain, GraphMode::Auto); });
  optim::Adam adam(net, optim::AdamOptions{});  // capturable: its per-step scalars are on the device
  EXPECT_NO_THROW({ TrainStep s(net, adam, GraphMode::On); });
}

#if GPUNET_HAVE_CUDA
// The allocator's side of a capture, without a stream capture: blocks handed out or freed while
// a capture is open are never handed out again until the capture is released.
TEST(CudaGraph, AllocatorHoldsCapturedBlocksUntilRelease) {
  GPUNET_REQUIRE_GPU();
  namespace cd = cuda::detail;
  const size_t bytes = (size_t(37) << 20) + 12345;  // an unusual size class (38 MiB)
  void* before = cd::allocate(bytes, 0);            // allocated before, freed during the capture
  const unsigned long long id = cd::begin_capture(0);
  EXPECT_THROW(cd::begin_capture(0), Error);  // one capture at a time
  void* during = cd::allocate(bytes, 0);
  cd::deallocate(before, bytes, 0);
  cd::deallocate(during, bytes, 0);
  cd::end_capture(0, id);
  EXPECT_EQ(cd::held_bytes(0), 2 * cd::round_size(bytes));
  void* after = cd::allocate(bytes, 0);  // must be a fresh block
  EXPECT_NE(after, before);
  EXPECT_NE(after, during);
  cd::deallocate(after, bytes, 0);
  cd::release_capture(0, id);
  EXPECT_EQ(cd::held_bytes(0), 0u);
  // Both held blocks are back in the cache: three allocations of the size need no cudaMalloc.
  const size_t allocs = memory::stats(Device::cuda(0)).system_allocs;
  void* a = cd::allocate(bytes, 0);
  void* b = cd::allocate(bytes, 0);
  void* c = cd::allocate(bytes, 0);
  EXPECT_EQ(memory::stats(Device::cuda(0)).system_allocs, allocs);
  for (void* p : {a, b, c}) cd::deallocate(p, bytes, 0);
}
#endif

}  // namespace
}  // namespace gpunet
