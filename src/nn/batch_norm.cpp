#include "gpunet/nn/batch_norm.h"

#include <cmath>
#include <sstream>

#include "gpunet/ops.h"
#include "gpunet/sync_batch_norm.h"
#include "ops/counter.h"

namespace gpunet::nn {

BatchNorm2d::BatchNorm2d(int num_features, double eps, std::optional<double> momentum, bool affine,
                         bool track_running_stats)
    : c_(num_features), eps_(eps), momentum_(momentum), affine_(affine), track_(track_running_stats) {
  GPUNET_INPUT_CHECK(num_features >= 1, "BatchNorm2d: num_features must be >= 1, got ", num_features);
  GPUNET_INPUT_CHECK(std::isfinite(eps) && eps > 0, "BatchNorm2d: eps must be > 0, got ", eps);
  GPUNET_INPUT_CHECK(!momentum || (std::isfinite(*momentum) && *momentum >= 0 && *momentum <= 1),
                     "BatchNorm2d: momentum must be in [0, 1], got ", momentum ? *momentum : 0.0);
  if (affine_) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  if (track_) {
    running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
    running_var = register_buffer("running_var", Tensor::ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
  }
}

double BatchNorm2d::step_momentum() {
  double m = momentum_.value_or(0.0);
  if (is_training() && track_) {
    // PyTorch: num_batches_tracked += 1 before the update; momentum None uses 1 / that count.
    ops::detail::increment_(num_batches_tracked);
    if (!momentum_) m = 1.0 / static_cast<double>(num_batches_tracked.item());
  }
  return m;
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  const bool training = is_training();
  const double m = step_momentum();
  // Registered tensors are read through the module's fields, which load_state_dict/to() keep current.
  if (training && sync_) return ops::sync_batch_norm2d(x, weight, bias, running_mean, running_var, m, eps_, sync_);
  return ops::batch_norm2d(x, weight, bias, running_mean, running_var, training, m, eps_);
}

Tensor BatchNorm2d::forward_gelu(const Tensor& x, const std::string& approximate) {
  const bool training = is_training();
  if (training && sync_) return ops::gelu(forward(x), approximate);
  const double m = step_momentum();
  return ops::batch_norm2d_gelu(x, weight, bias, running_mean, running_var, training, m, eps_, approximate);
}

std::string BatchNorm2d::repr() const {
  std::ostringstream os;
  os << "BatchNorm2d(" << c_ << ", eps=" << eps_ << ", momentum=";
  if (momentum_) os << *momentum_;
  else os << "None";
  os << ", affine=" << (affine_ ? "True" : "False") << ", track_running_stats=" << (track_ ? "True" : "False")
     << ")";
  return os.str();
}

int convert_sync_batchnorm(Module& model, std::shared_ptr<SumGroup> group) {
  int changed = 0;
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&model)) {
    bn->set_sync_group(group);
    ++changed;
  }
  for (const auto& [name, child] : model.children()) changed += convert_sync_batchnorm(*child, group);
  return changed;
}

}  // namespace gpunet::nn
