#pragma once
/// torch.optim.Adam and AdamW (amsgrad off) with PyTorch's update, per parameter group. The
/// lr, the step count and the bias corrections live in device memory and are advanced by the
/// step itself, so the step is capturable in a CUDA graph.
///   optim::Adam opt(net, {.lr = 3e-4});
#include "gpunet/optim/optimizer.h"

namespace gpunet::optim {

struct AdamOptions {
  double lr = 0.001;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
};

/// A parameter group's options with Adam's hyper-parameters.
GroupOptions adam_group(const AdamOptions& o);

class Adam : public Optimizer {
 public:
  /// Requires lr >= 0, betas in [0, 1), eps >= 0, weight_decay >= 0 in every group, and one
  /// decoupled_weight_decay setting for all groups (Adam or AdamW); InputError otherwise.
  Adam(nn::Module& module, AdamOptions opts);
  Adam(std::vector<Tensor> params, AdamOptions opts);
  /// Parameter groups; with `module`, the store is attached to it (as the module forms do).
  explicit Adam(std::vector<ParamGroup> groups, nn::Module* module = nullptr);
  bool capturable() const override { return true; }
  StateDict state_tensors() const override;
  std::map<std::string, std::string> state_scalars() const override;
  void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) override;

 private:
  void update() override;
  std::string kind() const;
};

/// AdamW: Adam with decoupled weight decay (default weight_decay 0.01, as PyTorch).
inline AdamOptions adamw_options(double lr = 0.001, double weight_decay = 0.01) {
  AdamOptions o;
  o.lr = lr;
  o.weight_decay = weight_decay;
  o.decoupled_weight_decay = true;
  return o;
}

}  // namespace gpunet::optim
