#pragma once
/// nn::BatchNorm2d, as torch.nn.BatchNorm2d: per-channel normalisation of NCHW input.
/// Training mode normalises with the batch's mean and biased variance and updates
/// running_mean/running_var with the unbiased variance, running = (1 - momentum) * running +
/// momentum * batch (momentum = std::nullopt: the cumulative average, 1 / num_batches_tracked);
/// eval mode uses the running statistics. state_dict keys: weight, bias (affine), running_mean,
/// running_var, num_batches_tracked (int64) (track_running_stats).
///   auto bn = std::make_shared<gpunet::nn::BatchNorm2d>(64);          // eps 1e-5, momentum 0.1
///   Tensor y = (*bn)(x);                                             // x: (N, 64, H, W)
#include <memory>
#include <optional>
#include <string>

#include "gpunet/nn/module.h"

namespace gpunet {
struct SumGroup;  // gpunet/sync_batch_norm.h
}

namespace gpunet::nn {

class BatchNorm2d : public Module {
 public:
  /// Requires num_features >= 1, eps > 0 and momentum in [0, 1] (InputError naming the value).
  explicit BatchNorm2d(int num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true);
  /// x: (N, num_features, H, W). In training mode with running statistics it also advances
  /// num_batches_tracked on x's device (no synchronisation) and updates the running statistics.
  Tensor forward(const Tensor& x) override;
  /// gelu(forward(x), approximate) with the bookkeeping of forward(), through
  /// ops::batch_norm2d_gelu (the normalised tensor is recomputed in the backward, not kept). A
  /// sync-BN layer in training runs the two steps.
  Tensor forward_gelu(const Tensor& x, const std::string& approximate = "none");
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
  /// Cumulative averaging (momentum nullopt) reads num_batches_tracked on the host every step,
  /// so such a module cannot be replayed from a CUDA graph.
  /// A sync-BN layer (set_sync_group) talks to other processes on the host: not capturable.
  bool capturable() const override { return momentum_.has_value() && !sync_ && Module::capturable(); }
  /// Training-mode statistics over `group`'s processes (ops::sync_batch_norm2d); null: this
  /// process's batch alone (the default, DDP's). See nn::convert_sync_batchnorm.
  void set_sync_group(std::shared_ptr<SumGroup> group) { sync_ = std::move(group); }
  const std::shared_ptr<SumGroup>& sync_group() const { return sync_; }

  int num_features() const { return c_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }

  Tensor weight, bias;                                  // [C] float32, when affine
  Tensor running_mean, running_var, num_batches_tracked;  // [C], [C], [] int64, when tracking

 private:
  int c_;
  double eps_;
  std::optional<double> momentum_;
  bool affine_, track_;
  std::shared_ptr<SumGroup> sync_;
  // In training with running statistics: advances num_batches_tracked; the momentum to use.
  double step_momentum();
};

}  // namespace gpunet::nn
