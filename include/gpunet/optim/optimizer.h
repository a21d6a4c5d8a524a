#pragma once
/// Optimizers: state lives on the parameters' device and step() runs there. When the
/// parameters live in one flat buffer (Module::flatten_parameters, done by the constructors
/// that take a module), step() is one kernel over all of them.
///   gpunet::optim::SGD opt(*net, {.lr = 0.001, .momentum = 0.9});
///   opt.zero_grad(); loss.backward(); opt.step();
#include <map>
#include <string>
#include <vector>

#include "gpunet/nn/module.h"
#include "gpunet/tensor.h"

namespace gpunet::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// Updates every parameter that has a gradient.
  virtual void step() = 0;
  /// Clears the gradients (zeroes the flat gradient buffer, or sets them to none).
  void zero_grad();
  const std::vector<Tensor>& params() const { return params_; }
  /// The optimizer's tensors (momentum buffers, Adam moments) named "state.<i>.<what>", and
  /// its scalars (step count) as strings, for checkpoints.
  virtual StateDict state_tensors() const = 0;
  virtual std::map<std::string, std::string> state_scalars() const = 0;
  /// Restores state saved by state_tensors()/state_scalars(); throws InputError on a mismatch.
  virtual void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) = 0;
  /// Moves the state to the parameters' device (after Module::to).
  virtual void sync_device() = 0;
  int64_t steps() const { return steps_; }
  /// Counts a step that ran as a CUDA graph replay (no host code ran to count it).
  void count_replayed_step() { ++steps_; }

 protected:
  explicit Optimizer(std::vector<Tensor> params, nn::Module* module);
  /// When the parameters and their gradients are each one contiguous run of one buffer:
  /// the run's first element, else undefined tensors.
  bool flat() const;
  Tensor flat_params() const;
  Tensor flat_grads() const;
  std::vector<Tensor> params_;
  nn::Module* module_ = nullptr;
  int64_t steps_ = 0;
};

}  // namespace gpunet::optim
