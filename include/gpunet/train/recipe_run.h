#pragma once
/// Runs a training recipe (recipe.h) end to end, as its reference program does, on any device:
/// the whitening from the data (unless the weights came with one), the parameter groups, per
/// step the scheduled lr, forward, the recipe's loss, backward, SGD, the lookahead every k steps;
/// the frozen-after parameters frozen at their epoch; after the last planned step net <- ema and
/// the final test accuracy with the recipe's test-time augmentation. Shared by `gpunet train
/// --recipe` and the tests.
///   auto r = gpunet::train::recipe("airbench94");
///   auto net = gpunet::models::make_model(r.model, gen);      // an Airbench94
///   gpunet::train::RecipeResult res = gpunet::train::run_recipe(r, *net, train, test, {});
/// The lr follows the recipe's factors through Optimizer::set_schedule (a device-side table that
/// the step advances itself); the lookahead's decay is written from the host every k steps.
#include <cstdint>
#include <functional>
#include <memory>

#include "gpunet/data/dataset.h"
#include "gpunet/device.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/nn/module.h"
#include "gpunet/tensor.h"
#include "gpunet/train/recipe.h"

namespace gpunet::train {

/// What one finished epoch did (loss and accuracy over its steps; the lr of its last step).
struct EpochStats {
  int64_t epoch = 0, steps = 0, images = 0;
  double train_loss = 0;  ///< mean per image (the summed batch losses / images)
  double train_accuracy = 0, lr = 0, seconds = 0;  ///< seconds: the epoch's training only
  double val_accuracy = -1;  ///< on the test set without TTA at the epoch's end (-1: not evaluated)
  double val_seconds = 0;    ///< that evaluation's time, outside the training time (as the reference)
};

struct RecipeRunOptions {
  Device device = Device::cpu();
  uint64_t seed = 0;          ///< the loader's shuffling and augmentation
  int64_t batch_size = 0;     ///< 0: the recipe's (a negative one is an InputError)
  double epochs = 0;          ///< 0: the recipe's (fractional allowed; a negative one is an InputError)
  int64_t max_steps = 0;      ///< stop after this many steps (0: all); the schedules still span
                              ///< the planned run, and a stopped run skips the final ema copy
                              ///< and the test
  bool augment = true, shuffle = true, tta = true;
  bool whiten_from_data = true;  ///< false: keep the net's whitening (weights from a file)
  bool validate_each_epoch = true;  ///< test accuracy (no TTA) after each whole epoch, when a test set is given
  bool initialise_only = false;  ///< the whitening (when from data) and nothing else: no step, no test
  /// Checkpoints: the whole training state (net, optimizer with its step count, i.e. the
  /// schedule's position, the lookahead's ema, the loop's epoch and batch: the augmentation's
  /// random position) handed to `on_checkpoint` every `checkpoint_every` steps (0: not by
  /// count), at each epoch's end, after a max_steps stop and before a `stop` request returns.
  int64_t checkpoint_every = 0;
  std::function<void(const io::TrainState&)> on_checkpoint;
  /// Asked after every step; true ends the run there (RecipeResult::interrupted).
  std::function<bool()> stop;
  /// A state from on_checkpoint to continue from, exactly (bitwise on the CPU): the same recipe,
  /// batch, planned steps, seed, augment and shuffle (InputError otherwise). No whitening then.
  const io::TrainState* resume = nullptr;
  /// Called after every epoch (and after a --max-steps stop mid-epoch).
  std::function<void(const EpochStats&)> on_epoch;
  /// Called after every step with the step's summed loss (reads it: synchronises). Optional.
  std::function<void(int64_t step, double loss)> on_step;
};

struct RecipeResult {
  int64_t steps = 0, total_steps = 0;
  bool completed = false;  ///< the planned run finished (ema copied back, test run)
  bool interrupted = false;  ///< RecipeRunOptions::stop ended it
  int64_t resumed_at = 0;    ///< the step a resumed run started from
  double whiten_seconds = 0, data_seconds = 0, loop_seconds = 0;
  double train_seconds = 0;   ///< whitening + data preparation + training, as the reference's
  double eval_seconds = 0;    ///< the final test
  double val_seconds = 0;     ///< the per-epoch validations, in neither of the above
  double images_per_second = 0;  ///< over the steps after the first
  double last_loss_sum = 0;      ///< the last step's summed loss
  double test_accuracy = -1;     ///< without TTA (-1: not evaluated)
  double tta_accuracy = -1;      ///< with the recipe's TTA (-1: not evaluated or --no-tta)
};

/// Trains `net` (the recipe's model, on o.device) on `train` by `r`, then evaluates it on `test`
/// when the planned run completed. Requires the model to be the recipe's (an Airbench94 for the
/// whitening), train with at least one batch, epochs > 0; throws InputError otherwise.
RecipeResult run_recipe(const Recipe& r, nn::Module& net, std::shared_ptr<const data::ImageDataset> train,
                        std::shared_ptr<const data::ImageDataset> test, const RecipeRunOptions& o);

/// One view of x (N, C, H, W) as `v` says: reflect-pad by v.pad, crop H x W at (v.dy, v.dx), then
/// the horizontal flip when v.flip (torch's F.pad(x, (p,)*4, mode="reflect")[..., dy:dy+H,
/// dx:dx+W], then .flip(-1)). Exact copies, on x's device. Requires v.pad < H, W and
/// 0 <= dy, dx <= 2 pad.
Tensor tta_view(const Tensor& x, const TtaView& v);
/// The weighted sum of the model's logits over `views` (no autograd; eval mode is the caller's).
Tensor tta_logits(nn::Module& net, const Tensor& x, const std::vector<TtaView>& views);
/// Test accuracy of `net` (eval mode during, restored after) with the recipe's normalisation,
/// in file order, batches of `batch_size`; with the recipe's TTA when `tta`.
double recipe_accuracy(const Recipe& r, nn::Module& net, std::shared_ptr<const data::ImageDataset> test, Device device,
                       bool tta, int64_t batch_size = 2000);

}  // namespace gpunet::train
