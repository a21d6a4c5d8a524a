#pragma once
/// dist::NcclComm: the GPU side of data parallel. One NCCL communicator over the ranks of a
/// ProcessGroup, one GPU per process (cuda:<local rank>), bootstrapped over MPI: rank 0 makes
/// the ncclUniqueId and broadcasts it (as llm.c does). The all-reduce runs on the
/// communicator's own stream, ordered by events against the device's compute stream, so the
/// host never waits; wait() polls NCCL's asynchronous error state with a timeout and aborts the
/// communicator instead of hanging on a lost peer. NCCL refuses two processes on one GPU, so a
/// single GPU can only run a 1-rank communicator (tools/gpu_check.sh does); 2 GPUs are untested.
///
///   dist::NcclComm comm(pg.get(), pg->local_rank());  // pg null: a 1-rank communicator
///   comm.allreduce_sum(grads);                          // float32 on cuda:<local rank>, in place
///   comm.wait(60);                                      // the result is in; DistError otherwise
#include <memory>

#include "gpunet/dist/process_group.h"
#include "gpunet/tensor.h"

namespace gpunet::dist {

/// True when this build has NCCL (the CUDA backend and MPI both built).
bool nccl_built();

class NcclComm {
 public:
  /// Requires a usable cuda:`device`. Throws Error in a build without NCCL, DistError when NCCL
  /// fails (the message has NCCL's).
  NcclComm(ProcessGroup* pg, int device);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;
  int size() const { return size_; }
  int device() const { return device_; }
  /// Sum over the ranks of `t` (contiguous float32 or float64 on the communicator's device), in place. The
  /// reduction starts after the work queued so far on the device's stream, and work queued there
  /// afterwards runs after it. Returns at once.
  void allreduce_sum(Tensor& t);
  /// Blocks until every queued all-reduce finished; after `timeout_s` without progress, or on an
  /// asynchronous NCCL error, aborts the communicator and throws DistError.
  void wait(double timeout_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int size_ = 1, rank_ = 0, device_ = 0;
};

}  // namespace gpunet::dist
