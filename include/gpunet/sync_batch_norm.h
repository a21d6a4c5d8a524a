#pragma once
/// Sync batch norm, as torch.nn.SyncBatchNorm: BatchNorm2d whose training-mode statistics are
/// those of the union of the batches of every process in a group (data parallel with small
/// per-process batches). The forward all-reduces, per channel, the element count and sum, then
/// the sum of squares about the global mean (two passes in double, as the single-process kernel
/// does, so a large mean does not cancel the variance); it normalises with the global mean and
/// biased variance and updates the running statistics with the global unbiased variance. The
/// backward all-reduces sum(dy) and sum(dy * xhat), so dx is the single-process gradient at the
/// union batch; the weight and bias gradients stay this process's share (the gradient all-reduce
/// sums them, as DDP does). Every process must call it for the same layers in the same order.
///
///   auto group = dist::stats_group(*pg);                 // dist/sync_bn.h: over MPI or NCCL
///   nn::convert_sync_batchnorm(*net, group);             // every BatchNorm2d of net
#include <memory>
#include <vector>

#include "gpunet/nn/module.h"
#include "gpunet/tensor.h"

namespace gpunet {

/// The processes that share batch statistics. Implemented over MPI and NCCL by dist/sync_bn.h;
/// tests implement it over threads.
struct SumGroup {
  virtual ~SumGroup() = default;
  /// The number of processes.
  virtual int size() const = 0;
  /// Element-wise sum of `v` over the processes, in place (same length everywhere); blocking.
  /// Throws (dist::DistError) when a process is lost.
  virtual void allreduce_sum(std::vector<double>& v) = 0;
};

namespace ops {
/// batch_norm2d in training mode with batch statistics shared over `group` (see above). x (N, C,
/// H, W) float32; weight, bias, running_mean, running_var: [C] on x's device or undefined (as
/// batch_norm2d). Requires more than one value per channel over the group. Host round trips:
/// three small all-reduces (C + 1, C, 2C doubles) per call (forward two, backward one).
Tensor sync_batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, double momentum, double eps, std::shared_ptr<SumGroup> group);
}  // namespace ops

namespace nn {
/// torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm2d in `model` normalises with the
/// group's statistics in training mode (eval mode is unchanged). A null group turns it off.
/// Returns how many layers it changed. Such a model cannot be captured in a CUDA graph.
int convert_sync_batchnorm(Module& model, std::shared_ptr<SumGroup> group);
}  // namespace nn

}  // namespace gpunet
