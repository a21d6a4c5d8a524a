#pragma once
/// dist::GradReducer: DDP's gradient averaging for a TrainStep. The optimizer's ParamStore cuts
/// the flat gradient buffer into buckets (reverse registration order, the order backward
/// produces them); during backward an autograd hook counts each bucket's finished gradients,
/// and a full bucket's all-reduce starts at once (non-blocking MPI, in bucket order on every
/// rank) while backward goes on with the earlier layers. after_backward() starts what is left,
/// waits, and scales by 1/N: every rank then holds the mean of the ranks' gradients.
///
/// Over MPI for CPU parameters; over NCCL for parameters on the communicator's GPU, where a
/// bucket's all-reduce runs on the communicator's stream, ordered by events after the kernels
/// that wrote the bucket and before the optimizer's (the host waits only to check for errors).
///
/// Requires: the same model and store layout on every rank (check_agreement). Guarantees: the
/// same result with or without overlap (only the time differs); a lost rank is a DistError
/// after the group's timeout.
///
///   dist::GradReducer reducer(*pg, optimizer.store());
///   step.set_grad_sync(&reducer);                 // every step now averages over the ranks
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/dist/nccl.h"
#include "gpunet/dist/process_group.h"
#include "gpunet/optim/param_store.h"
#include "gpunet/train.h"

namespace gpunet::dist {

class GradReducer : public GradSync {
 public:
  /// overlap false: every bucket starts after backward (the baseline that measures the overlap).
  GradReducer(ProcessGroup& pg, optim::ParamStore& store, bool overlap = true);
  /// Over NCCL: the store's parameters on cuda:comm.device(); `timeout_s` bounds each step's wait.
  GradReducer(NcclComm& comm, optim::ParamStore& store, double timeout_s, bool overlap = true);
  void before_backward() override;
  void after_backward() override;

  /// Timing of the steps so far: seconds in backward (hook work included), seconds waiting for
  /// the all-reduces after backward (what the overlap did not hide), and how many buckets
  /// started while backward was still running.
  struct Stats {
    int64_t steps = 0, buckets = 0, buckets_early = 0;
    double backward_s = 0, wait_s = 0;
  };
  const Stats& stats() const { return stats_; }
  bool overlap() const { return overlap_; }

 private:
  void on_leaf(const TensorImpl* leaf);
  void refresh();  // rebuilds the parameter -> bucket map when the store's layout changed
  void start(size_t b);

  int world() const { return pg_ ? pg_->size() : nccl_->size(); }

  ProcessGroup* pg_ = nullptr;
  NcclComm* nccl_ = nullptr;
  double timeout_s_ = 60;
  optim::ParamStore& store_;
  bool overlap_;
  uint64_t generation_ = 0;
  size_t num_buckets_ = 0;
  std::unordered_map<const TensorImpl*, size_t> bucket_of_;
  std::vector<int> total_, left_;  // per bucket: parameters, and those not yet final
  size_t next_ = 0;                // the next bucket to start (buckets start in order)
  std::unique_ptr<autograd::LeafReadyScope> scope_;
  double t_backward0_ = 0;
  Stats stats_;
};

}  // namespace gpunet::dist
