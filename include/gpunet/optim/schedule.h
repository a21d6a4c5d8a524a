#pragma once
/// Learning-rate schedules, stepped once per optimizer step as PyTorch's schedulers are: step t
/// (0-based, the optimizer's device step count) uses lr(t) for each parameter group, computed
/// from that group's base lr (its lr when the schedule is attached), as torch.optim.lr_scheduler
/// scales each group's initial lr. A schedule is evaluated once on the host into a table of
/// per-step lrs (Schedule::table); Optimizer::set_schedule puts the table on the device, where
/// the step itself reads the lr of the next step, so a replayed CUDA graph sees it. After the
/// table's end the last value holds.
///   optim::SGD opt(net, {.lr = 0.1, .momentum = 0.9});
///   opt.set_schedule(optim::Schedule::warmup_cosine(100), 5000);  // then opt.step() as usual
#include <cstdint>
#include <string>
#include <vector>

namespace gpunet::optim {

/// One breakpoint of a piecewise linear schedule: at step `step`, the factor `factor`.
struct Breakpoint {
  double step = 0, factor = 1;
};

/// torch.optim.lr_scheduler.OneCycleLR's options (the lr part; the momentum is not cycled).
struct OneCycleOptions {
  /// Peak lr per group; empty: each group's base lr; one value: every group's.
  std::vector<double> max_lr;
  double pct_start = 0.3;
  bool cos = true;  // anneal_strategy "cos"; false: "linear"
  double div_factor = 25.0, final_div_factor = 1e4;
  bool three_phase = false;
};

class Schedule {
 public:
  enum class Kind { Constant, Piecewise, WarmupCosine, OneCycle, StepDecay };

  /// The base lr at every step (no schedule).
  static Schedule constant();
  /// lr(t) = base * interp(t, steps, factors), numpy.interp's semantics: linear between the
  /// breakpoints, the first factor before the first step, the last after the last.
  /// Requires at least one breakpoint, strictly increasing finite steps and finite factors >= 0;
  /// throws InputError naming the offending pair otherwise.
  static Schedule piecewise(std::vector<Breakpoint> points);
  /// Linear warmup from 0, then a cosine to min_factor over the rest of the table (the
  /// transformers get_cosine_schedule_with_warmup rule, as a LambdaLR factor):
  ///   t < W: t / W;   else min + (1 - min) * (1 + cos(pi * (t - W) / max(1, T - W))) / 2
  /// Requires warmup_steps >= 0 and min_factor in [0, 1].
  static Schedule warmup_cosine(int64_t warmup_steps, double min_factor = 0.0);
  /// OneCycleLR over the table's T steps (total_steps = T), PyTorch's phases and annealing;
  /// the base lr is ignored where max_lr is given. Requires pct_start in [0, 1], positive
  /// factors, max_lr >= 0; table() throws InputError when a phase has no steps.
  static Schedule one_cycle(OneCycleOptions o = {});
  /// StepLR: the lr is multiplied by gamma every step_size steps (PyTorch's repeated product).
  /// Requires step_size >= 1 and a finite gamma >= 0.
  static Schedule step_decay(int64_t step_size, double gamma = 0.1);

  /// Parses the CLI grammar (throws InputError naming the bad part):
  ///   none | step:SIZE:GAMMA | cosine:WARMUP[:MIN_FACTOR] | onecycle[:PCT_START]
  ///   | piecewise:S0:F0,S1:F1,...
  static Schedule parse(const std::string& spec);

  /// The per-step lrs, row-major [total_steps x groups]: row t holds each group's lr at step t.
  /// Requires total_steps >= 1 and one base lr per group (finite, >= 0).
  std::vector<double> table(int64_t total_steps, const std::vector<double>& base_lrs) const;

  Kind kind() const { return kind_; }

 private:
  static Schedule parse_spec(const std::string& spec);
  Kind kind_ = Kind::Constant;
  std::vector<Breakpoint> points_;
  int64_t n_ = 0;        // warmup steps or step_size
  double factor_ = 0.0;  // min_factor or gamma
  OneCycleOptions one_cycle_;
};

}  // namespace gpunet::optim
