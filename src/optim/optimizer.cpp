// The optimizer base: the parameter store, the device scalars, the step count, checkpoint slots.
#include "gpunet/optim/optimizer.h"

#include <algorithm>
#include <cmath>

#include "kernels/optim.h"
#include "ops/dispatch.h"

namespace gpunet::optim {
namespace {

// With a module, a parameter in two groups is named as the state dict names it ("fc1.weight");
// the store itself can only say "group g, parameter i".
std::vector<ParamGroup> check_named(const nn::Module* module, std::vector<ParamGroup> groups) {
  if (!module) return groups;
  const StateDict named = module->named_parameters();
  auto name_of = [&](const Tensor& t) -> std::string {
    for (const auto& [n, p] : named)
      if (p.is_same(t)) return n;
    return "";
  };
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size(); ++i)
      for (size_t h = 0; h <= g; ++h)
        for (size_t j = 0; j < (h == g ? i : groups[h].params.size()); ++j) {
          const Tensor& p = groups[g].params[i];
          if (!p.defined() || !p.is_same(groups[h].params[j])) continue;
          const std::string name = name_of(p);
          GPUNET_INPUT_CHECK(name.empty(), "optimizer: parameter '", name, "' is in group ", h, " and in group ", g,
                             "; a parameter may appear in only one parameter group");
        }
  return groups;
}

}  // namespace

Optimizer::Optimizer(nn::Module* module, std::vector<ParamGroup> groups)
    : store_(std::make_shared<ParamStore>(check_named(module, std::move(groups)))) {
  if (module) module->attach_param_store(store_);
  const size_t G = store_->num_groups();
  std::vector<double> init(static_cast<size_t>(kernels::group_scalars_offset(static_cast<int64_t>(G))), 1.0);
  init[0] = 0.0;  // no step yet
  for (size_t g = 0; g < G; ++g) init[kernels::group_scalars_offset(static_cast<int64_t>(g))] = store_->options(g).lr;
  scalars_ = Tensor::from_vector(init, {static_cast<int64_t>(init.size())}, store_->device());
}

void Optimizer::sync_device() {
  store_->sync_layout();
  if (scalars_.device() != store_->device()) scalars_ = scalars_.to(store_->device());
  if (table_.defined() && table_.device() != store_->device()) table_ = table_.to(store_->device());
}

void Optimizer::step() {
  sync_device();
  update();
  GPUNET_DISPATCH("optimizer.step", scalars_.device(), optim_count_step, step_count());
  refresh_lr();  // the next step's lr, in stream order
}

void Optimizer::refresh_lr() {
  if (!table_.defined()) return;
  GPUNET_DISPATCH("optimizer.schedule", scalars_.device(), optim_schedule_lr, table_.data<double>(), table_.size(0),
                  table_.size(1), scalars_.data<double>());
}

void Optimizer::set_schedule(const Schedule& schedule, int64_t total_steps) {
  const size_t G = store_->num_groups();
  std::vector<double> base(G);
  for (size_t g = 0; g < G; ++g) base[g] = store_->options(g).lr;
  const std::vector<double> table = schedule.table(total_steps, base);  // checks total_steps
  sync_device();
  table_ = Tensor::from_vector(table, {total_steps, static_cast<int64_t>(G)}, store_->device());
  refresh_lr();
}

void Optimizer::set_schedule(const std::vector<Schedule>& per_group, int64_t total_steps) {
  const size_t G = store_->num_groups();
  GPUNET_INPUT_CHECK(per_group.size() == G, "set_schedule: ", per_group.size(), " schedules for ", G,
                     " parameter groups (one per group)");
  std::vector<double> table(static_cast<size_t>(std::max<int64_t>(total_steps, 0)) * G);
  for (size_t g = 0; g < G; ++g) {
    const std::vector<double> col = per_group[g].table(total_steps, {store_->options(g).lr});  // checks total_steps
    for (size_t t = 0; t < col.size(); ++t) table[t * G + g] = col[t];
  }
  sync_device();
  table_ = Tensor::from_vector(table, {total_steps, static_cast<int64_t>(G)}, store_->device());
  refresh_lr();
}

void Optimizer::clear_schedule() {
  table_ = Tensor();
  for (size_t g = 0; g < store_->num_groups(); ++g) set_lr(g, store_->options(g).lr);
}

double Optimizer::current_lr(size_t group) const {
  GPUNET_INPUT_CHECK(group < store_->num_groups(), "current_lr: no parameter group ", group, " (there are ",
                     store_->num_groups(), ")");
  return scalars_.narrow(0, kernels::group_scalars_offset(static_cast<int64_t>(group)), 1).item();
}

double* Optimizer::group_scalars(size_t g) const {
  GPUNET_CHECK(g < store_->num_groups(), "optimizer: no parameter group ", g, " (there are ", store_->num_groups(), ")");
  return scalars_.data<double>() + kernels::group_scalars_offset(static_cast<int64_t>(g));
}

double* Optimizer::step_count() const { return scalars_.data<double>(); }

void Optimizer::set_lr(size_t group, double lr) {
  GPUNET_INPUT_CHECK(group < store_->num_groups(), "set_lr: no parameter group ", group, " (there are ",
                     store_->num_groups(), ")");
  GPUNET_INPUT_CHECK(std::isfinite(lr) && lr >= 0, "set_lr: invalid learning rate ", lr, " (must be >= 0)");
  GPUNET_INPUT_CHECK(!table_.defined(), "set_lr: a learning-rate schedule is attached; clear_schedule() first");
  store_->options(group).lr = lr;
  const int64_t at = kernels::group_scalars_offset(static_cast<int64_t>(group));
  scalars_.narrow(0, at, 1).copy_(Tensor::from_vector<double>({lr}, {1}));
}

int64_t Optimizer::steps() const { return static_cast<int64_t>(scalars_.narrow(0, 0, 1).item()); }

void Optimizer::set_steps(int64_t steps) {
  GPUNET_INPUT_CHECK(steps >= 0, "optimizer: invalid step count ", steps);
  scalars_.narrow(0, 0, 1).copy_(Tensor::from_vector<double>({static_cast<double>(steps)}, {1}));
  refresh_lr();
}

StateDict Optimizer::slot_tensors(const std::vector<std::string>& slots) const {
  StateDict sd;
  for (size_t i = 0; i < store_->params().size(); ++i)
    for (const auto& s : slots) {
      Tensor v = store_->slot_view(s, i);
      if (v.defined()) sd.emplace_back("state." + std::to_string(i) + "." + s, v);
    }
  return sd;
}

void Optimizer::load_slots(const StateDict& tensors, const std::vector<std::string>& slots) {
  const StateDict mine = slot_tensors(slots);
  for (const auto& [name, dst] : mine) {  // check everything, then copy
    const Tensor* src = state_dict_find(tensors, name);
    GPUNET_INPUT_CHECK(src, "the training state has no tensor '", name, "'");
    GPUNET_INPUT_CHECK(src->shape() == dst.shape(), "the training state's '", name, "' has shape ",
                       shape_str(src->shape()), ", expected ", shape_str(dst.shape()));
    GPUNET_INPUT_CHECK(src->dtype() == dst.dtype(), "the training state's '", name, "' has dtype ",
                       dtype_name(src->dtype()), ", expected ", dtype_name(dst.dtype()));
  }
  for (const auto& [name, dst] : mine) {
    Tensor d = dst;
    d.copy_(*state_dict_find(tensors, name));
  }
}

}  // namespace gpunet::optim
