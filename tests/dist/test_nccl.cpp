// The NCCL path with one rank on one GPU (NCCL refuses two processes on one GPU, so this is
// what a one-GPU machine can run; two GPUs are untested). Skips without NCCL or a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "gpunet/dist/grad_reducer.h"
#include "gpunet/dist/nccl.h"
#include "gpunet/dist/sync_bn.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/nn/layers.h"
#include "gpunet/ops.h"
#include "gpunet/optim/sgd.h"
#include "gpunet/train.h"
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

double rel(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  double scale = 1e-12, worst = 0;
  for (float v : vb) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(double(va[i]) - vb[i]));
  return worst / scale;
}

// Sync batch norm over a 1-rank NCCL group on cuda:0 is batch_norm2d on cuda:0 (the statistics
// staged through the communicator), forward, running statistics and backward.
TEST(Nccl, SyncBatchNormOverOneRankEqualsBatchNorm) {
  if (!dist::nccl_built()) GTEST_SKIP() << "this build has no NCCL (CUDA backend + MPI)";
  GPUNET_REQUIRE_GPU();
  dist::NcclComm comm(nullptr, 0);
  const Device gpu = Device::cuda(0);
  Generator gen(5);
  Tensor x0 = ops::add(Tensor::normal({6, 4, 7, 5}, 0.f, 3.f, gen), 20.0).to(gpu);
  Tensor gy = Tensor::normal({6, 4, 7, 5}, 0.f, 1.f, gen).to(gpu);
  Tensor w0 = Tensor::uniform({4}, 0.5f, 1.5f, gen).to(gpu), b0 = Tensor::uniform({4}, -1.f, 1.f, gen).to(gpu);
  Tensor xa = x0.clone().requires_grad_(), wa = w0.clone().requires_grad_(), ba = b0.clone().requires_grad_();
  Tensor xb = x0.clone().requires_grad_(), wb = w0.clone().requires_grad_(), bb = b0.clone().requires_grad_();
  Tensor rma = Tensor::zeros({4}).to(gpu), rva = Tensor::ones({4}).to(gpu);
  Tensor rmb = rma.clone(), rvb = rva.clone();
  Tensor ya = ops::batch_norm2d(xa, wa, ba, rma, rva, true, 0.1, 1e-5);
  Tensor yb = ops::sync_batch_norm2d(xb, wb, bb, rmb, rvb, 0.1, 1e-5, dist::stats_group(comm, 60));
  ops::sum(ops::mul(ya, gy)).backward();
  ops::sum(ops::mul(yb, gy)).backward();
  EXPECT_LT(rel(yb, ya), 1e-6);
  EXPECT_LT(rel(rmb, rma), 1e-6);
  EXPECT_LT(rel(rvb, rva), 1e-6);
  EXPECT_LT(rel(xb.grad(), xa.grad()), 1e-5);
  EXPECT_LT(rel(wb.grad(), wa.grad()), 1e-5);
  EXPECT_LT(rel(bb.grad(), ba.grad()), 1e-5);
}

std::shared_ptr<nn::Module> bn_net(Device d) {
  Generator gen(3);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1, true, gen));
  net->push_back(std::make_shared<nn::BatchNorm2d>(8));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(8 * 8 * 8, 5, true, gen));
  net->to(d);
  return net;
}

// The train command's GPU path with one rank: the bucketed NCCL gradient all-reduce (on the
// communicator's stream, started from the backward hook; 1 KiB buckets so there are several)
// and sync batch norm over NCCL give the plain step's weights (a mean over one rank).
TEST(Nccl, OneRankTrainStepWithGradReducerAndSyncBnEqualsThePlainStep) {
  if (!dist::nccl_built()) GTEST_SKIP() << "this build has no NCCL (CUDA backend + MPI)";
  GPUNET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  dist::NcclComm comm(nullptr, 0);
  Generator gen(9);
  Tensor x = Tensor::normal({16, 3, 8, 8}, 0.f, 1.f, gen).to(gpu);
  std::vector<int64_t> labels(16);
  for (int i = 0; i < 16; ++i) labels[i] = i % 5;
  Tensor y = Tensor::from_vector(labels, {16}).to(gpu);
  auto plain = bn_net(gpu), dp = bn_net(gpu);
  optim::SGD o1(*plain, optim::SGDOptions{0.05, 0.9}), o2(*dp, optim::SGDOptions{0.05, 0.9});
  TrainStep s1(*plain, o1), s2(*dp, o2);
  ASSERT_EQ(nn::convert_sync_batchnorm(*dp, dist::stats_group(comm, 60)), 1);
  o2.store().set_bucket_bytes(1024);
  dist::GradReducer reducer(comm, o2.store(), 60);
  s2.set_grad_sync(&reducer);
  for (int i = 0; i < 4; ++i) {
    s1(x, y);
    s2(x, y);
  }
  EXPECT_GT(reducer.stats().buckets_early, 0);
  const auto a = plain->state_dict(), b = dp->state_dict();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].second.dtype() == DType::Float32) EXPECT_LT(rel(b[i].second, a[i].second), 1e-5) << a[i].first;
}

}  // namespace
}  // namespace gpunet
