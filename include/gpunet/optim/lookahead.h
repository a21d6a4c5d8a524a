#pragma once
/// optim::Lookahead: the airbench recipe's lookahead EMA over a module's floating-point state.
/// It keeps an ema copy of every parameter AND every floating-point buffer (BatchNorm's
/// running_mean/running_var included; integer buffers such as num_batches_tracked are left
/// alone), taken when it is built. update(decay) does, for every such tensor,
///   ema <- lerp(ema, net, 1 - decay);  net <- ema
/// (PyTorch's ema.lerp_(v, 1 - d); v.copy_(ema)). The caller gives the schedule; the recipe's:
///   every 5 steps: decay = 0.95^5 * (step / total_steps)^3;  after the last step: copy_to_net().
/// Layout: when the module has an attached ParamStore (an optimizer built over it) whose
/// parameters all belong to the module, the ema of those parameters is one flat buffer laid out
/// like the store's weights and updated by one kernel; every other floating-point tensor (the
/// buffers, parameters of other stores) by one kernel each. The layout follows the store (a
/// re-layout, a move to another device, a store attached later): checked at each call, the ema
/// values carried over.
/// Capturable: update(const Tensor&) reads the decay from a float64 device scalar, so a CUDA
/// graph that captured it sees each replay's value (the layout must not change inside a capture).
///   optim::Lookahead ema(*net);
///   if (step % 5 == 0) ema.update(optim::lookahead_decay(step, total));  // the recipe's schedule
///   ...  ema.copy_to_net();   // after the last step
#include "gpunet/nn/module.h"
#include "gpunet/optim/param_store.h"
#include "gpunet/state_dict.h"
#include "gpunet/tensor.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace gpunet::optim {

/// The recipe's decay schedule: base^every * (step / total_steps)^3, in double as the recipe's
/// torch.float64 table (0.95 ** 5 * (arange(total + 1) / total) ** 3). Requires total_steps >= 1,
/// 0 <= step <= total_steps (InputError otherwise).
///   if (step % 5 == 0) ema.update(optim::lookahead_decay(step, total));
double lookahead_decay(int64_t step, int64_t total_steps, int every = 5, double base = 0.95);

class Lookahead {
 public:
  /// Snapshots the module's floating-point state as the ema. Requires: every floating-point
  /// parameter and buffer is float32 (InputError naming the tensor otherwise), all on one
  /// device. The module must outlive the Lookahead.
  explicit Lookahead(nn::Module& module);
  Lookahead(const Lookahead&) = delete;
  Lookahead& operator=(const Lookahead&) = delete;

  /// ema <- lerp(ema, net, 1 - decay), net <- ema, over every floating-point tensor.
  /// Requires decay finite (InputError otherwise); not inside a CUDA graph capture (it writes
  /// the decay into device memory from the host).
  void update(double decay);
  /// The same with the decay read from `decay`: a 1-element float64 tensor on the module's
  /// device (InputError otherwise). Capturable.
  void update(const Tensor& decay);
  /// net <- ema (the recipe's final step).
  void copy_to_net();
  /// The ema values, named as the module's state_dict (views, not copies; floating-point
  /// tensors only).
  StateDict ema() const;
  /// Kernels one update() launches (1 per flat store + 1 per other tensor): for tests.
  size_t kernels_per_update() const { return (flat_ema_.defined() ? 1 : 0) + loose_.size(); }

 private:
  struct Entry {
    std::string name;
    Tensor net, ema;  // ema: a view into flat_ema_ for store parameters, else its own tensor
    bool flat = false;
  };
  void sync();  // re-lays the ema out when the store or a device changed
  void layout();
  nn::Module& module_;
  std::vector<Entry> entries_;
  std::vector<size_t> loose_;  // indices of entries updated one by one
  Tensor flat_ema_;
  std::weak_ptr<ParamStore> store_;
  uint64_t generation_ = 0;
  Tensor decay_;  // float64 [1] on the state's device, for update(double)
};

}  // namespace gpunet::optim
