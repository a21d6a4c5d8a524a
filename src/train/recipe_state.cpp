// A recipe run's checkpoint state (recipe_state.h).
#include "recipe_state.h"

#include <cstdio>
#include <map>
#include <string>

#include "gpunet/error.h"

namespace gpunet::train::detail {
namespace {

const char* const kEma = "lookahead.";

std::string get(const io::TrainState& st, const std::string& key) {
  auto it = st.scalars.find(key);
  GPUNET_INPUT_CHECK(it != st.scalars.end(), "--resume: the training state has no '", key,
                     "'; was it written by gpunet train --recipe?");
  return it->second;
}

int64_t get_int(const io::TrainState& st, const std::string& key) {
  const std::string v = get(st, key);
  try {
    size_t used = 0;
    const long long x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw InputError("--resume: the training state's '" + key + "' is '" + v + "', not a whole number; the file is corrupt");
}

}  // namespace

io::TrainState recipe_state(const RecipePlan& plan, const RecipePosition& at, nn::Module& net,
                            const std::vector<NamedOptimizer>& opts, const optim::Lookahead* lookahead) {
  io::TrainState st;
  for (auto& [name, t] : net.state_dict()) st.model.emplace_back(name, t.to(Device::cpu()).clone());
  for (const NamedOptimizer& o : opts) {
    for (auto& [name, t] : o.opt->state_tensors()) st.optimizer.emplace_back(o.prefix + name, t.to(Device::cpu()).clone());
    for (auto& [key, v] : o.opt->state_scalars()) st.scalars[o.prefix + key] = v;
  }
  if (lookahead)
    for (auto& [name, t] : lookahead->ema()) st.optimizer.emplace_back(kEma + name, t.to(Device::cpu()).clone());
  st.scalars["recipe"] = plan.recipe;
  st.scalars["recipe.batch_size"] = std::to_string(plan.batch_size);
  st.scalars["recipe.total_steps"] = std::to_string(plan.total_steps);
  st.scalars["recipe.seed"] = std::to_string(plan.seed);
  st.scalars["recipe.augment"] = plan.augment ? "1" : "0";
  st.scalars["recipe.shuffle"] = plan.shuffle ? "1" : "0";
  st.scalars["recipe.lookahead"] = lookahead ? "1" : "0";
  st.scalars["recipe.step"] = std::to_string(at.step);
  st.scalars["recipe.epoch"] = std::to_string(at.epoch);
  st.scalars["recipe.batch"] = std::to_string(at.batch);
  // The LeNet loop's names too, so `gpunet train --resume` tells the two kinds apart.
  st.scalars["step"] = std::to_string(at.step);
  return st;
}

RecipePosition recipe_position(const io::TrainState& st) {
  RecipePosition at{get_int(st, "recipe.step"), get_int(st, "recipe.epoch"), get_int(st, "recipe.batch")};
  GPUNET_INPUT_CHECK(at.step >= 0 && at.epoch >= 0 && at.batch >= 0,
                     "--resume: the training state's position is negative; the file is corrupt");
  return at;
}

void check_plan(const io::TrainState& st, const RecipePlan& plan) {
  auto same = [&](const std::string& key, const std::string& want, const std::string& flag) {
    const std::string have = get(st, key);
    GPUNET_INPUT_CHECK(have == want, "--resume: the training state was written with ", flag, " ", have,
                       ", this run has ", want, "; resume with the same settings");
  };
  same("recipe", plan.recipe, "--recipe");
  same("recipe.batch_size", std::to_string(plan.batch_size), "--batch-size");
  same("recipe.total_steps", std::to_string(plan.total_steps), "a planned step count (--epochs, data size) of");
  same("recipe.seed", std::to_string(plan.seed), "--seed");
  same("recipe.augment", plan.augment ? "1" : "0", "augmentation (--no-augment) =");
  same("recipe.shuffle", plan.shuffle ? "1" : "0", "shuffling (--no-shuffle) =");
}

void load_recipe_state(const io::TrainState& st, nn::Module& net, const std::vector<NamedOptimizer>& opts,
                       optim::Lookahead* lookahead) {
  net.load_state_dict(st.model, true);
  // Each optimizer's own entries: those under its prefix and under no other's longer prefix
  // (the SGD's prefix "" would otherwise also take the Muon's and the ema's).
  auto owner = [&](const std::string& name) -> const NamedOptimizer* {
    if (name.rfind(kEma, 0) == 0) return nullptr;
    const NamedOptimizer* best = nullptr;
    for (const NamedOptimizer& o : opts)
      if (name.rfind(o.prefix, 0) == 0 && (!best || o.prefix.size() > best->prefix.size())) best = &o;
    return best;
  };
  for (const NamedOptimizer& o : opts) {
    StateDict tensors;
    for (const auto& [name, t] : st.optimizer)
      if (owner(name) == &o) tensors.emplace_back(name.substr(o.prefix.size()), t);
    std::map<std::string, std::string> scalars;
    for (const auto& [key, v] : st.scalars)
      if (key.rfind(o.prefix, 0) == 0) scalars[key.substr(o.prefix.size())] = v;
    o.opt->sync_device();  // the layout of the parameters trainable now
    o.opt->load_state(tensors, scalars);
  }
  GPUNET_INPUT_CHECK((get(st, "recipe.lookahead") == "1") == (lookahead != nullptr),
                     "--resume: the training state's lookahead does not match the recipe's");
  if (!lookahead) return;
  for (auto& [name, dst] : lookahead->ema()) {
    const Tensor* src = state_dict_find(st.optimizer, kEma + name);
    GPUNET_INPUT_CHECK(src != nullptr, "--resume: the training state has no lookahead ema of '", name, "'");
    GPUNET_INPUT_CHECK(src->shape() == dst.shape(), "--resume: the lookahead ema of '", name, "' has another shape");
    Tensor d = dst;
    d.copy_(*src);
  }
}

}  // namespace gpunet::train::detail
