#pragma once
// The parts of a `gpunet train` run, one concern each; run_train (train.cpp) reads as the
// outline that wires them:
//   train_setup.cpp       the model (registry, --init), the optimizer choice, the loader
//   train_resume.cpp      --resume: the recorded settings, then the saved state restored
//   train_checkpoint.cpp  what a checkpoint holds and when one is written
//   train_divergence.cpp  non-finite losses and weights: where they stop the run, and the error
//   train_report.cpp      --metrics lines, the loss log lines, the progress bar, the accuracy
//   train_signals.cpp     SIGINT/SIGTERM: finish the step, save, exit 130/143
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gpunet/data/loader.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/io/tensorboard.h"
#include "gpunet/nn/module.h"
#include "gpunet/optim/optimizer.h"
#include "gpunet/train.h"
#include "train_options.h"

namespace gpunet::cli::train {

/// Prints a line on stdout (flushed) unless --quiet.
struct Say {
  bool quiet = false;
  void operator()(const std::string& line) const;
};

// ---- setup (train_setup.cpp) ---------------------------------------------------------------

/// The registry's model `opt.model` with `num_classes` outputs (0: 10), initialised from `gen`,
/// with --init's weights when given, moved to `device`.
std::shared_ptr<nn::Module> make_net(const TrainOptions& opt, Generator& gen, Device device, const Say& say,
                                     int num_classes = 0);
/// --optimizer: SGD (momentum, Nesterov, weight decay), Adam or AdamW over `net`'s parameters.
std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& opt, nn::Module& net);
/// --lr-schedule on `optimizer`, over opt.schedule_steps steps (set to `planned_steps`, the
/// epochs' batches, when 0, so that checkpoints record it and a resumed run keeps the schedule).
void attach_schedule(TrainOptions& opt, optim::Optimizer& optimizer, int64_t planned_steps);
/// The training loader's options: --batch-size, shuffling from --seed, batches on `device`,
/// transformed by `t`.
data::LoaderOptions loader_options(const TrainOptions& opt, Device device, const data::Transforms& t);
/// One forward pass of a zero (1, 3, size, size) batch: InputError "--model X cannot take
/// SxS images (...)" when the model's structure does not allow that size (LeNet: 32 only).
void check_model_input(nn::Module& net, const TrainOptions& opt, int size, Device device);

// ---- resume (train_resume.cpp) -------------------------------------------------------------

/// Where the loop starts: the epoch and the count of steps already taken.
struct Position {
  uint64_t epoch = 0;
  int64_t steps = 0;
};
/// With --resume: reads the training state and adopts its run settings into `opt` (the
/// checkpoint's settings win), saying where the run continues. nullopt without --resume.
std::optional<io::TrainState> read_resume(const TrainOptions& given, TrainOptions& opt, const Say& say);
/// Restores the weights, the optimizer state, the loader's position and the running loss.
Position restore(const io::TrainState& st, nn::Module& net, optim::Optimizer& optimizer, data::DataLoader& loader,
                 TrainStep& step);

// ---- divergence (train_divergence.cpp) -----------------------------------------------------

/// Non-finite training: the checks, and the one-line error naming where it happened and which
/// checkpoint was kept.
class Divergence {
 public:
  Divergence(const TrainOptions& opt, const nn::Module& net, const TrainStep& step);
  bool weights_finite() const;
  /// The running loss sum and every weight are finite: the state is worth saving.
  bool state_finite() const;
  /// Throws for a non-finite logged mean loss ("nan" or "inf").
  void check_loss(double mean, uint64_t epoch, int64_t steps) const;
  /// Throws when state_finite() is false ("non-finite values").
  void check_state(uint64_t epoch, int64_t steps) const;
  /// Throws when the weights are not finite after training.
  void check_final_weights() const;

 private:
  InputError error(const std::string& what, uint64_t epoch, int64_t steps) const;
  const TrainOptions& opt_;
  const nn::Module& net_;
  const TrainStep& step_;
};

// ---- checkpoint policy (train_checkpoint.cpp) ----------------------------------------------

/// When and what `--checkpoint FILE` saves: every --checkpoint-every steps and at the end of
/// every epoch, after a --max-steps stop, and on a signal unless the state has diverged. A
/// checkpoint holds the weights, the optimizer state, the run settings, the loader's position
/// and the running loss, so that --resume continues bit for bit. Without --checkpoint, nothing.
class CheckpointPolicy {
 public:
  CheckpointPolicy(const TrainOptions& opt, const nn::Module& net, const optim::Optimizer& optimizer,
                   const data::DataLoader& loader, const TrainStep& step, const Divergence& divergence,
                   std::map<std::string, std::string> metadata);
  /// After each step: --checkpoint-every (a diverged state is an error, not a save).
  void after_step(uint64_t epoch, int64_t steps) const;
  /// At the end of an epoch the loop finished.
  void end_of_epoch(int64_t steps) const;
  /// After the loop stopped early by --max-steps.
  void after_stop(int64_t steps) const;
  /// On a signal: saves when the state is finite; returns the clause for the interrupt line
  /// ("; training state saved to ck (continue with --resume ck)"), "" without --checkpoint.
  std::string on_interrupt(int64_t steps) const;

 private:
  void save(int64_t steps) const;
  const TrainOptions& opt_;
  const nn::Module& net_;
  const optim::Optimizer& optimizer_;
  const std::map<std::string, std::string> metadata_;  // the data's: class names, image size, normalisation
  const data::DataLoader& loader_;
  const TrainStep& step_;
  const Divergence& divergence_;
};

// ---- reporting (train_report.cpp) ----------------------------------------------------------

/// --metrics: JSON lines, flushed one by one; appended to when resuming.
class Metrics {
 public:
  Metrics(const std::string& path, bool append);
  void write(const nlohmann::json& j);
  bool on() const { return out_.is_open(); }

 private:
  std::ofstream out_;
};

/// The progress bar on a terminal's stderr (steps, images/s, ETA), redrawn at most 4 times a
/// second and cleared before other output. Off when stderr is not a terminal or with --quiet.
class Progress {
 public:
  Progress(const TrainOptions& opt, int64_t total_steps, int64_t steps_at_start);
  bool on() const { return on_; }
  void update(uint64_t epoch, int64_t steps);
  /// Clears the bar's line (before a log line, and at the end).
  void clear() const;

 private:
  using clock = std::chrono::steady_clock;
  bool on_;
  int epochs_;
  int64_t batch_size_, total_steps_, steps_at_start_;
  clock::time_point t0_, last_;
};

/// Every --log-every batches: the seed's "[epoch, batch] loss: x" line, the --metrics line with
/// images/s over the window since the last one, the lr of the next step (group 0; PyTorch's
/// scheduler.get_last_lr() after scheduler.step()), and the divergence check of the mean.
/// With --tensorboard the same values go to the event file (train/loss, train/lr,
/// train/images_per_second), flushed at every log line.
class LossLog {
 public:
  LossLog(const TrainOptions& opt, TrainStep& step, const optim::Optimizer& optimizer, Metrics& metrics,
          const Divergence& divergence, const Progress& progress, io::EventWriter& tb);
  /// Counts one step of batch `batch_index`; logs when the batch ends a --log-every window.
  void after_step(int64_t batch_index, uint64_t epoch, int64_t steps);
  /// At the end of an epoch with --metrics: the test accuracy and loss (normalised by `t`); with
  /// --tensorboard also test/accuracy and train/accuracy (the model at the epoch's end on the
  /// training set, eval mode, no augmentation).
  void end_of_epoch(nn::Module& net, const data::ImageDataset& train, const data::ImageDataset& test,
                    const data::Transforms& t, Device device,
                    uint64_t epoch, int64_t steps);

 private:
  const TrainOptions& opt_;
  TrainStep& step_;
  const optim::Optimizer& optimizer_;
  Metrics& metrics_;
  const Divergence& divergence_;
  const Progress& progress_;
  io::EventWriter& tb_;
  std::chrono::steady_clock::time_point window_t_;
  int64_t window_steps_ = 0;
};

/// The seed's final lines: overall and per-class test accuracy.
void print_accuracy(const EvalResult& r, const std::vector<std::string>& classes);

// ---- signals (train_signals.cpp) -----------------------------------------------------------

/// Catches SIGINT and SIGTERM while alive (the previous handlers come back after): the step in
/// flight finishes, then the loop stops.
class SignalWatch {
 public:
  SignalWatch();
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;
  /// The signal received (SIGINT or SIGTERM), or 0.
  int received() const;
  /// The exit code for a signal: 130 for SIGINT, 143 for SIGTERM.
  static int exit_code(int sig);
  static const char* name(int sig);
};

}  // namespace gpunet::cli::train
