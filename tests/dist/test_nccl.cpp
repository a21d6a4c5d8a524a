// The NCCL path with one rank on one GPU (NCCL refuses two processes on one GPU, so this is
// what a one-GPU machine can run; two GPUs are untested). Skips without NCCL or a GPU.
#include <gtest/gtest.h>

#include <numeric>

#include "gpunet/dist/nccl.h"
#include "gpunet/ops.h"
#include "support/gpu.h"

namespace gpunet {
namespace {

TEST(Nccl, BuildWithoutNcclSaysSo) {
  if (dist::nccl_built()) GTEST_SKIP() << "this build has NCCL";
  EXPECT_THROW(dist::NcclComm(nullptr, 0), Error);
}

// A 1-rank communicator on cuda:0: the all-reduce is ordered after the kernel that wrote its
// input and before the kernel that reads its output, with no host wait in between.
TEST(Nccl, OneRankAllReduceInStreamOrder) {
  if (!dist::nccl_built()) GTEST_SKIP() << "this build has no NCCL (CUDA backend + MPI)";
  GPUNET_REQUIRE_GPU();
  dist::NcclComm comm(nullptr, 0);
  EXPECT_EQ(comm.size(), 1);
  const int64_t n = 1 << 20;
  std::vector<float> host(static_cast<size_t>(n));
  std::iota(host.begin(), host.end(), 0.f);
  Tensor t = ops::mul(Tensor::from_blob(host.data(), {n}, DType::Float32, Device::cuda(0)), 2.0);
  comm.allreduce_sum(t);
  Tensor after = ops::add(t, Tensor::ones({n}, DType::Float32, Device::cuda(0)));
  comm.wait(60);
  const auto got = after.to_vector<float>();
  for (int64_t i = 0; i < n; i += 997) ASSERT_EQ(got[i], 2.f * host[i] + 1.f) << i;
}

}  // namespace
}  // namespace gpunet
