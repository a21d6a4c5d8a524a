#include "gpunet/optim/adam.h"

#include <cmath>

#include "kernels/optim.h"
#include "ops/dispatch.h"

namespace gpunet::optim {
namespace {

const std::vector<std::string> kSlots = {"exp_avg", "exp_avg_sq"};

std::vector<ParamGroup> checked(std::vector<ParamGroup> groups) {
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupOptions& o = groups[g].options;
    GPUNET_INPUT_CHECK(std::isfinite(o.lr) && o.lr >= 0, "Adam: invalid learning rate ", o.lr, " in group ", g,
                       " (must be >= 0)");
    GPUNET_INPUT_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "Adam: betas must be in [0, 1), got ",
                       o.beta1, ", ", o.beta2, " in group ", g);
    GPUNET_INPUT_CHECK(std::isfinite(o.eps) && o.eps >= 0, "Adam: invalid eps ", o.eps, " in group ", g);
    GPUNET_INPUT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "Adam: invalid weight_decay ",
                       o.weight_decay, " in group ", g);
    GPUNET_INPUT_CHECK(o.decoupled_weight_decay == groups[0].options.decoupled_weight_decay,
                       "Adam: group ", g, " sets decoupled_weight_decay differently from group 0 (mixing Adam and AdamW)");
  }
  return groups;
}

std::vector<ParamGroup> one_group(std::vector<Tensor> params, const AdamOptions& o) {
  return checked({ParamGroup{std::move(params), adam_group(o)}});
}

}  // namespace

GroupOptions adam_group(const AdamOptions& o) {
  GroupOptions g;
  g.lr = o.lr;
  g.beta1 = o.beta1;
  g.beta2 = o.beta2;
  g.eps = o.eps;
  g.weight_decay = o.weight_decay;
  g.decoupled_weight_decay = o.decoupled_weight_decay;
  return g;
}

Adam::Adam(nn::Module& module, AdamOptions opts) : Optimizer(&module, one_group(module.parameters(), opts)) {
  for (const auto& s : kSlots) store_->slot(s);
}
Adam::Adam(std::vector<Tensor> params, AdamOptions opts) : Optimizer(nullptr, one_group(std::move(params), opts)) {
  for (const auto& s : kSlots) store_->slot(s);
}
Adam::Adam(std::vector<ParamGroup> groups, nn::Module* module)
    : Optimizer(module, checked(std::move(groups))) {
  for (const auto& s : kSlots) store_->slot(s);
}

std::string Adam::kind() const { return store_->options(0).decoupled_weight_decay ? "adamw" : "adam"; }

void Adam::update() {
  ParamStore& s = *store_;
  const Device dev = s.device();
  float* m = s.slot(kSlots[0]).data<float>();
  float* v = s.slot(kSlots[1]).data<float>();
  for (size_t g = 0; g < s.num_groups(); ++g) {
    const ParamStore::GroupRange r = s.range(g);
    if (r.trainable == 0) continue;
    const GroupOptions& o = s.options(g);
    const kernels::AdamParams h{static_cast<float>(o.beta1), static_cast<float>(o.beta2), static_cast<float>(o.eps),
                                static_cast<float>(o.weight_decay), o.decoupled_weight_decay};
    float* param = s.master().data<float>() + r.weight_offset;
    const float* grad = s.grads().data<float>() + r.grad_offset;
    // The bias corrections of this step, from the device step count (PyTorch: in double on the host).
    GPUNET_DISPATCH("Adam.step", dev, adam_bias_corrections, o.beta1, o.beta2, step_count(), group_scalars(g));
    GPUNET_DISPATCH("Adam.step", dev, adam_step, r.trainable, h, group_scalars(g), param, grad, m + r.grad_offset,
                    v + r.grad_offset);
  }
}

StateDict Adam::state_tensors() const { return slot_tensors(kSlots); }

std::map<std::string, std::string> Adam::state_scalars() const {
  return {{"optimizer", kind()}, {"optimizer.steps", std::to_string(steps())}};
}

void Adam::load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) {
  const std::string want = kind();
  auto it = scalars.find("optimizer");
  GPUNET_INPUT_CHECK(it != scalars.end() && it->second == want, "the training state was saved by optimizer '",
                     it == scalars.end() ? std::string("?") : it->second, "', not ", want,
                     "; resume with the same --optimizer");
  auto st = scalars.find("optimizer.steps");
  GPUNET_INPUT_CHECK(st != scalars.end(), "the training state has no optimizer.steps");
  load_slots(tensors, kSlots);
  set_steps(std::stoll(st->second));
}

}  // namespace gpunet::optim
