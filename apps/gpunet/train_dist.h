#pragma once
// `mpirun -np N gpunet train ...`: the data-parallel side of a training run (issue 15), kept
// apart from the single-process outline (train.cpp calls it in three places):
//   - from_launcher(): MPI up when started by a launcher; this rank's options (threads split
//     over the local ranks, one GPU per process: cuda:<local rank>, rank 0 alone prints, writes
//     metrics, checkpoints and --save);
//   - attach(): the settings/shape agreement check, rank 0's state broadcast, the gradient
//     reducer (MPI for a CPU model, NCCL for a GPU one) plugged into the TrainStep, and with
//     --sync-bn every BatchNorm2d's statistics shared over the ranks;
//   - run(): the error path: a setting mismatch is one line from rank 0 and exit 2 on every
//     rank; any other error is one line naming this rank, then the launcher stops every rank.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "gpunet/dist/grad_reducer.h"
#include "gpunet/dist/nccl.h"
#include "gpunet/dist/process_group.h"
#include "train_options.h"

namespace gpunet::cli::train {

class DistRun {
 public:
  /// nullptr for a plain single process. Otherwise MPI is initialised and `o` becomes this
  /// rank's options (world_size/world_rank, threads, rank 0's duties).
  static std::unique_ptr<DistRun> from_launcher(TrainOptions& o);
  int rank() const { return pg_->rank(); }
  int size() const { return pg_->size(); }
  /// After the model, optimizer and step exist: checks agreement, broadcasts rank 0's state,
  /// plugs the reducer into `step`.
  void attach(const TrainOptions& o, nn::Module& net, optim::Optimizer& optimizer, int64_t train_records, TrainStep& step);
  /// Runs `body` with the distributed error path around it; its exit code.
  int run(const std::function<int()>& body);

 private:
  std::unique_ptr<dist::ProcessGroup> pg_;
  std::unique_ptr<dist::NcclComm> nccl_;  // GPU models: after pg_, destroyed before it
  std::unique_ptr<dist::GradReducer> reducer_;
  bool quiet_ = false, overlap_ = true;
  double bucket_mb_ = 25;
};

}  // namespace gpunet::cli::train
