#include "gpunet/optim/adam.h"

#include <cmath>

#include "kernels/optim.h"

namespace gpunet::optim {
namespace {

void check(const AdamOptions& o) {
  GPUNET_INPUT_CHECK(std::isfinite(o.lr) && o.lr >= 0, "Adam: invalid learning rate ", o.lr, " (must be >= 0)");
  GPUNET_INPUT_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "Adam: betas must be in [0, 1), got ",
                     o.beta1, ", ", o.beta2);
  GPUNET_INPUT_CHECK(std::isfinite(o.eps) && o.eps >= 0, "Adam: invalid eps ", o.eps);
  GPUNET_INPUT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "Adam: invalid weight_decay ", o.weight_decay);
}

void update(const kernels::AdamParams& h, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  if (p.device().is_cpu()) {
    kernels::cpu::adam_step<float>(p.numel(), h, p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>());
  } else {
#if GPUNET_HAVE_CUDA
    kernels::cuda::adam_step(p.numel(), h, p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>());
#endif
  }
}

}  // namespace

Adam::Adam(nn::Module& module, AdamOptions opts) : Optimizer(module.parameters(), &module), opts_(opts) {
  check(opts_);
  module.flatten_parameters();
  init_state();
}

Adam::Adam(std::vector<Tensor> params, AdamOptions opts) : Optimizer(std::move(params), nullptr), opts_(opts) {
  check(opts_);
  init_state();
}

void Adam::init_state() {
  m_.clear();
  v_.clear();
  const Device dev = params_.front().device();
  if (flat()) {
    const int64_t total = flat_params().numel();
    flat_m_ = Tensor::zeros({total}, DType::Float32, dev);
    flat_v_ = Tensor::zeros({total}, DType::Float32, dev);
    int64_t off = 0;
    for (auto& p : params_) {
      m_.push_back(flat_m_.narrow(0, off, p.numel()).reshape(p.shape()));
      v_.push_back(flat_v_.narrow(0, off, p.numel()).reshape(p.shape()));
      off += p.numel();
    }
  } else {
    flat_m_ = flat_v_ = Tensor();
    for (auto& p : params_) {
      m_.push_back(Tensor::zeros(p.shape(), DType::Float32, p.device()));
      v_.push_back(Tensor::zeros(p.shape(), DType::Float32, p.device()));
    }
  }
}

void Adam::step() {
  ++steps_;
  // PyTorch computes the bias corrections in double on the host, then rounds.
  const double bc1 = 1.0 - std::pow(opts_.beta1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(opts_.beta2, static_cast<double>(steps_));
  kernels::AdamParams h{static_cast<float>(opts_.lr), static_cast<float>(opts_.beta1), static_cast<float>(opts_.beta2),
                        static_cast<float>(opts_.eps), static_cast<float>(opts_.weight_decay),
                        opts_.decoupled_weight_decay, static_cast<float>(bc1), static_cast<float>(bc2)};
  if (flat() && flat_m_.defined()) {
    update(h, flat_params(), flat_grads(), flat_m_, flat_v_);
    return;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    update(h, params_[i], g.contiguous(), m_[i], v_[i]);
  }
}

StateDict Adam::state_tensors() const {
  StateDict sd;
  for (size_t i = 0; i < m_.size(); ++i) {
    sd.emplace_back("state." + std::to_string(i) + ".exp_avg", m_[i]);
    sd.emplace_back("state." + std::to_string(i) + ".exp_avg_sq", v_[i]);
  }
  return sd;
}

std::map<std::string, std::string> Adam::state_scalars() const {
  return {{"optimizer", opts_.decoupled_weight_decay ? "adamw" : "adam"}, {"optimizer.steps", std::to_string(steps_)}};
}

void Adam::load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) {
  const std::string want = opts_.decoupled_weight_decay ? "adamw" : "adam";
  auto it = scalars.find("optimizer");
  GPUNET_INPUT_CHECK(it != scalars.end() && it->second == want, "the training state was saved by optimizer '",
                     it == scalars.end() ? std::string("?") : it->second, "', not ", want,
                     "; resume with the same --optimizer");
  steps_ = std::stoll(scalars.at("optimizer.steps"));
  auto mine = state_tensors();
  for (auto& [name, dst] : mine) {
    const Tensor* src = nullptr;
    for (auto& [n, t] : tensors)
      if (n == name) src = &t;
    GPUNET_INPUT_CHECK(src, "the training state has no tensor '", name, "'");
    GPUNET_INPUT_CHECK(src->shape() == dst.shape(), "the training state's '", name, "' has shape ",
                       shape_str(src->shape()), ", expected ", shape_str(dst.shape()));
    Tensor d = dst;
    d.copy_(*src);
  }
}

void Adam::sync_device() {
  if (m_.empty() || m_.front().device() == params_.front().device()) return;
  auto saved = state_tensors();
  for (auto& [n, t] : saved) t = t.cpu();
  auto scalars = state_scalars();
  init_state();
  load_state(saved, scalars);
}

}  // namespace gpunet::optim
