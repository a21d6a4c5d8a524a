#pragma once
/// Training recipes as data: a recipe names the model, the data (normalisation, augmentation),
/// the batch and the planned length, the optimizer's parameter groups, the loss, the schedules
/// (lr factor, lookahead, frozen-after parameters) and the test-time augmentation. Each value is
/// a field a user can read in src/train/recipes/<name>.cpp; the numbers a run uses (steps, group
/// lrs and decays, the lr factor of each step) are derived by the functions below, the same way
/// the recipe's reference program derives them.
///   const auto& r = gpunet::train::recipe("airbench94");   // InputError listing the known ones
///   int64_t T = gpunet::train::total_steps(r, 50000, r.batch_size, r.epochs);  // 476
///   auto f = gpunet::train::lr_factors(r, T);               // f[t]: the lr factor of step t
#include <cstdint>
#include <string>
#include <vector>

#include "gpunet/data/transforms.h"
#include "gpunet/data/whitening.h"
#include "gpunet/optim/muon.h"
#include "gpunet/optim/schedule.h"

namespace gpunet::train {

/// Which optimizer updates a group's parameters.
enum class GroupOptimizer {
  SGD,   ///< torch.optim.SGD with the recipe's momentum and nesterov
  Muon,  ///< optim::Muon with the recipe's `muon` settings (matrices and filter banks only)
};

/// One parameter group: the parameters whose state_dict name contains `name_contains` (and are
/// trainable), its optimizer, its lr, and whether it gets weight decay.
struct RecipeGroup {
  std::string label;          ///< for messages: "norm biases"
  std::string name_contains;  ///< "" matches every parameter no earlier group took
  double lr_scale = 1.0;      ///< the group's lr = (SGD: lr, Muon: muon.lr) x lr_scale ...
  double lr = 0.0;            ///< ... unless this is > 0: then the group's lr as it is
  bool weight_decay = true;   ///< false: none (a Muon group never has weight decay)
  GroupOptimizer optimizer = GroupOptimizer::SGD;
  /// The lr factor (lr_start/warmup/end) spans the frozen_after parameters' training, the first
  /// frozen_after_epochs x steps-per-epoch steps, instead of the whole run (the Muon record's
  /// whitening bias: 1 - step / its training steps).
  bool lr_over_frozen_span = false;
};

/// A view of the test-time augmentation: reflect-pad by `pad`, crop the image size back at
/// (dy, dx), flip horizontally when `flip`; its logits are weighted by `weight`.
struct TtaView {
  int pad = 0, dy = 0, dx = 0;
  bool flip = false;
  double weight = 1.0;
};

struct Recipe {
  std::string name, description;
  std::string model;  ///< a registry name ("airbench94")
  // ---- data
  data::Transforms transforms;      ///< normalisation + augmentation of the training batches
  data::WhiteningOptions whitening;  ///< the whitening conv from the data (before training)
  int64_t batch_size = 1024;
  double epochs = 1.0;  ///< fractional allowed: steps = ceil(floor(n / batch) x epochs)
  bool drop_last = true;
  // ---- optimizers: SGD for the SGD groups, Muon for the Muon groups (both stepped every step)
  double momentum = 0.0;          ///< SGD's
  bool nesterov = false;          ///< SGD's
  double lr = 0.0;                ///< the SGD groups' base lr (groups scale it)
  /// The reference's wd = decay_scale x batch_size / decay_divisor (in that order), passed to
  /// each group with weight decay as weight_decay = wd / (the group's lr): lr x weight_decay = wd.
  double decay_scale = 0.0, decay_divisor = 1.0;
  /// The Muon groups' settings: lr (their base lr), momentum, nesterov, Newton-Schulz steps,
  /// eps, the weight normalisation, ns_bf16. Unused without a Muon group.
  optim::MuonOptions muon;
  std::vector<RecipeGroup> groups;
  // ---- loss: cross-entropy with label smoothing, summed (or mean) over the batch
  double label_smoothing = 0.0;
  bool loss_sum = false;
  // ---- lr factor: `start` at step 0, linear to 1 at step int(warmup x T), linear to `end` at T
  double lr_start = 1.0, lr_warmup = 0.0, lr_end = 1.0;
  // ---- parameters trained for the first epochs only (then requires_grad false)
  std::string frozen_after_name;  ///< state_dict name ("whiten.bias"); "" for none
  int64_t frozen_after_epochs = 0;
  // ---- lookahead: every `lookahead_every` steps, decay base^every x (step / T)^power;
  //      net <- ema after the last planned step. 0: none.
  int lookahead_every = 0;
  double lookahead_base = 0.95;
  // ---- evaluation: the views whose weighted logits give the final test accuracy
  std::vector<TtaView> tta;
};

/// The recipe called `name`; InputError "unknown recipe 'x'; known recipes: airbench94,
/// airbench94_muon" otherwise.
const Recipe& recipe(const std::string& name);
/// The known recipe names, comma-separated ("airbench94, airbench94_muon").
std::string known_recipes();
/// The first recipe that trains the registry model `model` (its normalisation and TTA are the
/// ones `eval` and `predict` use for that model), or nullptr when no recipe trains it.
///   if (const Recipe* r = recipe_for_model("airbench94")) t = r->transforms.without_augmentation();
const Recipe* recipe_for_model(const std::string& model);

/// Planned optimizer steps: ceil(floor(n / batch) x epochs) with drop_last (else ceil(n / batch)
/// per epoch). Requires n >= batch >= 1 and epochs > 0 (InputError otherwise).
int64_t total_steps(const Recipe& r, int64_t n, int64_t batch_size, double epochs);
/// Batches per epoch: floor(n / batch) with drop_last, else ceil.
int64_t steps_per_epoch(const Recipe& r, int64_t n, int64_t batch_size);
/// The lr factor of each step t = 0..T (T + 1 values), numpy.interp over
/// [0, int(lr_warmup x T), T] -> [lr_start, 1, lr_end], in double.
std::vector<double> lr_factors(const Recipe& r, int64_t total);

/// The same factors as an optim::Schedule (piecewise, numpy.interp), whose table the optimizer
/// keeps on the device and steps through by itself: row t = base lr x lr_factors(r, T)[t].
/// The schedule's breakpoints span `total` steps; after them the last factor holds.
optim::Schedule lr_schedule(const Recipe& r, int64_t total);
/// Group `group`'s schedule: lr_schedule(r, total), or, for a group with lr_over_frozen_span,
/// lr_schedule(r, frozen_after_epochs x steps_per_epoch).
optim::Schedule group_lr_schedule(const Recipe& r, size_t group, int64_t total, int64_t steps_per_epoch);

/// One group's numbers as the reference computes them.
struct GroupNumbers {
  double lr = 0, weight_decay = 0;  ///< weight_decay as passed to SGD (the reference's wd / lr)
  double momentum = 0;              ///< SGD's momentum or Muon's
  bool nesterov = false;
};
/// Per recipe group, at batch size `batch_size`.
std::vector<GroupNumbers> group_numbers(const Recipe& r, int64_t batch_size);

}  // namespace gpunet::train
