#pragma once
/// torch.optim.SGD with PyTorch's exact update:
///   d = g + weight_decay * p
///   buf = (first step) ? d : momentum * buf + (1 - dampening) * d        (when momentum != 0)
///   d = nesterov ? d + momentum * buf : buf
///   p -= lr * d
#include "gpunet/optim/optimizer.h"

namespace gpunet::optim {

struct SGDOptions {
  double lr = 0.001;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  /// Requires lr >= 0, momentum >= 0, weight_decay >= 0, and nesterov only with momentum > 0
  /// and dampening 0 (PyTorch's rules); throws InputError otherwise.
  SGD(nn::Module& module, SGDOptions opts);
  SGD(std::vector<Tensor> params, SGDOptions opts);
  void step() override;
  StateDict state_tensors() const override;
  std::map<std::string, std::string> state_scalars() const override;
  void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) override;
  void sync_device() override;
  const SGDOptions& options() const { return opts_; }

 private:
  void init_state();
  SGDOptions opts_;
  Tensor flat_buf_;                // momentum buffer over the flat parameters (flat mode)
  std::vector<Tensor> bufs_;       // per parameter (views into flat_buf_ in flat mode)
  bool initialised_ = false;       // PyTorch: momentum_buffer is None before the first step
};

}  // namespace gpunet::optim
