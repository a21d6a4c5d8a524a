#pragma once
/// The training step and evaluation, shared by the `gpunet` command, the example and the
/// benchmarks. A step is: zero_grad, forward, cross-entropy, backward, optimizer update, and
/// the loss added to a running sum that stays on the device (read only at log lines).
///   gpunet::TrainStep step(*net, opt);
///   for (gpunet::data::Batch b; loader.next(b);) step(b.x, b.y);
///   double mean = step.take_running_loss();     // synchronises; resets the sum
#include <cstdint>
#include <vector>

#include "gpunet/data/dataset.h"
#include "gpunet/nn/module.h"
#include "gpunet/optim/optimizer.h"
#include "gpunet/tensor.h"

namespace gpunet {

class TrainStep {
 public:
  TrainStep(nn::Module& model, optim::Optimizer& opt);
  /// One optimizer step on x (N, C, H, W) float32 and y (N) int64, both on the model's
  /// device. Nothing is copied to the host and nothing waits for the device.
  void operator()(const Tensor& x, const Tensor& y);
  /// The mean of the losses added since the last call (NaN when none), and resets the sum.
  /// Synchronises with the device. A NaN or infinite result means the loss diverged.
  double take_running_loss();
  /// Sum and count of the running loss, without resetting (for checkpoints).
  double running_sum() const;
  int64_t running_count() const { return count_; }
  /// Restores a running sum saved by running_sum()/running_count() (exact resume).
  void set_running(double sum, int64_t count);
  nn::Module& model() { return model_; }

 private:
  nn::Module& model_;
  optim::Optimizer& opt_;
  Tensor running_;  // [1] float64 on the model's device
  int64_t count_ = 0;
};

struct EvalResult {
  int64_t correct = 0, total = 0;
  double mean_loss = 0;
  std::vector<int64_t> per_class_correct, per_class_total;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

/// Accuracy and mean cross-entropy of `model` on `data` (normalised as in the tutorial, file
/// order, no augmentation), in batches of `batch_size` on `device`, without autograd.
EvalResult evaluate(nn::Module& model, const data::ImageDataset& data, Device device, int64_t batch_size = 1000);

}  // namespace gpunet
