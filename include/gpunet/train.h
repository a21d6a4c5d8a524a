#pragma once
/// The training step and evaluation, shared by the `gpunet` command, the example and the
/// benchmarks. A step is: zero_grad, forward, cross-entropy, backward, optimizer update, and
/// the loss added to a running sum that stays on the device (read only at log lines).
///   gpunet::TrainStep step(*net, opt);
///   for (gpunet::data::Batch b; loader.next(b);) step(b.x, b.y);
///   double mean = step.take_running_loss();     // synchronises; resets the sum
#include <cstdint>
#include <memory>
#include <vector>

#include "gpunet/data/dataset.h"
#include "gpunet/data/transforms.h"
#include "gpunet/nn/module.h"
#include "gpunet/optim/optimizer.h"
#include "gpunet/tensor.h"

namespace gpunet {

/// Whether TrainStep captures the step as one CUDA graph and replays it (GPU only; ignored on
/// the CPU). Off: always eager. Auto: graph when possible, else eager (a failed capture prints
/// one line on stderr and turns graphs off for this TrainStep). On: like Auto, but an optimizer
/// that cannot be graphed or a failed capture throws gpunet::Error.
enum class GraphMode { Off, Auto, On };

/// What a data-parallel run plugs into a TrainStep (dist::GradReducer): called around backward.
/// before_backward() arms the per-bucket all-reduce; after_backward() finishes it, so that the
/// optimizer step reads the gradients averaged over every process.
struct GradSync {
  virtual ~GradSync() = default;
  virtual void before_backward() = 0;
  virtual void after_backward() = 0;
};

class TrainStep {
 public:
  /// With GraphMode Auto or On on a CUDA device the step is captured as one CUDA graph after
  /// two eager warm-up steps with the same inputs, and replayed from then on; results are
  /// bit-identical to the eager path. Requirements for a replay (checked every step; a step
  /// that fails them runs eagerly, which is always correct):
  ///  - the optimizer and the model are capturable() (declared: SGD and Adam read their lr,
  ///    step count and bias corrections from device memory; a module with host-side per-step
  ///    state says it is not). Otherwise On throws and Auto runs eagerly;
  ///  - x and y have the same data pointers and shapes as when captured (the loader's reused
  ///    batch buffers; the last, partial batch of an epoch runs eagerly);
  ///  - the optimizer's parameter store has the same generation (it changes whenever the
  ///    parameters, gradients or optimizer state are re-laid out or moved: the graph is then
  ///    dropped and captured again after two warm-up steps), and the device, training mode and
  ///    grad mode are the same.
  /// Library users get Off by default; the CLI passes Auto.
  /// Throws gpunet::Error with GraphMode On when the model is on a GPU and the optimizer or the
  /// model is not capturable.
  TrainStep(nn::Module& model, optim::Optimizer& opt, GraphMode graph = GraphMode::Off);
  ~TrainStep();
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;
  /// One optimizer step on x (N, C, H, W) float32 and y (N) int64, both on the model's
  /// device. Nothing is copied to the host and nothing waits for the device.
  void operator()(const Tensor& x, const Tensor& y);
  GraphMode graph_mode() const { return graph_mode_; }
  /// Steps run as graph replays so far (the capturing step included); 0 on the CPU or with Off.
  int64_t graph_steps() const { return graph_steps_; }
  /// The mean of the losses added since the last call (NaN when none), and resets the sum.
  /// Synchronises with the device. A NaN or infinite result means the loss diverged.
  double take_running_loss();
  /// Sum and count of the running loss, without resetting (for checkpoints).
  double running_sum() const;
  int64_t running_count() const { return count_; }
  /// Restores a running sum saved by running_sum()/running_count() (exact resume).
  void set_running(double sum, int64_t count);
  nn::Module& model() { return model_; }
  /// Averages the gradients over processes through `sync` (not owned; nullptr: none). A step
  /// with a GradSync runs eagerly (no CUDA graph).
  void set_grad_sync(GradSync* sync) { sync_ = sync; }

 private:
  GradSync* sync_ = nullptr;
  nn::Module& model_;
  optim::Optimizer& opt_;
  Tensor running_;  // [1] float64 on the model's device
  int64_t count_ = 0;
  GraphMode graph_mode_ = GraphMode::Off;
  int64_t graph_steps_ = 0;
  struct GraphState;  // src/train/step.cpp
  std::unique_ptr<GraphState> graph_;
  void eager_step(const Tensor& x, const Tensor& y);
  bool graph_step(const Tensor& x, const Tensor& y);  // false: not graphed, run eagerly
};

struct EvalResult {
  int64_t correct = 0, total = 0;
  double mean_loss = 0;
  std::vector<int64_t> per_class_correct, per_class_total;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

/// Accuracy and mean cross-entropy of `model` on `data` (normalised by `t`, the tutorial's by
/// default, file order, no augmentation), in batches of `batch_size` on `device`, without autograd.
EvalResult evaluate(nn::Module& model, const data::ImageDataset& data, Device device, int64_t batch_size = 1000,
                    const data::Transforms& t = data::Transforms::tutorial());

}  // namespace gpunet
