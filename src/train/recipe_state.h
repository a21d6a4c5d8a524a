#pragma once
// A recipe run's training state for --checkpoint / --resume (recipe_run.h): the net, the
// optimizer (momentum buffers, step count: the schedule's position), the lookahead's ema and
// where the loop stands (epoch, batch within it: the loader's shuffling and augmentation are
// functions of the seed and that position), with the plan it belongs to.
#include <cstdint>
#include <string>
#include <vector>

#include "gpunet/io/checkpoint.h"
#include "gpunet/nn/module.h"
#include "gpunet/optim/lookahead.h"
#include "gpunet/optim/optimizer.h"
#include "gpunet/train/recipe_run.h"

namespace gpunet::train::detail {

// What a state must agree with to be resumed by a run.
struct RecipePlan {
  std::string recipe;
  int64_t batch_size = 0, total_steps = 0;
  uint64_t seed = 0;
  bool augment = true, shuffle = true;
};

// Where the loop stands: `step` steps done, the next batch is `batch` of epoch `epoch`.
struct RecipePosition {
  int64_t step = 0, epoch = 0, batch = 0;
};

// One of a run's optimizers, its tensors and scalars stored under `prefix` ("" for the SGD of
// every recipe, so that airbench94's states keep their names; "muon." for a recipe's Muon).
struct NamedOptimizer {
  std::string prefix;
  optim::Optimizer* opt = nullptr;
};

io::TrainState recipe_state(const RecipePlan& plan, const RecipePosition& at, nn::Module& net,
                            const std::vector<NamedOptimizer>& opts, const optim::Lookahead* lookahead);

// Checks that `st` belongs to `plan` (InputError naming the first difference), then loads the
// net's state (strict), the optimizer's and the ema; returns the position. Call it with the
// parameters' requires_grad as at that position (the optimizer's layout follows it).
RecipePosition recipe_position(const io::TrainState& st);
void check_plan(const io::TrainState& st, const RecipePlan& plan);
void load_recipe_state(const io::TrainState& st, nn::Module& net, const std::vector<NamedOptimizer>& opts,
                       optim::Lookahead* lookahead);

}  // namespace gpunet::train::detail
