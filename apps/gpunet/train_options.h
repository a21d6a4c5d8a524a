#pragma once
// The flags of `gpunet train`, their checks, and the run settings a checkpoint records.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "gpunet/models/registry.h"

namespace gpunet::cli {

struct TrainOptions {
  std::string data, device, model = models::registry().default_name(), optimizer = "sgd";
  int epochs = 10;
  double epochs_value = 10;  // --epochs as given (fractional with --recipe); `epochs` is its whole part
  int64_t batch_size = 4;
  double lr = 0.001, momentum = 0.9, weight_decay = 0.0;
  bool nesterov = false, no_shuffle = false, quiet = false;
  uint64_t seed = 0;
  int64_t max_steps = 0, log_every = 2000, checkpoint_every = 0;
  int threads = 0;
  std::string init, save, checkpoint, resume, metrics;
  std::string tensorboard;  // --tensorboard DIR: TensorBoard event files (train_tensorboard.cpp)
  std::string precision = "fp32";   // --precision: fp32, or bf16 on the CPU (gpunet/autocast.h)
  std::string cuda_graph = "auto";  // parse_graph_mode (common.h): capture the step as a CUDA graph
  std::string lr_schedule = "none";  // optim::Schedule::parse's grammar
  int64_t schedule_steps = 0;        // the schedule's length: recorded in checkpoints; 0 = the planned steps
  // --recipe NAME (train_recipe.cpp): the recipe's run; flags given on the command line override
  std::string recipe;
  bool no_augment = false, no_tta = false;
  // image folders (image_data.h): --image-size, --val-split, --mean/--std, --skip-bad-images, --cache
  int image_size = 32;
  double val_split = 0.1;
  std::string mean, std_dev, cache;
  bool skip_bad_images = false;
  // data parallel (train_dist.cpp): set from the launcher, not flags; --bucket-mb, --no-overlap
  int world_size = 1, world_rank = 0;
  double bucket_mb = 25;
  bool no_overlap = false;
  bool sync_bn = false;  // --sync-bn: BatchNorm statistics over every process (torch's SyncBatchNorm)
  std::set<std::string> given;  // the long names of the flags given on the command line ("--seed")
};

/// A double as a user wrote it ("0.03", "-1"), for messages.
std::string fmt_number(double v);

void add_train_flags(CLI::App& cmd, TrainOptions& o);
/// --bucket-mb, --no-overlap, --sync-bn: data parallel runs under mpirun (train_dist.cpp).
void add_dist_flags(CLI::App& cmd, TrainOptions& o);
/// --recipe, --no-augment, --no-tta (train_recipe.cpp).
void add_recipe_flags(CLI::App& cmd, TrainOptions& o);
/// Throws InputError with the flag, the bad value and the allowed range.
void validate(const TrainOptions& o);
/// What a training checkpoint records about the run (strings).
std::map<std::string, std::string> run_settings(const TrainOptions& o);
/// Adopts the recorded run settings (batch size, seed, shuffle, optimizer and its
/// hyper-parameters, model, epochs unless given), so that a resumed run continues exactly.
void apply_resume_settings(const std::map<std::string, std::string>& scalars, TrainOptions& o);

int run_train(const TrainOptions& o);
/// `gpunet train --recipe NAME` (train_recipe.cpp).
int run_train_recipe(const TrainOptions& o);

}  // namespace gpunet::cli
