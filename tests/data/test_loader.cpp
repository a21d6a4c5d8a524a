// DataLoader: epoch coverage, seeding, drop_last, resume, and the host and device-resident paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "data_test_util.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"
#include "support/assert_close.h"
#include "support/gpu.h"

using namespace gpunet;
using namespace gpunet::data;

namespace {

// A small dataset whose record i has label i % 10 and pixels that identify it (first byte = i % 256).
std::shared_ptr<ImageDataset> tiny(int64_t n) {
  auto d = std::make_shared<ImageDataset>();
  d->n = n;
  d->classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  d->images.resize(static_cast<size_t>(n) * 3072);
  d->labels.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    d->labels[i] = static_cast<uint8_t>(i % 10);
    for (int k = 0; k < 3072; ++k) d->images[i * 3072 + k] = static_cast<uint8_t>((i + k * 13) % 256);
  }
  return d;
}

LoaderOptions opts(int64_t bs, uint64_t seed = 0) {
  LoaderOptions o;
  o.batch_size = bs;
  o.seed = seed;
  return o;
}

struct Epoch {
  std::vector<std::vector<float>> x;
  std::vector<std::vector<int64_t>> y;
};

Epoch run_epoch(DataLoader& dl) {
  Epoch e;
  Batch b;
  while (dl.next(b)) {
    e.x.push_back(b.x.to_vector<float>());
    e.y.push_back(b.y.to_vector<int64_t>());
  }
  return e;
}

// All labels of an epoch, in batch order.
std::vector<int64_t> flat_labels(const Epoch& e) {
  std::vector<int64_t> all;
  for (const auto& y : e.y) all.insert(all.end(), y.begin(), y.end());
  return all;
}

}  // namespace

TEST(DataLoader, EpochPermutationIsAPermutationAndSeeded) {
  const auto p = epoch_permutation(1000, 7, 0);
  std::vector<int64_t> s = p;
  std::sort(s.begin(), s.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(s[i], i);
  EXPECT_EQ(p, epoch_permutation(1000, 7, 0));
  EXPECT_NE(p, epoch_permutation(1000, 7, 1));
  EXPECT_NE(p, epoch_permutation(1000, 8, 0));
}

TEST(DataLoader, AnEpochYieldsEveryIndexExactlyOnce) {
  auto d = tiny(103);
  for (bool prefetch : {false, true}) {
    LoaderOptions o = opts(8, 3);
    o.prefetch = prefetch;
    DataLoader dl(d, o);
    EXPECT_EQ(dl.epoch_size(), 13);
    // The pixel at [j, 0, 0, 0] identifies record i: byte i % 256 (i < 256).
    std::multiset<int64_t> seen;
    Batch b;
    int batches = 0;
    while (dl.next(b)) {
      ++batches;
      EXPECT_EQ(b.x.shape(), (Shape{b.size, 3, 32, 32}));
      EXPECT_EQ(b.y.dtype(), DType::Int64);
      const auto x = b.x.to_vector<float>();
      const auto y = b.y.to_vector<int64_t>();
      for (int64_t j = 0; j < b.size; ++j) {
        const int64_t i = static_cast<int64_t>(std::lround((x[j * 3072] * 0.5f + 0.5f) * 255.0f));
        EXPECT_EQ(y[j], i % 10);
        seen.insert(i);
      }
    }
    EXPECT_EQ(batches, 13);
    EXPECT_EQ(b.size, 103 - 12 * 8);  // the last batch is the remainder
    ASSERT_EQ(seen.size(), 103u);
    for (int64_t i = 0; i < 103; ++i) EXPECT_EQ(seen.count(i), 1u) << i;
    EXPECT_EQ(dl.epoch(), 1u);
    EXPECT_EQ(dl.batch_index(), 0);
  }
}

TEST(DataLoader, SameSeedSameBatchesDifferentSeedDifferent) {
  auto d = tiny(64);
  LoaderOptions o = opts(4, 11);
  o.transforms = Transforms::augmented();
  DataLoader a(d, o), b(d, o);
  o.seed = 12;
  DataLoader c(d, o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    const Epoch ea = run_epoch(a), eb = run_epoch(b), ec = run_epoch(c);
    ASSERT_EQ(ea.x.size(), 16u);
    for (size_t k = 0; k < ea.x.size(); ++k) {
      EXPECT_ALL_CLOSE(ea.x[k], eb.x[k], 0.0, 0.0);
      EXPECT_EQ(ea.y[k], eb.y[k]);
    }
    EXPECT_NE(flat_labels(ea), flat_labels(ec));
  }
  // Consecutive epochs differ.
  DataLoader e(d, opts(4, 11));
  EXPECT_NE(flat_labels(run_epoch(e)), flat_labels(run_epoch(e)));
}

TEST(DataLoader, DropLast) {
  auto d = tiny(10);
  LoaderOptions o = opts(4);
  o.drop_last = true;
  DataLoader dl(d, o);
  EXPECT_EQ(dl.epoch_size(), 2);
  const Epoch e = run_epoch(dl);
  ASSERT_EQ(e.y.size(), 2u);
  EXPECT_EQ(e.y[1].size(), 4u);
  o.drop_last = false;
  DataLoader keep(d, o);
  EXPECT_EQ(keep.epoch_size(), 3);
  EXPECT_EQ(run_epoch(keep).y.back().size(), 2u);
}

TEST(DataLoader, ResumeFromAPositionGivesTheSameBatches) {
  auto d = tiny(40);
  LoaderOptions o = opts(4, 5);
  o.transforms = Transforms::augmented();
  DataLoader full(d, o);
  run_epoch(full);
  const Epoch e1 = run_epoch(full);  // epoch 1
  DataLoader resumed(d, o);
  resumed.set_position(1, 6);
  Batch b;
  for (size_t k = 6; k < e1.x.size(); ++k) {
    ASSERT_TRUE(resumed.next(b));
    EXPECT_EQ(b.epoch, 1u);
    EXPECT_EQ(b.index, static_cast<int64_t>(k));
    EXPECT_ALL_CLOSE(b.x.to_vector<float>(), e1.x[k], 0.0, 0.0);
    EXPECT_EQ(b.y.to_vector<int64_t>(), e1.y[k]);
  }
  EXPECT_FALSE(resumed.next(b));
  EXPECT_EQ(resumed.epoch(), 2u);
  // Jumping back mid-epoch (with a batch prefetched) is exact too.
  resumed.set_position(1, 2);
  ASSERT_TRUE(resumed.next(b));
  EXPECT_EQ(b.y.to_vector<int64_t>(), e1.y[2]);
  EXPECT_THROW(resumed.set_position(0, 11), gpunet::InputError);
}

TEST(DataLoader, EvaluationIsFileOrderWithoutAugmentation) {
  auto d = tiny(10);
  DataLoader dl(d, LoaderOptions::evaluation(4, Device::cpu(), Transforms::augmented()));
  const Epoch e = run_epoch(dl);
  EXPECT_EQ(flat_labels(e), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // Record 5's first pixel: byte 5, normalised with no crop or flip.
  EXPECT_NEAR(e.x[1][1 * 3072], (5.0 / 255.0 - 0.5) / 0.5, 1e-6);
}

TEST(DataLoader, HostPathEqualsDeviceResidentPathOnTheCpu) {
  auto d = std::make_shared<Cifar10>(sample_dir(), Split::Train);
  LoaderOptions o = opts(32, 42);
  o.transforms = Transforms::augmented();
  o.residency = Residency::Host;
  DataLoader host(d, o);
  o.residency = Residency::Device;
  DataLoader dev(d, o);
  EXPECT_FALSE(host.device_resident());
  EXPECT_TRUE(dev.device_resident());
  Batch a, b;
  int n = 0;
  while (host.next(a)) {
    ASSERT_TRUE(dev.next(b));
    ASSERT_ALL_CLOSE(a.x.to_vector<float>(), b.x.to_vector<float>(), 0.0, 0.0);
    ASSERT_EQ(a.y.to_vector<int64_t>(), b.y.to_vector<int64_t>());
    ++n;
  }
  EXPECT_EQ(n, 63);  // 2000 / 32, rounded up
}

TEST(DataLoader, CudaDeviceResidentAndHostPathsMatchTheCpu) {
  GPUNET_REQUIRE_GPU();
  auto d = std::make_shared<Cifar10>(sample_dir(), Split::Train);
  LoaderOptions o = opts(64, 9);
  o.transforms = Transforms::augmented();
  o.residency = Residency::Host;
  DataLoader cpu(d, o);
  o.device = Device::cuda(0);
  o.residency = Residency::Auto;
  DataLoader resident(d, o);
  EXPECT_TRUE(resident.device_resident());
  o.residency = Residency::Host;
  DataLoader uploaded(d, o);
  Batch a, b, c;
  for (int e = 0; e < 2; ++e) {
    while (cpu.next(a)) {
      ASSERT_TRUE(resident.next(b));
      ASSERT_TRUE(uploaded.next(c));
      EXPECT_TRUE(b.x.device().is_cuda());
      EXPECT_TRUE(c.x.device().is_cuda());
      const auto want = a.x.to_vector<float>();
      // Same float ops on both sides (batch.h): exact.
      ASSERT_ALL_CLOSE(b.x.to_vector<float>(), want, 0.0, 0.0);
      ASSERT_ALL_CLOSE(c.x.to_vector<float>(), want, 0.0, 0.0);
      ASSERT_EQ(b.y.to_vector<int64_t>(), a.y.to_vector<int64_t>());
      ASSERT_EQ(c.y.to_vector<int64_t>(), a.y.to_vector<int64_t>());
    }
    EXPECT_FALSE(resident.next(b));
    EXPECT_FALSE(uploaded.next(c));
  }
}

TEST(DataLoader, RejectsBadOptions) {
  auto d = tiny(10);
  LoaderOptions o = opts(0);
  EXPECT_THROW(DataLoader(d, o), gpunet::InputError);
  o = opts(4);
  o.transforms.mean = {0.5f, 0.5f};
  EXPECT_THROW(DataLoader(d, o), gpunet::Error);
}
