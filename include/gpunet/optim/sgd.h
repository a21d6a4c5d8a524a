#pragma once
/// torch.optim.SGD with PyTorch's exact update, per parameter group:
///   d = g + weight_decay * p
///   buf = (first step) ? d : momentum * buf + (1 - dampening) * d        (when momentum != 0)
///   d = nesterov ? d + momentum * buf : buf
///   p -= lr * d
/// One kernel per group over the store's flat buffers; lr and the step count are read from the
/// device, so the step is capturable in a CUDA graph.
///   optim::SGD opt(net, {.lr = 0.1, .momentum = 0.9});
///   optim::SGD two({{conv_params, optim::sgd_group({.lr = 0.1})}, {bn_biases, optim::sgd_group({.lr = 6.4})}}, &net);
#include "gpunet/optim/optimizer.h"

namespace gpunet::optim {

struct SGDOptions {
  double lr = 0.001;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

/// A parameter group's options with SGD's hyper-parameters.
GroupOptions sgd_group(const SGDOptions& o);

class SGD : public Optimizer {
 public:
  /// Requires lr >= 0, momentum >= 0, weight_decay >= 0, and nesterov only with momentum > 0
  /// and dampening 0 (PyTorch's rules), in every group; throws InputError otherwise (before
  /// touching any parameter). The module forms: every parameter of `module`, laid out in a
  /// store attached to it (Module::zero_grad and Module::to act on the store).
  SGD(nn::Module& module, SGDOptions opts);
  SGD(std::vector<Tensor> params, SGDOptions opts);
  /// Parameter groups; with `module`, the store is attached to it (as the module forms do).
  explicit SGD(std::vector<ParamGroup> groups, nn::Module* module = nullptr);
  bool capturable() const override { return true; }
  StateDict state_tensors() const override;
  std::map<std::string, std::string> state_scalars() const override;
  void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) override;

 private:
  void update() override;
  bool any_momentum() const;
  StateDict momentum_tensors() const;
};

}  // namespace gpunet::optim
