// `mpirun -np N gpunet train`: see train_dist.h.
#include "train_dist.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "gpunet/dist/startup.h"
#include "gpunet/dist/sync_bn.h"
#include "train_run.h"

namespace gpunet::cli {

void add_dist_flags(CLI::App& cmd, TrainOptions& o) {
  cmd.add_option("--bucket-mb", o.bucket_mb, "data parallel: gradient all-reduce bucket size in MiB")->capture_default_str();
  cmd.add_flag("--no-overlap", o.no_overlap,
               "data parallel: start the all-reduces after backward instead of during it (to measure the overlap)");
  cmd.add_flag("--sync-bn", o.sync_bn,
               "data parallel: BatchNorm statistics over every process's batch (torch's SyncBatchNorm); default: "
               "each process's own, as DDP");
}

}  // namespace gpunet::cli

namespace gpunet::cli::train {

std::unique_ptr<DistRun> DistRun::from_launcher(TrainOptions& o) {
  GPUNET_INPUT_CHECK(o.bucket_mb > 0, "--bucket-mb ", o.bucket_mb, ": must be > 0");
  auto pg = dist::ProcessGroup::from_launcher();
  if (!pg) return nullptr;
  std::unique_ptr<DistRun> d(new DistRun());
  d->pg_ = std::move(pg);
  o.world_size = d->pg_->size();
  o.world_rank = d->pg_->rank();
  if (o.threads == 0) {  // cores / processes on this machine, unless --threads says otherwise
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    o.threads = std::max(1, cores / d->pg_->local_size());
  }
  // One GPU per process: cuda:<local rank> unless --device names one (or the CPU).
  if ((o.device.empty() || o.device == "cuda") && cuda::device_count() > 0) {
    const int gpus = cuda::device_count();
    GPUNET_INPUT_CHECK(d->pg_->local_rank() < gpus, "distributed: rank ", d->pg_->rank(), " is process ",
                       d->pg_->local_rank() + 1, " on its machine, which has ", gpus,
                       " GPU(s); NCCL takes one GPU per process: start at most ", gpus,
                       " processes per machine, or pass --device cpu");
    o.device = "cuda:" + std::to_string(d->pg_->local_rank());
  }
  d->quiet_ = o.quiet;
  d->overlap_ = !o.no_overlap;
  d->bucket_mb_ = o.bucket_mb;
  if (o.world_rank != 0) {  // rank 0 alone prints, writes metrics, checkpoints and weights
    o.quiet = true;
    o.metrics.clear();
    o.checkpoint.clear();
    o.save.clear();
  }
  return d;
}

void DistRun::attach(const TrainOptions& o, nn::Module& net, optim::Optimizer& optimizer, int64_t train_records,
                     TrainStep& step) {
  dist::Settings s;
  for (const auto& [key, v] : run_settings(o)) {  // named as the flags: batch_size -> --batch-size
    std::string k = key;
    if (k == "log_every" || k == "world_size") continue;
    if (k == "optimizer_name") k = "optimizer";
    for (char& c : k)
      if (c == '_') c = '-';
    s.emplace_back("--" + k, v);
  }
  s.emplace_back("the training records", std::to_string(train_records));
  s.emplace_back("--bucket-mb", std::to_string(o.bucket_mb));
  s.emplace_back("--no-overlap", o.no_overlap ? "1" : "0");
  s.emplace_back("--sync-bn", o.sync_bn ? "1" : "0");
  s.emplace_back("the device type", net.device().is_cpu() ? "cpu" : "cuda");
  s.emplace_back("--resume", o.resume.empty() ? "(none)" : "given");
  s.emplace_back("the model's parameters and buffers", dist::model_signature(net));
  dist::check_agreement(*pg_, s);
  dist::broadcast_state(*pg_, net);
  optimizer.store().set_bucket_bytes(static_cast<size_t>(o.bucket_mb * 1024 * 1024));
  std::shared_ptr<SumGroup> group;
  if (net.device().is_cuda()) {  // NCCL, bootstrapped over MPI; one GPU per process
    nccl_ = std::make_unique<dist::NcclComm>(pg_.get(), net.device().index());
    reducer_ = std::make_unique<dist::GradReducer>(*nccl_, optimizer.store(), pg_->timeout_s(), !o.no_overlap);
    if (o.sync_bn) group = dist::stats_group(*nccl_, pg_->timeout_s());
  } else {
    reducer_ = std::make_unique<dist::GradReducer>(*pg_, optimizer.store(), !o.no_overlap);
    if (o.sync_bn) group = dist::stats_group(*pg_);
  }
  step.set_grad_sync(reducer_.get());
  if (group) {
    const int layers = nn::convert_sync_batchnorm(net, group);
    if (pg_->rank() == 0 && !o.quiet)
      std::printf(layers ? "sync batch norm: %d BatchNorm2d layer(s) normalise over the %d processes' batches\n"
                         : "sync batch norm: the model has no BatchNorm2d layer (%d); --sync-bn changes nothing "
                           "over the %d processes\n",
                  layers, pg_->size());
  }
}

int DistRun::run(const std::function<int()>& body) {
  int code = 0;
  try {
    code = body();
  } catch (const dist::MismatchError& e) {  // every rank saw the same mismatch
    if (pg_->rank() == 0) std::fprintf(stderr, "gpunet: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpunet: error: rank %d of %d: %s\n", pg_->rank(), pg_->size(), e.what());
    pg_->abort(2);  // the launcher stops every other rank
  }
  if (reducer_ && pg_->rank() == 0 && !quiet_) {
    const auto& st = reducer_->stats();
    if (st.steps > 0)
      std::printf("data parallel: %d processes, %.1f bucket(s) a step (%.0f%% started during backward, --bucket-mb %g), "
                  "backward %.3f ms a step, all-reduce wait after backward %.3f ms a step (overlap %s)\n",
                  pg_->size(), double(st.buckets) / st.steps, 100.0 * st.buckets_early / std::max<int64_t>(st.buckets, 1),
                  bucket_mb_, 1e3 * st.backward_s / st.steps, 1e3 * st.wait_s / st.steps, overlap_ ? "on" : "off");
  }
  std::fflush(stdout);
  return code;
}

}  // namespace gpunet::cli::train
