#pragma once
/// The process groups of sync batch norm (gpunet/sync_batch_norm.h): the ranks of a data-parallel
/// run share BatchNorm statistics over MPI (CPU models) or NCCL (one GPU per process).
///
///   nn::convert_sync_batchnorm(*net, dist::stats_group(*pg));          // CPU, over MPI
///   nn::convert_sync_batchnorm(*net, dist::stats_group(comm, 60));     // GPU, over NCCL
#include <memory>

#include "gpunet/dist/nccl.h"
#include "gpunet/dist/process_group.h"
#include "gpunet/sync_batch_norm.h"

namespace gpunet::dist {

/// Over MPI: blocking double all-reduces that do not wait for the gradient buckets in flight.
/// `pg` must outlive the group (and the model that holds it).
std::shared_ptr<SumGroup> stats_group(ProcessGroup& pg);
/// Over NCCL: the sums staged on the communicator's GPU, all-reduced there, read back; a lost
/// rank is a DistError after `timeout_s`. `comm` must outlive the group.
std::shared_ptr<SumGroup> stats_group(NcclComm& comm, double timeout_s);

}  // namespace gpunet::dist
