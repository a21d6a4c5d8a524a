// The CUDA caching allocator and the host<->device copies, through the public API
// (Tensor, memory::stats): reuse without new cudaMalloc after a warm-up step, statistics,
// empty_cache, the out-of-memory message, and exact copy round trips. Needs a GPU (skips without).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gpunet/ops.h"
#include "gpunet/tensor.h"
#include "support/gpu.h"

namespace gpunet {
namespace {

const Device kGpu = Device::cuda(0);

// One LeNet-sized training step's worth of ops, forward and backward, all on the GPU.
void step(const Tensor& x, const Tensor& y, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  Tensor h = ops::max_pool2d(ops::relu(ops::conv2d(x, w1, b1)), 2);
  Tensor logits = ops::linear(ops::flatten(h, 1), w2, b2);
  ops::cross_entropy(logits, y).backward();
}

TEST(CudaMemory, SteadyStateDoesNoSystemAllocation) {
  GPUNET_REQUIRE_GPU();
  Generator g(1);
  const Tensor x = Tensor::uniform({8, 3, 32, 32}, -1, 1, g, kGpu);
  const Tensor y = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7}, {8}, kGpu);
  const Tensor w1 = Tensor::uniform({6, 3, 5, 5}, -.1f, .1f, g, kGpu).requires_grad_();
  const Tensor b1 = Tensor::zeros({6}, DType::Float32, kGpu).requires_grad_();
  const Tensor w2 = Tensor::uniform({10, 6 * 14 * 14}, -.1f, .1f, g, kGpu).requires_grad_();
  const Tensor b2 = Tensor::zeros({10}, DType::Float32, kGpu).requires_grad_();
  step(x, y, w1, b1, w2, b2);  // warm-up: fills the cache, chooses cuDNN algorithms, grows the workspace
  step(x, y, w1, b1, w2, b2);
  cuda::synchronize(0);
  const memory::Stats warm = memory::stats(kGpu);
  for (int i = 0; i < 5; ++i) step(x, y, w1, b1, w2, b2);
  cuda::synchronize(0);
  const memory::Stats after = memory::stats(kGpu);
  EXPECT_EQ(after.system_allocs, warm.system_allocs) << "a steady-state step called cudaMalloc";
  EXPECT_EQ(after.reserved, warm.reserved);
  EXPECT_EQ(after.in_use, warm.in_use) << "a step leaked device memory";
  EXPECT_GE(after.peak, after.in_use);
}

TEST(CudaMemory, StatsPeakAndEmptyCache) {
  GPUNET_REQUIRE_GPU();
  memory::empty_cache(kGpu);
  const memory::Stats s0 = memory::stats(kGpu);
  memory::reset_peak(kGpu);
  {
    const Tensor t = Tensor::empty({3 << 20}, DType::Float32, kGpu);  // 12 MiB
    const memory::Stats s1 = memory::stats(kGpu);
    EXPECT_EQ(s1.in_use - s0.in_use, size_t(12) << 20);
    EXPECT_GE(s1.peak, s1.in_use);
    EXPECT_EQ(s1.system_allocs, s0.system_allocs + 1);
  }
  const memory::Stats s2 = memory::stats(kGpu);
  EXPECT_EQ(s2.in_use, s0.in_use);
  EXPECT_EQ(s2.reserved, s0.reserved + (size_t(12) << 20));  // cached, not returned
  {
    const Tensor again = Tensor::empty({3 << 20}, DType::Float32, kGpu);  // served from the cache
    EXPECT_EQ(memory::stats(kGpu).system_allocs, s2.system_allocs);
  }
  memory::empty_cache(kGpu);
  EXPECT_EQ(memory::stats(kGpu).reserved, s0.reserved);
  memory::reset_peak(kGpu);
  EXPECT_EQ(memory::stats(kGpu).peak, memory::stats(kGpu).in_use);
}

TEST(CudaMemory, OutOfMemoryNamesSizeAndFreeMemory) {
  GPUNET_REQUIRE_GPU();
  const int64_t huge = int64_t(1) << 40;  // 4 TiB of float32: more than any GPU holds
  try {
    Tensor t = Tensor::empty({huge}, DType::Float32, kGpu);
    FAIL() << "allocated 4 TiB";
  } catch (const OutOfMemoryError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("out of memory on cuda:0: asked for 4194304.0 MiB, ", 0), 0u) << m;
    EXPECT_NE(m.find(" MiB free of "), std::string::npos) << m;
    EXPECT_NE(m.find("--batch-size"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // The device is still usable afterwards.
  const Tensor ok = Tensor::full({1000}, 2.0, DType::Float32, kGpu);
  EXPECT_DOUBLE_EQ(ops::sum(ok).item(), 2000.0);
}

template <typename T>
void round_trip(const std::vector<T>& host) {
  const Tensor g = Tensor::from_vector(host, {static_cast<int64_t>(host.size())}, kGpu);
  ASSERT_EQ(g.device(), kGpu);
  const Tensor c = g.clone();  // device to device
  const std::vector<T> back = c.template to_vector<T>();
  ASSERT_EQ(back.size(), host.size());
  EXPECT_EQ(std::memcmp(back.data(), host.data(), host.size() * sizeof(T)), 0);
}

TEST(CudaMemory, CopyRoundTripsAreExact) {
  GPUNET_REQUIRE_GPU();
  Generator g(7);
  for (size_t n : {size_t(0), size_t(1), size_t(1000), (size_t(17) << 20) + 3}) {  // 17 MiB crosses a 16 MiB chunk
    SCOPED_TRACE(testing::Message() << n << " elements");
    std::vector<uint8_t> u(n);
    for (auto& v : u) v = static_cast<uint8_t>(g.next_u64());
    round_trip(u);
    if (n > (size_t(1) << 20)) continue;
    std::vector<float> f(n);
    for (auto& v : f) v = g.normal(0.f, 1e6f);
    round_trip(f);
    std::vector<int64_t> i(n);
    for (auto& v : i) v = static_cast<int64_t>(g.next_u64());
    round_trip(i);
  }
}

TEST(CudaMemory, HostSourceMayBeReusedAtOnce) {
  GPUNET_REQUIRE_GPU();
  // Many uploads from one host buffer rewritten between them: each upload must have taken its
  // own snapshot (the staging buffers are not overwritten while a copy still reads them).
  const int64_t n = (int64_t(5) << 20) + 11;  // 20 MiB of float32: two chunks per copy
  std::vector<float> host(n);
  std::vector<Tensor> up;
  for (int k = 0; k < 6; ++k) {
    for (int64_t i = 0; i < n; i += 4099) host[i] = static_cast<float>(k * 1000 + i % 977);
    host[n - 1] = static_cast<float>(k);
    up.push_back(Tensor::from_vector(host, {n}, kGpu));
  }
  for (int k = 0; k < 6; ++k) {
    const auto v = up[k].to_vector<float>();
    EXPECT_EQ(static_cast<int64_t>(v[n - 1]), k);  // small integers: exact in float
    EXPECT_EQ(static_cast<int64_t>(v[4099]), k * 1000 + 4099 % 977);
  }
}

}  // namespace
}  // namespace gpunet
