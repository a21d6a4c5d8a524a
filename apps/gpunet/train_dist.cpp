// `mpirun -np N gpunet train`: see train_dist.h.
#include "train_dist.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "gpunet/dist/startup.h"
#include "train_run.h"

namespace gpunet::cli {

void add_dist_flags(CLI::App& cmd, TrainOptions& o) {
  cmd.add_option("--bucket-mb", o.bucket_mb, "data parallel: gradient all-reduce bucket size in MiB")->capture_default_str();
  cmd.add_flag("--no-overlap", o.no_overlap,
               "data parallel: start the all-reduces after backward instead of during it (to measure the overlap)");
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
  GPUNET_INPUT_CHECK(net.device().is_cpu(), "distributed: the model is on ", net.device().str(),
                     "; data parallel training on GPUs needs the NCCL path, which this command does not drive yet; "
                     "use --device cpu under mpirun");
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
  s.emplace_back("--resume", o.resume.empty() ? "(none)" : "given");
  s.emplace_back("the model's parameters and buffers", dist::model_signature(net));
  dist::check_agreement(*pg_, s);
  dist::broadcast_state(*pg_, net);
  optimizer.store().set_bucket_bytes(static_cast<size_t>(o.bucket_mb * 1024 * 1024));
  reducer_ = std::make_unique<dist::GradReducer>(*pg_, optimizer.store(), !o.no_overlap);
  step.set_grad_sync(reducer_.get());
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
