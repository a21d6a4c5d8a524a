// The data split of a data-parallel run: DistributedSampler's rule (drop_last), and the
// loader's batches of N ranks at batch B being the single-process batches at N * B.
#include <gtest/gtest.h>

#include <memory>

#include "gpunet/config.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"

namespace gpunet {
namespace {

struct Case {
  int64_t n;
  int N, r;
  std::vector<int64_t> want;
};

TEST(DistSampler, MatchesTorchDistributedSampler) {
  // tools/gen_dist_sampler.py's output:
  const std::vector<Case> cases = {
    {10, 2, 0, {0, 2, 4, 6, 8}},
    {10, 2, 1, {1, 3, 5, 7, 9}},
    {7, 2, 0, {0, 2, 4}},
    {7, 2, 1, {1, 3, 5}},
    {9, 4, 0, {0, 4}},
    {9, 4, 1, {1, 5}},
    {9, 4, 2, {2, 6}},
    {9, 4, 3, {3, 7}},
    {5, 5, 0, {0}},
    {5, 5, 1, {1}},
    {5, 5, 2, {2}},
    {5, 5, 3, {3}},
    {5, 5, 4, {4}},
    {11, 3, 0, {0, 3, 6}},
    {11, 3, 1, {1, 4, 7}},
    {11, 3, 2, {2, 5, 8}},
  };
  for (const Case& c : cases) {
    std::vector<int64_t> order(static_cast<size_t>(c.n));
    for (int64_t i = 0; i < c.n; ++i) order[i] = i;
    EXPECT_EQ(data::distributed_indices(order, c.N, c.r), c.want) << "n " << c.n << ", N " << c.N << ", rank " << c.r;
  }
}

TEST(DistSampler, SplitsTheGivenOrder) {
  // The epoch's seeded permutation is split, not the file order.
  EXPECT_EQ(data::distributed_indices({5, 3, 0, 1, 4, 2, 6}, 2, 1), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(data::distributed_indices({5, 3, 0, 1, 4, 2, 6}, 2, 0), (std::vector<int64_t>{5, 0, 4}));
}

TEST(DistSampler, RejectsBadRanks) {
  EXPECT_THROW(data::distributed_indices({0, 1, 2}, 4, 0), InputError);
  EXPECT_THROW(data::distributed_indices({0, 1, 2}, 2, 2), InputError);
  EXPECT_THROW(data::distributed_indices({0, 1, 2}, 0, 0), InputError);
}

// Rank r's batch i, row j is the single-process batch i at N * B, row j * N + r (shuffled or not).
TEST(DistSampler, RankBatchesInterleaveTheSingleProcessBatches) {
  auto ds = std::make_shared<data::Cifar10>(GPUNET_DATA_SAMPLE_DIR, data::Split::Test);
  for (bool shuffle : {false, true})
    for (int N : {2, 3}) {
      const int64_t B = 5;
      data::LoaderOptions one;
      one.batch_size = N * B;
      one.shuffle = shuffle;
      one.seed = 7;
      data::DataLoader full(ds, one);
      std::vector<std::unique_ptr<data::DataLoader>> ranks;
      for (int r = 0; r < N; ++r) {
        data::LoaderOptions o = one;
        o.batch_size = B;
        o.num_replicas = N;
        o.rank = r;
        ranks.push_back(std::make_unique<data::DataLoader>(ds, o));
        EXPECT_EQ(ranks.back()->epoch_size(), (ds->n / N + B - 1) / B) << "floor(n / N) records, in batches of B";
      }
      for (int64_t i = 0; i < 3; ++i) {
        data::Batch fb;
        ASSERT_TRUE(full.next(fb));
        const auto fx = fb.x.to_vector<float>();
        const auto fy = fb.y.to_vector<int64_t>();
        const int64_t per = fb.x.numel() / fb.size;
        for (int r = 0; r < N; ++r) {
          data::Batch rb;
          ASSERT_TRUE(ranks[r]->next(rb));
          ASSERT_EQ(rb.size, B);
          const auto rx = rb.x.to_vector<float>();
          const auto ry = rb.y.to_vector<int64_t>();
          for (int64_t j = 0; j < B; ++j) {
            const int64_t k = j * N + r;
            ASSERT_EQ(ry[j], fy[k]) << "shuffle " << shuffle << ", N " << N << ", rank " << r << ", batch " << i << ", row " << j;
            for (int64_t e = 0; e < per; ++e) ASSERT_EQ(rx[j * per + e], fx[k * per + e]);
          }
        }
      }
    }
}

}  // namespace
}  // namespace gpunet
