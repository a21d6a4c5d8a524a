#include <gtest/gtest.h>

#include "gpunet/gpunet.h"

using namespace gpunet;

TEST(Tensor, FactoriesShapeAndValues) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_TRUE(z.device().is_cpu());
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.f);
  for (float v : Tensor::ones({4}).to_vector<float>()) EXPECT_EQ(v, 1.f);
  for (float v : Tensor::full({3}, 2.5).to_vector<float>()) EXPECT_EQ(v, 2.5f);
  auto a = Tensor::arange(5).to_vector<int64_t>();
  EXPECT_EQ(a, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Tensor u8 = Tensor::full({2}, 255, DType::UInt8);
  EXPECT_EQ(u8.to_vector<uint8_t>(), (std::vector<uint8_t>{255, 255}));
  EXPECT_EQ(u8.nbytes(), 2u);
}

TEST(Tensor, SeededGeneratorsAreReproducible) {
  Generator g1(7), g2(7), g3(8);
  auto a = Tensor::uniform({100}, -1, 1, g1).to_vector<float>();
  auto b = Tensor::uniform({100}, -1, 1, g2).to_vector<float>();
  auto c = Tensor::uniform({100}, -1, 1, g3).to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (float v : a) {
    EXPECT_GE(v, -1.f);
    EXPECT_LT(v, 1.f);
  }
  Generator gn(1);
  auto n = Tensor::normal({20000}, 0, 1, gn).to_vector<float>();
  double mean = 0, var = 0;
  for (float v : n) mean += v;
  mean /= n.size();
  for (float v : n) var += (v - mean) * (v - mean);
  var /= n.size();
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(var, 1.0, 0.05);
}

TEST(Tensor, GeneratorStateRoundTrips) {
  Generator g(3);
  g.next_u64();
  Generator h;
  h.set_state(g.seed(), g.counter());
  EXPECT_EQ(g.next_u64(), h.next_u64());
}

TEST(Tensor, ViewsShareStorage) {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor r = x.reshape({2, -1});
  EXPECT_EQ(r.shape(), (Shape{2, 6}));
  EXPECT_EQ(r.storage(), x.storage());
  Tensor f = x.flatten();
  EXPECT_EQ(f.shape(), (Shape{12}));
  Tensor s = x.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 4}));
  EXPECT_EQ(s.storage(), x.storage());
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(s.to_vector<float>()[0], 4.f);
  s.fill_(-1);  // writes through to x
  EXPECT_EQ(x.to_vector<float>()[4], -1.f);
  EXPECT_EQ(x.to_vector<float>()[3], 3.f);
  // a narrow on an inner dimension is strided; contiguous() gathers it
  Tensor col = x.narrow(1, 1, 2);
  EXPECT_FALSE(col.is_contiguous());
  EXPECT_EQ(col.contiguous().to_vector<float>(), (std::vector<float>{1, 2, -1, -1, -1, -1}));
  EXPECT_THROW(x.reshape({5, -1}), Error);
  EXPECT_THROW(x.narrow(0, 2, 2), Error);
  EXPECT_THROW(x.size(2), Error);
}

TEST(Tensor, CopiesAndConversions) {
  Tensor x = Tensor::from_vector<float>({1.5f, -2.f, 3.f}, {3});
  Tensor c = x.clone();
  c.fill_(0);
  EXPECT_EQ(x.to_vector<float>()[0], 1.5f);
  EXPECT_TRUE(x.to(Device::cpu()).is_same(x));  // free when already there
  Tensor i = x.to(DType::Int64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3}));
  Tensor y = Tensor::zeros({3});
  y.copy_(x);
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  EXPECT_THROW(y.copy_(Tensor::zeros({4})), Error);
  EXPECT_DOUBLE_EQ(Tensor::full({1}, 4.25).item(), 4.25);
  EXPECT_THROW(x.item(), Error);
  EXPECT_THROW(x.data<int64_t>(), Error);
}

TEST(Tensor, PrintsReadably) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  std::string s = x.str();
  EXPECT_NE(s.find("1.0000"), std::string::npos) << s;
  EXPECT_NE(s.find("shape=[2, 2]"), std::string::npos) << s;
  EXPECT_NE(s.find("device=cpu"), std::string::npos) << s;
  EXPECT_EQ(Tensor().str(), "Tensor(undefined)");
}

TEST(Tensor, UndefinedTensorUseThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), Error);
}

TEST(Tensor, DeviceMismatchNamesBothDevices) {
  // A CPU tensor against a (fake, never allocated) CUDA one: the check only looks at devices.
  Tensor a = Tensor::zeros({2});
  auto impl = std::make_shared<TensorImpl>(*a.impl_ptr());
  try {
    Tensor b = a;  // same device: no throw
    check_same_device("add", a, b);
  } catch (...) {
    FAIL();
  }
  if (!cuda::is_available()) {
    EXPECT_THROW(Tensor::zeros({2}, DType::Float32, Device::cuda(0)), InputError);
  }
}

// A step whose buffers add up to more than 1 GiB (airbench94 at batch 1024) frees them all at
// its end; the next step must get them back from the cache, not from the system (a 1 GiB cap
// on the cache made every such step munmap and page-fault its activations again). The
// blocks are never touched, so this costs address space, not memory.
TEST(Memory, CpuAllocatorKeepsAStepLargerThanOneGiB) {
  const int64_t block = int64_t(1) << 26;  // 256 MiB of float32
  auto one_step = [&] {
    std::vector<Tensor> live;
    for (int i = 0; i < 5; ++i) live.push_back(Tensor::empty({block}));
    for (const Tensor& t : live) EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  };
  memory::empty_cache(Device::cpu());  // other tests' blocks out of the way
  one_step();
  const auto before = memory::stats(Device::cpu());
  one_step();
  one_step();
  EXPECT_EQ(memory::stats(Device::cpu()).system_allocs, before.system_allocs)
      << "a repeated step of 1.25 GiB reached the system allocator";
  memory::empty_cache(Device::cpu());
}

TEST(Memory, CpuAllocatorReusesBlocksAndCountsPeak) {
  memory::reset_peak(Device::cpu());
  { Tensor warm = Tensor::empty({1000}); }
  const auto before = memory::stats(Device::cpu());
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::empty({1000});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  }
  const auto after = memory::stats(Device::cpu());
  EXPECT_EQ(after.system_allocs, before.system_allocs) << "steady-state allocations reached the system allocator";
  {
    Tensor big = Tensor::empty({1 << 20});
    EXPECT_GE(memory::stats(Device::cpu()).in_use, before.in_use + (4u << 20));
  }
  EXPECT_GE(memory::stats(Device::cpu()).peak, before.in_use + (4u << 20));
  EXPECT_EQ(memory::stats(Device::cpu()).in_use, before.in_use);
}
