// The recipe registry and the numbers a run derives from a recipe, computed as the recipe's
// reference program computes them (see include/gpunet/train/recipe.h).
#include "gpunet/train/recipe.h"

#include <cmath>
#include <vector>

#include "gpunet/error.h"
#include "recipes/recipes.h"

namespace gpunet::train {
namespace {

const std::vector<Recipe>& all() {
  static const std::vector<Recipe> list = {recipes::airbench94(), recipes::airbench94_muon()};
  return list;
}

// numpy.interp(x, xp, fp) for non-decreasing xp: the last j with xp[j] <= x; fp[j] when x equals
// it (or j is the last point), else the line from (xp[j], fp[j]) to (xp[j+1], fp[j+1]).
double interp(double x, const std::vector<double>& xp, const std::vector<double>& fp) {
  if (x < xp.front()) return fp.front();
  size_t j = 0;
  while (j + 1 < xp.size() && xp[j + 1] <= x) ++j;
  if (j + 1 == xp.size() || x == xp[j]) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return slope * (x - xp[j]) + fp[j];
}

}  // namespace

const Recipe& recipe(const std::string& name) {
  for (const Recipe& r : all())
    if (r.name == name) return r;
  throw InputError("unknown recipe '" + name + "'; known recipes: " + known_recipes());
}

const Recipe* recipe_for_model(const std::string& model) {
  for (const Recipe& r : all())
    if (r.model == model) return &r;
  return nullptr;
}

std::string known_recipes() {
  std::string s;
  for (const Recipe& r : all()) s += (s.empty() ? "" : ", ") + r.name;
  return s;
}

int64_t steps_per_epoch(const Recipe& r, int64_t n, int64_t batch_size) {
  GPUNET_INPUT_CHECK(batch_size >= 1 && n >= batch_size, "recipe ", r.name, ": batch size ", batch_size,
                     " needs at least that many training images, got ", n);
  return r.drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

int64_t total_steps(const Recipe& r, int64_t n, int64_t batch_size, double epochs) {
  GPUNET_INPUT_CHECK(std::isfinite(epochs) && epochs > 0, "recipe ", r.name, ": epochs must be > 0, got ", epochs);
  // math.ceil(steps_per_epoch * epochs) in double, as the reference.
  return static_cast<int64_t>(std::ceil(static_cast<double>(steps_per_epoch(r, n, batch_size)) * epochs));
}

std::vector<double> lr_factors(const Recipe& r, int64_t total) {
  GPUNET_INPUT_CHECK(total >= 1, "recipe ", r.name, ": total steps must be >= 1, got ", total);
  const double warm = std::floor(r.lr_warmup * static_cast<double>(total));  // Python's int() of a positive
  const std::vector<double> xp = {0.0, warm, static_cast<double>(total)}, fp = {r.lr_start, 1.0, r.lr_end};
  std::vector<double> f(static_cast<size_t>(total) + 1);
  for (int64_t t = 0; t <= total; ++t) f[static_cast<size_t>(t)] = interp(static_cast<double>(t), xp, fp);
  return f;
}

optim::Schedule lr_schedule(const Recipe& r, int64_t total) {
  GPUNET_INPUT_CHECK(total >= 1, "recipe ", r.name, ": total steps must be >= 1, got ", total);
  const double warm = std::floor(r.lr_warmup * static_cast<double>(total)), T = static_cast<double>(total);
  // numpy.interp over [0, warm, T]; with warm 0 the first point is shadowed by the second (numpy
  // takes the last point at x), so the schedule starts at 1.
  if (warm <= 0) return optim::Schedule::piecewise({{0.0, 1.0}, {T, r.lr_end}});
  if (warm >= T) return optim::Schedule::piecewise({{0.0, r.lr_start}, {T, 1.0}});
  return optim::Schedule::piecewise({{0.0, r.lr_start}, {warm, 1.0}, {T, r.lr_end}});
}

optim::Schedule group_lr_schedule(const Recipe& r, size_t group, int64_t total, int64_t steps_per_epoch) {
  GPUNET_INPUT_CHECK(group < r.groups.size(), "recipe ", r.name, ": no parameter group ", group);
  if (!r.groups[group].lr_over_frozen_span) return lr_schedule(r, total);
  GPUNET_INPUT_CHECK(!r.frozen_after_name.empty() && r.frozen_after_epochs >= 1 && steps_per_epoch >= 1, "recipe ",
                     r.name, ": the group '", r.groups[group].label,
                     "' schedules its lr over the frozen-after span, but the recipe freezes nothing after an epoch");
  return lr_schedule(r, r.frozen_after_epochs * steps_per_epoch);
}

std::vector<GroupNumbers> group_numbers(const Recipe& r, int64_t batch_size) {
  const double wd = r.decay_scale * static_cast<double>(batch_size) / r.decay_divisor;
  std::vector<GroupNumbers> out;
  for (const RecipeGroup& g : r.groups) {
    const bool muon = g.optimizer == GroupOptimizer::Muon;
    GroupNumbers n;
    n.lr = g.lr > 0 ? g.lr : (muon ? r.muon.lr : r.lr) * g.lr_scale;
    n.weight_decay = g.weight_decay && !muon && n.lr > 0 ? wd / n.lr : 0.0;
    n.momentum = muon ? r.muon.momentum : r.momentum;
    n.nesterov = muon ? r.muon.nesterov : r.nesterov;
    out.push_back(n);
  }
  return out;
}

}  // namespace gpunet::train
