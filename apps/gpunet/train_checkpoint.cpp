// `gpunet train --checkpoint FILE`: what a training checkpoint holds and when it is written.
// It holds everything --resume needs to continue bit for bit (train_resume.cpp reads it back):
// weights, optimizer state, the run settings, the loader's position and the running loss; and
// the data's class names, image size and normalisation (as --save), for eval and predict.
#include <cstdio>

#include "train_run.h"

namespace gpunet::cli::train {
namespace {

std::string fmt_double(double v) {  // round-trips exactly
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

CheckpointPolicy::CheckpointPolicy(const TrainOptions& opt, const nn::Module& net, const optim::Optimizer& optimizer,
                                   const data::DataLoader& loader, const TrainStep& step, const Divergence& divergence,
                                   std::map<std::string, std::string> metadata)
    : opt_(opt), net_(net), optimizer_(optimizer), metadata_(std::move(metadata)), loader_(loader), step_(step),
      divergence_(divergence) {}

void CheckpointPolicy::save(int64_t steps) const {
  io::TrainState st;
  st.model = net_.state_dict();
  st.optimizer = optimizer_.state_tensors();
  st.metadata = metadata_;  // the class names etc., as --save writes them: eval and predict read either file
  st.scalars = run_settings(opt_);
  for (auto& [k, v] : optimizer_.state_scalars()) st.scalars[k] = v;
  st.scalars["epoch"] = std::to_string(loader_.epoch());
  st.scalars["batch_index"] = std::to_string(loader_.batch_index());
  st.scalars["step"] = std::to_string(steps);
  st.scalars["running_sum"] = fmt_double(step_.running_sum());
  st.scalars["running_count"] = std::to_string(step_.running_count());
  io::save_train_state(opt_.checkpoint, st);
}

void CheckpointPolicy::after_step(uint64_t epoch, int64_t steps) const {
  if (opt_.checkpoint.empty() || !opt_.checkpoint_every || steps % opt_.checkpoint_every != 0) return;
  divergence_.check_state(epoch, steps);  // never overwrite the last good checkpoint with NaN
  save(steps);
}

void CheckpointPolicy::end_of_epoch(int64_t steps) const {
  if (!opt_.checkpoint.empty()) save(steps);
}

void CheckpointPolicy::after_stop(int64_t steps) const {
  if (!opt_.checkpoint.empty()) save(steps);
}

std::string CheckpointPolicy::on_interrupt(int64_t steps) const {
  if (opt_.checkpoint.empty()) return "";
  if (!divergence_.state_finite())
    return "; the loss had diverged, so the training state was not saved (the last good checkpoint " +
           opt_.checkpoint + " is kept)";
  save(steps);
  return "; training state saved to " + opt_.checkpoint + " (continue with --resume " + opt_.checkpoint + ")";
}

}  // namespace gpunet::cli::train
