#include "gpunet/optim/sgd.h"

#include <cmath>

#include "kernels/optim.h"
#include "ops/dispatch.h"

namespace gpunet::optim {
namespace {

constexpr const char* kMomentum = "momentum_buffer";

std::vector<ParamGroup> checked(std::vector<ParamGroup> groups) {
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupOptions& o = groups[g].options;
    GPUNET_INPUT_CHECK(std::isfinite(o.lr) && o.lr >= 0, "SGD: invalid learning rate ", o.lr, " in group ", g,
                       " (must be >= 0)");
    GPUNET_INPUT_CHECK(std::isfinite(o.momentum) && o.momentum >= 0, "SGD: invalid momentum ", o.momentum, " in group ",
                       g, " (must be >= 0)");
    GPUNET_INPUT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "SGD: invalid weight_decay ",
                       o.weight_decay, " in group ", g, " (must be >= 0)");
    GPUNET_INPUT_CHECK(std::isfinite(o.dampening), "SGD: invalid dampening ", o.dampening, " in group ", g);
    GPUNET_INPUT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD: nesterov momentum requires a momentum and zero dampening (group ", g, ")");
  }
  return groups;
}

std::vector<ParamGroup> one_group(std::vector<Tensor> params, const SGDOptions& o) {
  return checked({ParamGroup{std::move(params), sgd_group(o)}});
}

}  // namespace

GroupOptions sgd_group(const SGDOptions& o) {
  GroupOptions g;
  g.lr = o.lr;
  g.momentum = o.momentum;
  g.dampening = o.dampening;
  g.weight_decay = o.weight_decay;
  g.nesterov = o.nesterov;
  return g;
}

SGD::SGD(nn::Module& module, SGDOptions opts) : Optimizer(&module, one_group(module.parameters(), opts)) {}
SGD::SGD(std::vector<Tensor> params, SGDOptions opts) : Optimizer(nullptr, one_group(std::move(params), opts)) {}
SGD::SGD(std::vector<ParamGroup> groups, nn::Module* module)
    : Optimizer(module, checked(std::move(groups))) {}

bool SGD::any_momentum() const {
  for (size_t g = 0; g < store_->num_groups(); ++g)
    if (store_->options(g).momentum != 0) return true;
  return false;
}

void SGD::update() {
  ParamStore& s = *store_;
  const Device dev = s.device();
  float* buf0 = any_momentum() ? s.slot(kMomentum).data<float>() : nullptr;
  for (size_t g = 0; g < s.num_groups(); ++g) {
    const ParamStore::GroupRange r = s.range(g);
    if (r.trainable == 0) continue;
    const GroupOptions& o = s.options(g);
    const kernels::SgdParams h{static_cast<float>(o.momentum), static_cast<float>(o.dampening),
                               static_cast<float>(o.weight_decay), o.nesterov};
    float* param = s.master().data<float>() + r.weight_offset;
    const float* grad = s.grads().data<float>() + r.grad_offset;
    float* buf = o.momentum != 0 ? buf0 + r.grad_offset : nullptr;
    GPUNET_DISPATCH("SGD.step", dev, sgd_step, r.trainable, h, group_scalars(g), step_count(), param, grad, buf);
  }
}

// PyTorch: momentum_buffer exists after the first step, for parameters of groups with momentum.
StateDict SGD::momentum_tensors() const {
  StateDict sd;
  if (!any_momentum()) return sd;
  for (size_t i = 0; i < store_->params().size(); ++i) {
    if (store_->options(store_->group_of(i)).momentum == 0) continue;
    Tensor v = store_->slot_view(kMomentum, i);
    if (v.defined()) sd.emplace_back("state." + std::to_string(i) + "." + kMomentum, v);
  }
  return sd;
}

StateDict SGD::state_tensors() const { return steps() > 0 ? momentum_tensors() : StateDict{}; }

std::map<std::string, std::string> SGD::state_scalars() const {
  const int64_t n = steps();
  return {{"optimizer", "sgd"}, {"optimizer.steps", std::to_string(n)},
          {"optimizer.momentum_initialised", n > 0 ? "1" : "0"}};
}

void SGD::load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) {
  auto it = scalars.find("optimizer");
  GPUNET_INPUT_CHECK(it != scalars.end() && it->second == "sgd", "the training state was saved by optimizer '",
                     it == scalars.end() ? std::string("?") : it->second, "', not sgd; resume with the same --optimizer");
  auto st = scalars.find("optimizer.steps");
  GPUNET_INPUT_CHECK(st != scalars.end(), "the training state has no optimizer.steps");
  auto init = scalars.find("optimizer.momentum_initialised");
  const bool initialised = init != scalars.end() && init->second == "1";
  const int64_t n = std::stoll(st->second);
  // The momentum buffers exist exactly when a step ran (the device step count decides the first step).
  GPUNET_INPUT_CHECK(initialised == (n > 0), "the training state's optimizer.momentum_initialised (",
                     initialised ? 1 : 0, ") does not match its optimizer.steps (", n, ")");
  if (initialised) {
    const StateDict mine = momentum_tensors();
    for (const auto& [name, dst] : mine) {
      const Tensor* src = state_dict_find(tensors, name);
      GPUNET_INPUT_CHECK(src, "the training state has no tensor '", name, "'");
      GPUNET_INPUT_CHECK(src->shape() == dst.shape(), "the training state's '", name, "' has shape ",
                         shape_str(src->shape()), ", expected ", shape_str(dst.shape()));
    }
    for (const auto& [name, dst] : mine) {
      Tensor d = dst;
      d.copy_(*state_dict_find(tensors, name));
    }
  }
  set_steps(n);
}

}  // namespace gpunet::optim
