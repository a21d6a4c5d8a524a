#include "gpunet/optim/sgd.h"

#include <cmath>

#include "kernels/optim.h"

namespace gpunet::optim {
namespace {

void check(const SGDOptions& o) {
  GPUNET_INPUT_CHECK(std::isfinite(o.lr) && o.lr >= 0, "SGD: invalid learning rate ", o.lr, " (must be >= 0)");
  GPUNET_INPUT_CHECK(std::isfinite(o.momentum) && o.momentum >= 0, "SGD: invalid momentum ", o.momentum, " (must be >= 0)");
  GPUNET_INPUT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "SGD: invalid weight_decay ", o.weight_decay,
                     " (must be >= 0)");
  GPUNET_INPUT_CHECK(std::isfinite(o.dampening), "SGD: invalid dampening ", o.dampening);
  GPUNET_INPUT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                     "SGD: nesterov momentum requires a momentum and zero dampening");
}

void update(const kernels::SgdParams& h, const Tensor& p, const Tensor& g, const Tensor& buf) {
  float* bp = buf.defined() ? buf.data<float>() : nullptr;
  if (p.device().is_cpu()) {
    kernels::cpu::sgd_step<float>(p.numel(), h, p.data<float>(), g.data<float>(), bp);
  } else {
#if GPUNET_HAVE_CUDA
    kernels::cuda::sgd_step(p.numel(), h, p.data<float>(), g.data<float>(), bp);
#endif
  }
}

}  // namespace

SGD::SGD(nn::Module& module, SGDOptions opts) : Optimizer(module.parameters(), &module), opts_(opts) {
  check(opts_);
  module.flatten_parameters();
  init_state();
}

SGD::SGD(std::vector<Tensor> params, SGDOptions opts) : Optimizer(std::move(params), nullptr), opts_(opts) {
  check(opts_);
  init_state();
}

void SGD::init_state() {
  bufs_.clear();
  flat_buf_ = Tensor();
  if (opts_.momentum == 0) return;
  const Device dev = params_.front().device();
  if (flat()) {
    flat_buf_ = Tensor::zeros({flat_params().numel()}, DType::Float32, dev);
    int64_t off = 0;
    for (auto& p : params_) {
      bufs_.push_back(flat_buf_.narrow(0, off, p.numel()).reshape(p.shape()));
      off += p.numel();
    }
  } else {
    for (auto& p : params_) bufs_.push_back(Tensor::zeros(p.shape(), DType::Float32, p.device()));
  }
}

void SGD::step() {
  kernels::SgdParams h{static_cast<float>(opts_.lr), static_cast<float>(opts_.momentum),
                       static_cast<float>(opts_.dampening), static_cast<float>(opts_.weight_decay), opts_.nesterov,
                       !initialised_};
  if (flat() && (opts_.momentum == 0 || flat_buf_.defined())) {
    update(h, flat_params(), flat_grads(), flat_buf_);
  } else {
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor g = params_[i].grad();
      if (!g.defined()) continue;
      check_same_device("SGD.step", params_[i], g);
      update(h, params_[i], g.contiguous(), opts_.momentum != 0 ? bufs_[i] : Tensor());
    }
  }
  initialised_ = true;
  ++steps_;
}

StateDict SGD::state_tensors() const {
  StateDict sd;
  if (initialised_)
    for (size_t i = 0; i < bufs_.size(); ++i) sd.emplace_back("state." + std::to_string(i) + ".momentum_buffer", bufs_[i]);
  return sd;
}

std::map<std::string, std::string> SGD::state_scalars() const {
  return {{"optimizer", "sgd"}, {"optimizer.steps", std::to_string(steps_)},
          {"optimizer.momentum_initialised", initialised_ ? "1" : "0"}};
}

void SGD::load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) {
  auto it = scalars.find("optimizer");
  GPUNET_INPUT_CHECK(it != scalars.end() && it->second == "sgd", "the training state was saved by optimizer '",
                     it == scalars.end() ? std::string("?") : it->second, "', not sgd; resume with the same --optimizer");
  steps_ = std::stoll(scalars.at("optimizer.steps"));
  initialised_ = scalars.at("optimizer.momentum_initialised") == "1";
  if (!initialised_ || opts_.momentum == 0) return;
  for (size_t i = 0; i < bufs_.size(); ++i) {
    const std::string name = "state." + std::to_string(i) + ".momentum_buffer";
    const Tensor* src = nullptr;
    for (auto& [n, t] : tensors)
      if (n == name) src = &t;
    GPUNET_INPUT_CHECK(src, "the training state has no tensor '", name, "'");
    GPUNET_INPUT_CHECK(src->shape() == bufs_[i].shape(), "the training state's '", name, "' has shape ",
                       shape_str(src->shape()), ", expected ", shape_str(bufs_[i].shape()));
    Tensor dst = bufs_[i];
    dst.copy_(*src);
  }
}

void SGD::sync_device() {
  if (bufs_.empty() || bufs_.front().device() == params_.front().device()) return;
  StateDict saved;
  for (size_t i = 0; i < bufs_.size(); ++i) saved.emplace_back(std::to_string(i), bufs_[i].cpu());
  init_state();
  for (size_t i = 0; i < bufs_.size(); ++i) bufs_[i].copy_(saved[i].second);
}

}  // namespace gpunet::optim
