#pragma once
/// dist::ProcessGroup: the N processes of a data-parallel run, over MPI (Open MPI starts them:
/// `mpirun -np N gpunet train ...`). The trainer talks to this class, never to MPI. It carries
/// CPU tensors (collectives on host memory); GPU gradients go over NCCL (dist/nccl.h), which is
/// bootstrapped through this group.
///
/// Faults: MPI's error handler is set to return errors, and every blocking wait polls with a
/// timeout (GPUNET_DIST_TIMEOUT_S, default 60 s): a lost peer turns into a gpunet::DistError
/// naming the operation and the ranks, never a hang. A process that exits with an error calls
/// abort(), which makes the launcher stop every other rank.
///
///   auto pg = gpunet::dist::ProcessGroup::from_launcher();   // nullptr: a plain single process
///   if (pg) pg->allreduce_sum(t);                              // t: float32 CPU tensor, in place
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/error.h"
#include "gpunet/tensor.h"

namespace gpunet::dist {

/// A distributed failure (a peer lost, a timeout, an MPI error): the message names the rank(s).
struct DistError : Error {
  using Error::Error;
};

/// True when this build has MPI (-DGPUNET_MPI=AUTO found it, or ON).
bool mpi_built();
/// The launcher's world size from the environment (Open MPI's OMPI_COMM_WORLD_SIZE, PMIx's
/// PMIX_SIZE... set by mpirun and by Slurm's srun --mpi=pmix), or 0 when not started by one.
int launcher_world_size();

class ProcessGroup {
 public:
  /// Initialises MPI when the process was started by an MPI launcher; nullptr otherwise (a
  /// plain `gpunet train`). Throws InputError when started by a launcher but built without MPI
  /// (every rank would train alone).
  static std::unique_ptr<ProcessGroup> from_launcher();
  /// Finalizes MPI (after a barrier-free shutdown: the ranks must have finished their collectives).
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// The rank among the processes on this machine, and their count (cuda:<local rank>, thread split).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  /// Root's bytes of `t` to every rank, in place. Requires: t contiguous, the same shape and
  /// dtype everywhere (check_agreement first); CUDA tensors are staged through the host.
  void broadcast(Tensor& t, int root = 0);
  /// Raw bytes from root to every rank (the NCCL unique id).
  void broadcast_bytes(void* data, size_t bytes, int root = 0);
  /// Sum over the ranks, in place; t float32/float64/int64, contiguous, on the CPU. Blocking.
  void allreduce_sum(Tensor& t);
  /// Sum over the ranks of host doubles, in place; blocking, but waits only for this one (the
  /// gradient all-reduces started before it keep running). For sync batch norm's statistics.
  void allreduce_sum(std::vector<double>& v);
  /// Starts a non-blocking in-place sum of t (float32 on the CPU; t must stay alive and untouched
  /// until wait_all()). Collectives start in the same order on every rank (the caller's duty).
  void iallreduce_sum_start(Tensor& t);
  /// Lets MPI move the started operations along (MPI progresses inside its calls); never blocks.
  void progress();
  /// Waits for every started iallreduce; throws DistError after the timeout.
  void wait_all(const char* what);
  /// Every rank's string, indexed by rank.
  std::vector<std::string> allgather(const std::string& s);
  /// Stops the whole job (the launcher kills every rank) with `code`; for a failing rank.
  [[noreturn]] void abort(int code);
  /// Seconds a blocking wait polls before it gives up (GPUNET_DIST_TIMEOUT_S, default 60).
  double timeout_s() const { return timeout_s_; }

 private:
  ProcessGroup();
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  double timeout_s_ = 60;
  struct Impl;  // the MPI requests (src/dist/process_group.cpp)
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpunet::dist
