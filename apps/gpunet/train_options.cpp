#include "train_options.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "common.h"
#include "gpunet/error.h"
#include "gpunet/optim/schedule.h"

namespace gpunet::cli {

// A double as a user wrote it: "0.03", "-1", "2.5".
std::string fmt_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void add_train_flags(CLI::App& cmd, TrainOptions& o) {
  cmd.add_option("--data", o.data, "CIFAR-10 folder (default: $GPUNET_DATA, ./data/cifar-10-batches-bin, else the embedded sample)");
  cmd.add_option("--device", o.device, "cpu, cuda or cuda:N (default: cuda:0 when usable, else cpu)");
  cmd.add_option("--epochs", o.epochs_value, "passes over the training set (fractional with --recipe: 0.03)")->capture_default_str();
  cmd.add_option("--batch-size", o.batch_size, "images per step")->capture_default_str();
  cmd.add_option("--lr", o.lr, "learning rate")->capture_default_str();
  cmd.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str();
  cmd.add_option("--weight-decay", o.weight_decay, "L2 weight decay")->capture_default_str();
  cmd.add_flag("--nesterov", o.nesterov, "Nesterov momentum (SGD)");
  cmd.add_option("--optimizer", o.optimizer, "sgd, adam or adamw")->capture_default_str();
  cmd.add_option("--seed", o.seed, "seed of the initial weights and the shuffling")->capture_default_str();
  cmd.add_option("--max-steps", o.max_steps, "stop after N optimizer steps (0: no limit)");
  cmd.add_flag("--no-shuffle", o.no_shuffle, "visit the training set in file order");
  cmd.add_option("--threads", o.threads, "CPU threads (default: all cores)");
  cmd.add_option("--log-every", o.log_every, "print the running loss every N mini-batches")->capture_default_str();
  cmd.add_option("--init", o.init, "start from these weights (safetensors, PyTorch names)");
  cmd.add_option("--save", o.save, "write the final weights here (safetensors, loadable by PyTorch)");
  cmd.add_option("--checkpoint", o.checkpoint, "keep the full training state here (every epoch, --checkpoint-every, on interrupt)");
  cmd.add_option("--checkpoint-every", o.checkpoint_every, "also save the training state every N steps");
  cmd.add_option("--resume", o.resume, "continue exactly where this training state left off");
  cmd.add_option("--metrics", o.metrics, "write JSON lines (loss, images/s, test accuracy per epoch) here");
  cmd.add_option("--tensorboard", o.tensorboard,
                 "write TensorBoard event files to this folder (loss, lr, images/s, accuracies, hyper-parameters)");
  cmd.add_flag("--quiet", o.quiet, "print only the final accuracy and errors");
  cmd.add_option("--model", o.model, model_help(false))->capture_default_str();
  cmd.add_option("--cuda-graph", o.cuda_graph, graph_mode_help())->capture_default_str();
  cmd.add_option("--precision", o.precision,
                 "fp32, or bf16 on the CPU: conv2d and linear in bf16 with fp32 accumulation, the rest fp32")
      ->capture_default_str();
  cmd.add_option("--lr-schedule", o.lr_schedule,
                 "learning-rate schedule over --epochs x batches per epoch (--max-steps stops early without shortening it), "
                 "stepped per optimizer step, scaling --lr: none | step:SIZE:GAMMA (StepLR) | "
                 "cosine:WARMUP_STEPS[:MIN_FACTOR] (linear warmup, then cosine) | onecycle[:PCT_START] "
                 "(OneCycleLR, peak --lr) | piecewise:S0:F0,S1:F1,... (factor F at step S, numpy.interp)")
      ->capture_default_str();
  cmd.add_option("--image-size", o.image_size,
                 "image folders: images become NxN (Resize(N) + CenterCrop(N)); training adds RandomCrop(N, padding=N/8) "
                 "and a flip")
      ->capture_default_str();
  cmd.add_option("--val-split", o.val_split, "a folder of class folders: the share held out for validation (seeded by --seed)")
      ->capture_default_str();
  cmd.add_option("--mean", o.mean, "normalisation mean R,G,B (default: the dataset's, computed once and cached)");
  cmd.add_option("--std", o.std_dev, "normalisation std R,G,B (default: the dataset's)");
  cmd.add_flag("--skip-bad-images", o.skip_bad_images, "skip (and count) images that cannot be decoded instead of stopping");
  cmd.add_option("--cache", o.cache, "image folders: keep the decoded images in a memory-mapped file in DIR (sets larger than memory; later runs decode nothing) and the statistics there too");
  add_recipe_flags(cmd, o);  // train_recipe.cpp
  add_dist_flags(cmd, o);    // train_dist.cpp
}

void validate(const TrainOptions& o) {
  auto bad = [](const std::string& m) { throw InputError(m); };
  if (!(o.epochs_value >= 1) || o.epochs_value > 1e6 || o.epochs_value != std::floor(o.epochs_value))
    bad("--epochs " + fmt_number(o.epochs_value) + ": must be a whole number between 1 and 1000000 (fractional epochs need --recipe)");
  if (o.batch_size < 1 || o.batch_size > (1 << 20)) bad("--batch-size " + std::to_string(o.batch_size) + ": must be between 1 and 1048576");
  if (!std::isfinite(o.lr) || o.lr <= 0) bad("--lr " + std::to_string(o.lr) + ": must be a positive finite number (the seed uses 0.001)");
  if (!std::isfinite(o.momentum) || o.momentum < 0 || o.momentum >= 1) bad("--momentum " + std::to_string(o.momentum) + ": must be in [0, 1)");
  if (!std::isfinite(o.weight_decay) || o.weight_decay < 0) bad("--weight-decay " + std::to_string(o.weight_decay) + ": must be >= 0");
  if (o.optimizer != "sgd" && o.optimizer != "adam" && o.optimizer != "adamw") bad("--optimizer " + o.optimizer + ": use sgd, adam or adamw");
  if (o.nesterov && (o.optimizer != "sgd" || o.momentum <= 0)) bad("--nesterov needs --optimizer sgd and a --momentum above 0");
  model_flag(o.model);
  if (o.max_steps < 0) bad("--max-steps " + std::to_string(o.max_steps) + ": must be >= 0");
  if (o.log_every < 1) bad("--log-every " + std::to_string(o.log_every) + ": must be at least 1");
  if (o.checkpoint_every < 0) bad("--checkpoint-every " + std::to_string(o.checkpoint_every) + ": must be >= 0");
  if (o.checkpoint_every > 0 && o.checkpoint.empty()) bad("--checkpoint-every needs --checkpoint FILE");
  parse_graph_mode(o.cuda_graph);
  optim::Schedule::parse(o.lr_schedule);  // InputError naming the bad part
  if (o.threads < 0 || o.threads > 1024) bad("--threads " + std::to_string(o.threads) + ": must be between 1 and 1024");
  // Output files: their folder must exist now, not when the first save comes after an epoch.
  for (const auto& [flag, path] : {std::pair<const char*, const std::string&>{"--checkpoint", o.checkpoint},
                                   {"--save", o.save}}) {
    if (path.empty()) continue;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec))
      bad(std::string(flag) + " " + path + ": the folder " + dir.string() + " does not exist; create it first");
    if (fs::is_directory(p, ec)) bad(std::string(flag) + " " + path + ": is a folder; give a file name");
  }
}

std::map<std::string, std::string> run_settings(const TrainOptions& o) {
  char lr[64], mom[64], wd[64], vs[64];
  std::snprintf(vs, sizeof vs, "%.17g", o.val_split);
  std::snprintf(lr, sizeof lr, "%.17g", o.lr);
  std::snprintf(mom, sizeof mom, "%.17g", o.momentum);
  std::snprintf(wd, sizeof wd, "%.17g", o.weight_decay);
  return {{"model", o.model},
          {"optimizer_name", o.optimizer},
          {"lr", lr},
          {"momentum", mom},
          {"weight_decay", wd},
          {"nesterov", o.nesterov ? "1" : "0"},
          {"batch_size", std::to_string(o.batch_size)},
          {"seed", std::to_string(o.seed)},
          {"shuffle", o.no_shuffle ? "0" : "1"},
          {"epochs", std::to_string(o.epochs)},
          {"log_every", std::to_string(o.log_every)},
          {"lr_schedule", o.lr_schedule},
          {"lr_schedule_steps", std::to_string(o.schedule_steps)},
          {"image_size", std::to_string(o.image_size)},
          {"val_split", vs},
          {"world_size", std::to_string(o.world_size)}};
}

void apply_resume_settings(const std::map<std::string, std::string>& s, TrainOptions& o) {
  auto get = [&](const char* k) -> const std::string& {
    auto it = s.find(k);
    if (it == s.end()) throw InputError(std::string("--resume: the training state has no '") + k + "'; was it written by gpunet train?");
    return it->second;
  };
  try {
    o.model = get("model");
    o.optimizer = get("optimizer_name");
    o.lr = std::stod(get("lr"));
    o.momentum = std::stod(get("momentum"));
    o.weight_decay = std::stod(get("weight_decay"));
    o.nesterov = get("nesterov") == "1";
    o.batch_size = std::stoll(get("batch_size"));
    o.seed = std::stoull(get("seed"));
    o.no_shuffle = get("shuffle") == "0";
    o.log_every = std::stoll(get("log_every"));
    // Checkpoints from before schedules existed ran without one.
    const auto sched = s.find("lr_schedule"), sched_steps = s.find("lr_schedule_steps");
    o.lr_schedule = sched == s.end() ? "none" : sched->second;
    o.schedule_steps = sched_steps == s.end() ? 0 : std::stoll(sched_steps->second);
    // Image folders (older checkpoints: the defaults): the same records and split.
    if (const auto it = s.find("image_size"); it != s.end()) o.image_size = std::stoi(it->second);
    if (const auto it = s.find("val_split"); it != s.end()) o.val_split = std::stod(it->second);
  } catch (const std::logic_error&) {
    throw InputError("--resume: the training state has a malformed setting; the file is corrupt");
  }
  validate(o);
}

}  // namespace gpunet::cli
