#pragma once
// `gpunet train --tensorboard DIR` (train_tensorboard.cpp): the writer and what the recipe path
// logs. The LeNet/generic path logs through LossLog (train_report.cpp).
//   tags: train/loss (the printed loss), train/lr, train/images_per_second, train/accuracy,
//         test/accuracy, test/final_accuracy (+ test/accuracy_no_tta for recipes), hparams (text)
#include <cstdint>
#include <map>
#include <string>

#include "gpunet/io/tensorboard.h"
#include "gpunet/train/recipe_run.h"
#include "train_options.h"

namespace gpunet::cli {

/// The event writer for --tensorboard (disabled without the flag). Throws InputError, before any
/// training, when the folder cannot be written. Only this process writes: a distributed run
/// calls it on rank 0 and gives the other ranks io::EventWriter().
io::EventWriter open_tensorboard(const TrainOptions& o);
/// The hyper-parameters `settings` as a markdown table (the "hparams" text summary).
std::string hparams_markdown(const std::map<std::string, std::string>& settings);

/// A recipe run's settings for the "hparams" text (the recipe's numbers and the overrides).
std::map<std::string, std::string> recipe_hparams(const ::gpunet::train::Recipe& r, const TrainOptions& o,
                                                  int64_t batch, int64_t total_steps);
/// One recipe epoch: train/loss (the printed train_loss), train/accuracy, train/lr at `step`;
/// flushed.
void tb_epoch(io::EventWriter& tb, const ::gpunet::train::EpochStats& st, int64_t step);
/// The end of a recipe run: train/images_per_second and, when the run completed,
/// test/final_accuracy (with TTA when it ran) and test/accuracy_no_tta; flushed.
void tb_final(io::EventWriter& tb, const ::gpunet::train::RecipeResult& res);

}  // namespace gpunet::cli
