#pragma once
/// torch.optim.Adam and AdamW (amsgrad off) with PyTorch's update.
#include "gpunet/optim/optimizer.h"

namespace gpunet::optim {

struct AdamOptions {
  double lr = 0.001;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
};

class Adam : public Optimizer {
 public:
  Adam(nn::Module& module, AdamOptions opts);
  Adam(std::vector<Tensor> params, AdamOptions opts);
  void step() override;
  StateDict state_tensors() const override;
  std::map<std::string, std::string> state_scalars() const override;
  void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) override;
  void sync_device() override;

 private:
  void init_state();
  AdamOptions opts_;
  Tensor flat_m_, flat_v_;
  std::vector<Tensor> m_, v_;
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
