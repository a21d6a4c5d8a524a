// `gpunet train --resume FILE`: the recorded run settings win over the flags (so that the run
// continues exactly), then the weights, optimizer state, loader position and running loss
// come back. What a checkpoint records is written by train_checkpoint.cpp.
#include <string>

#include "train_run.h"

namespace gpunet::cli::train {

std::optional<io::TrainState> read_resume(const TrainOptions& given, TrainOptions& opt, const Say& say) {
  if (given.resume.empty()) return std::nullopt;
  io::TrainState st = io::load_train_state(given.resume);
  const auto ws = st.scalars.find("world_size");  // data parallel: the same number of processes
  const std::string saved = ws == st.scalars.end() ? "1" : ws->second;
  GPUNET_INPUT_CHECK(saved == std::to_string(opt.world_size), "--resume ", given.resume, ": written by a run of ", saved,
                     " process(es), this run has ", opt.world_size, "; resume it with mpirun -np ", saved,
                     " (the per-process batches and the data split depend on it)");
  apply_resume_settings(st.scalars, opt);
  say("resuming from " + given.resume + " at epoch " + st.scalars.at("epoch") + ", batch " +
      st.scalars.at("batch_index") + " (step " + st.scalars.at("step") + ")");
  return st;
}

Position restore(const io::TrainState& st, nn::Module& net, optim::Optimizer& optimizer, data::DataLoader& loader,
                 TrainStep& step) {
  net.load_state_dict(st.model, true);
  optimizer.load_state(st.optimizer, st.scalars);
  Position p;
  p.epoch = std::stoull(st.scalars.at("epoch"));
  loader.set_position(p.epoch, std::stoll(st.scalars.at("batch_index")));
  p.steps = std::stoll(st.scalars.at("step"));
  step.set_running(std::stod(st.scalars.at("running_sum")), std::stoll(st.scalars.at("running_count")));
  return p;
}

}  // namespace gpunet::cli::train
