#pragma once
/// Optimizers: the parameters, their gradients and the optimizer state live in the flat buffers
/// of one optim::ParamStore (see param_store.h) on the parameters' device, and step() runs
/// there: one update kernel per parameter group. The per-step scalars (each group's lr, the step
/// count, Adam's bias corrections) live in a small float64 tensor on that device too, read by the
/// update kernels and advanced by the step itself, so a step captured as a CUDA graph and
/// replayed sees the current values (optimizers whose state is all like that are capturable()).
///   gpunet::optim::SGD opt(*net, {.lr = 0.001, .momentum = 0.9});
///   opt.zero_grad(); loss.backward(); opt.step();
///   opt.set_lr(0, 0.0005);                         // between steps, never inside a capture
///   opt.set_schedule(optim::Schedule::step_decay(30, 0.1), 90);  // the step advances the lr
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/nn/module.h"
#include "gpunet/optim/param_store.h"
#include "gpunet/optim/schedule.h"
#include "gpunet/tensor.h"

namespace gpunet::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every trainable parameter, group by group, then advances the step count on the
  /// device (in stream order, after the updates). Re-lays the store out first when a
  /// parameter's requires_grad changed or the parameters moved.
  void step();
  /// Zeroes the flat gradient buffer (one fill).
  void zero_grad() { store_->zero_grad(); }
  /// Every parameter, group by group (checkpoint index i of "state.<i>.<slot>").
  const std::vector<Tensor>& params() const { return store_->params(); }
  ParamStore& store() { return *store_; }
  const ParamStore& store() const { return *store_; }

  /// True when step() reads every per-step value from device memory and runs no host logic
  /// that depends on the step, so TrainStep may capture it in a CUDA graph. Declared by each
  /// optimizer (the base says false).
  virtual bool capturable() const { return false; }

  /// Sets group `group`'s learning rate, on the host (options) and in the device scalars.
  /// Requires lr >= 0 and finite and no schedule attached (InputError otherwise); call it
  /// between steps, not while a CUDA graph is captured (a replay reads the new value from the device).
  void set_lr(size_t group, double lr);
  /// Group `group`'s base lr (its option; a schedule scales it, see current_lr).
  double lr(size_t group) const { return store_->options(group).lr; }
  /// Attaches a learning-rate schedule over `total_steps` steps: its table [total_steps x groups]
  /// of per-step lrs (schedule.h, from each group's base lr) goes to the parameters' device, and
  /// from then on every step() sets each group's lr to the table's row at the device step count
  /// (the last row after the end), on the device, so a replayed CUDA graph follows the schedule.
  /// The lr slots are set for the current step count at once (also by load_state). Replaces an
  /// earlier schedule (TrainStep then captures its graph again). Throws InputError for
  /// total_steps < 1. Call it between steps. The table takes 8 * total_steps * groups bytes.
  void set_schedule(const Schedule& schedule, int64_t total_steps);
  /// The same with one schedule per parameter group (group g's column from per_group[g] and its
  /// base lr). Requires one schedule per group (InputError otherwise).
  ///   opt.set_schedule({Schedule::piecewise({{0, 1}, {75, 0}}), Schedule::constant()}, 200);
  void set_schedule(const std::vector<Schedule>& per_group, int64_t total_steps);
  /// Detaches the schedule; the lr slots go back to the base lrs.
  void clear_schedule();
  bool has_schedule() const { return table_.defined(); }
  /// The schedule's table (float64 [total_steps x groups], on the parameters' device), or undefined.
  const Tensor& schedule_table() const { return table_; }
  /// The lr group `group`'s next step uses (PyTorch's param_groups[g]["lr"] after
  /// scheduler.step()), read from the device scalars (synchronises with the device).
  double current_lr(size_t group) const;
  /// Steps completed: read from the device (synchronises with it).
  int64_t steps() const;
  /// The per-step scalars (kernels/optim.h gives the layout), float64 on the parameters' device.
  const Tensor& step_scalars() const { return scalars_; }

  /// The optimizer's tensors named "state.<i>.<slot>" (i over params(); frozen parameters and,
  /// before the first step, SGD's momentum buffers have none), and its scalars (the step
  /// count, ...) as strings, for checkpoints. Reading them synchronises with the device.
  virtual StateDict state_tensors() const = 0;
  virtual std::map<std::string, std::string> state_scalars() const = 0;
  /// Restores state saved by state_tensors()/state_scalars(); throws InputError on a mismatch.
  virtual void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) = 0;
  /// Brings the store and the scalars to the parameters' device (step() does it too).
  void sync_device();

 protected:
  /// Lays `groups` out in a new store; with a module, attaches the store to it.
  Optimizer(nn::Module* module, std::vector<ParamGroup> groups);
  /// Queues the group updates (the scalars and the store are current).
  virtual void update() = 0;
  /// Pointer to group g's scalars (lr, bias_correction1, bias_correction2) and to the step count.
  double* group_scalars(size_t g) const;
  double* step_count() const;
  /// "state.<i>.<slot>" for every trainable parameter.
  StateDict slot_tensors(const std::vector<std::string>& slots) const;
  /// Copies `tensors`' "state.<i>.<slot>" into the slots; InputError when one is missing or misshapen.
  void load_slots(const StateDict& tensors, const std::vector<std::string>& slots);
  /// Sets the device step count (and, with a schedule, the lr slots for it).
  void set_steps(int64_t steps);

  std::shared_ptr<ParamStore> store_;  // shared with the module (which holds a weak reference)
  Tensor scalars_;

 private:
  /// With a schedule: the lr slots from the table's row at the device step count.
  void refresh_lr();
  Tensor table_;  // the schedule's per-step lrs, or undefined
};

}  // namespace gpunet::optim
