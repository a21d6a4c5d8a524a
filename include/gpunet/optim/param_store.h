#pragma once
/// optim::ParamStore: the one owner of the flat storage of a set of parameters: the weights
/// (master fp32 copies and the compute copies the model reads), one flat gradient buffer split
/// into all-reduce buckets, and the optimizer's per-parameter state in named flat slots
/// ("momentum_buffer", "exp_avg", ...). Parameters come in groups, each with its own
/// hyper-parameters (torch.optim's param_groups). Every parameter tensor handed in stays the
/// same tensor (same identity, requires_grad, autograd record) but becomes a view into the
/// store's buffer, and its .grad a view into the gradient buffer.
///
/// Layout: groups in order; within a group the trainable parameters (requires_grad) in order,
/// then the frozen ones. The gradient buffer and every state slot hold the trainable
/// parameters only, in the same order, so that one kernel updates a whole group:
///   weights  [ g0: a b c (frozen f) | g1: d e ]       gradients / slots  [ a b c | d e ]
/// Frozen parameters get no gradient, no state and no update. The layout is redone (and
/// generation() bumped) when a parameter's requires_grad changes, when the store moves to
/// another device, or when a parameter was re-bound elsewhere (sync_layout()).
///
/// Mixed precision plugs in here: master() is what optimizers update, compute() what the model
/// reads; for float32 (the only dtype today) they are one buffer.
///
///   optim::ParamStore store({{net.parameters(), optim::GroupOptions{.lr = 0.1}}});
///   store.zero_grad();  net(x).sum().backward();  // gradients land in store.grads()
///   Tensor m = store.slot("momentum_buffer");     // flat, zeroed, laid out like grads()
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet::optim {

/// The hyper-parameters of one parameter group, torch.optim's param_groups keys. Each
/// optimizer reads the ones it uses (SGD: lr, momentum, dampening, weight_decay, nesterov;
/// Adam: lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay).
struct GroupOptions {
  double lr = 0.001;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  bool decoupled_weight_decay = false;  // AdamW
};

/// One parameter group: its parameters (float32 leaves on one device) and its options.
struct ParamGroup {
  std::vector<Tensor> params;
  GroupOptions options;
};

/// DDP's default bucket size: 25 MiB of gradients per all-reduce.
constexpr size_t kDefaultBucketBytes = size_t(25) << 20;

class ParamStore {
 public:
  /// A contiguous run of the gradient buffer (elements [offset, offset + numel)), holding the
  /// gradients of `params` (indices into params()). Buckets are filled in reverse registration
  /// order (the order backward produces gradients), each closed once it reaches the bucket size.
  struct Bucket {
    int64_t offset = 0, numel = 0;
    std::vector<size_t> params;
  };
  /// Where group g lives: its weights start at weight_offset in master()/compute(), its
  /// gradients and state at grad_offset in grads()/slots; `trainable` elements are updated.
  struct GroupRange {
    int64_t weight_offset = 0, grad_offset = 0, trainable = 0;
  };

  /// Lays out `groups` (copying the current values and gradients in). Requires: at least one
  /// parameter; all float32, on one device, leaves; no tensor in two groups (InputError naming
  /// it as "group <g>, parameter <i>"); bucket_bytes > 0.
  explicit ParamStore(std::vector<ParamGroup> groups, size_t bucket_bytes = kDefaultBucketBytes);
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  size_t num_groups() const { return groups_.size(); }
  const std::vector<Tensor>& group_params(size_t g) const { return groups_.at(g).params; }
  const GroupOptions& options(size_t g) const { return groups_.at(g).options; }
  GroupOptions& options(size_t g) { return groups_.at(g).options; }
  GroupRange range(size_t g) const { return ranges_.at(g); }
  /// Every parameter, group by group (the index used by checkpoints: "state.<i>.exp_avg").
  const std::vector<Tensor>& params() const { return params_; }
  /// The group of params()[i].
  size_t group_of(size_t i) const { return group_of_.at(i); }
  /// True when `t` is one of the store's parameters (the same tensor).
  bool contains(const Tensor& t) const;
  Device device() const { return master_.device(); }

  /// Bumped whenever the storage is re-laid out or moved: views and raw pointers taken before
  /// (e.g. by a captured CUDA graph) are stale when it differs.
  uint64_t generation() const { return generation_; }

  /// The fp32 weights the optimizer updates, and the copy the model computes with (the same
  /// buffer for float32 parameters).
  const Tensor& master() const { return master_; }
  const Tensor& compute() const { return master_; }
  /// The flat gradient buffer (trainable parameters only).
  const Tensor& grads() const { return grads_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  Tensor bucket_grads(size_t b) const;
  /// Cuts the gradient buffer into buckets of about `bytes` again (nothing moves; the
  /// generation stays). Requires bytes > 0.
  void set_bucket_bytes(size_t bytes);

  /// The named optimizer-state slot, laid out like grads(); created zeroed on first use.
  Tensor slot(const std::string& name);
  bool has_slot(const std::string& name) const { return slots_.count(name) > 0; }
  /// params()[i]'s part of a slot, shaped like it; undefined for a frozen parameter.
  Tensor slot_view(const std::string& name, size_t i);

  /// Zeroes the gradient buffer (one fill); frozen parameters keep no gradient.
  void zero_grad();
  /// Moves weights, gradients and slots to `device` (parameters stay the same tensors).
  void to(Device device);
  /// Redoes the layout when a parameter's requires_grad changed or a parameter no longer lives
  /// in the store's buffer (moved or re-bound by someone else); otherwise does nothing. Cheap:
  /// optimizers call it at every step.
  void sync_layout();

 private:
  void layout(Device device);
  void make_buckets();
  bool layout_current() const;
  std::vector<ParamGroup> groups_;
  std::vector<Tensor> params_;
  std::vector<size_t> group_of_;
  std::vector<GroupRange> ranges_;
  std::vector<bool> trainable_;          // as laid out
  std::vector<int64_t> weight_off_, grad_off_;  // per parameter; grad_off_ -1 when frozen
  std::map<std::string, Tensor> slots_;
  std::vector<Bucket> buckets_;
  Tensor master_, grads_;
  size_t bucket_bytes_;
  uint64_t generation_ = 0;
};

}  // namespace gpunet::optim
