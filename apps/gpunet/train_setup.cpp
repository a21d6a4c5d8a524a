// `gpunet train` setup: the model from the registry (with --init), the optimizer choice and its
// --lr-schedule, and the training loader's options.
#include <algorithm>
#include <cstdio>

#include "common.h"
#include "gpunet/autograd.h"
#include "gpunet/optim/adam.h"
#include "gpunet/optim/sgd.h"
#include "train_run.h"

namespace gpunet::cli::train {

void Say::operator()(const std::string& line) const {
  if (quiet) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::shared_ptr<nn::Module> make_net(const TrainOptions& opt, Generator& gen, Device device, const Say& say,
                                     int num_classes) {
  const models::ModelEntry& entry = model_flag(opt.model);
  std::shared_ptr<nn::Module> net = make_for_classes(entry, num_classes, gen);
  if (!opt.init.empty()) {
    load_weights_into(*net, entry, opt.init);
    say("initial weights from " + opt.init);
  }
  net->to(device);
  return net;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& opt, nn::Module& net) {
  if (opt.optimizer == "sgd")
    return std::make_unique<optim::SGD>(net, optim::SGDOptions{opt.lr, opt.momentum, 0.0, opt.weight_decay, opt.nesterov});
  // validate() allows sgd, adam and adamw only.
  optim::AdamOptions ao;
  ao.lr = opt.lr;
  ao.weight_decay = opt.weight_decay;
  ao.decoupled_weight_decay = opt.optimizer == "adamw";
  return std::make_unique<optim::Adam>(net, ao);
}

void attach_schedule(TrainOptions& opt, optim::Optimizer& optimizer, int64_t planned_steps) {
  if (opt.schedule_steps == 0) opt.schedule_steps = std::max<int64_t>(planned_steps, 1);  // a resume keeps its own
  const optim::Schedule s = optim::Schedule::parse(opt.lr_schedule);
  if (s.kind() != optim::Schedule::Kind::Constant) optimizer.set_schedule(s, opt.schedule_steps);
}

data::LoaderOptions loader_options(const TrainOptions& opt, Device device, const data::Transforms& t) {
  data::LoaderOptions lo;
  lo.transforms = t;
  lo.batch_size = opt.batch_size;
  lo.shuffle = !opt.no_shuffle;
  lo.seed = opt.seed;
  lo.device = device;
  lo.num_replicas = opt.world_size;  // data parallel: this rank's share (train_dist.h)
  lo.rank = opt.world_rank;
  return lo;
}

void check_model_input(nn::Module& net, const TrainOptions& opt, int size, Device device) {
  NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  try {
    (void)net.forward(Tensor::zeros({1, 3, size, size}, DType::Float32, device));
  } catch (const Error& e) {
    if (was_training) net.train();
    throw InputError("--model " + opt.model + " cannot take " + std::to_string(size) + "x" + std::to_string(size) +
                     " images (" + e.what() + "); use --image-size 32" + (opt.model == "lenet" ? " (LeNet's fully connected layer is sized for 32x32)" : "") +
                     ", or --model resnet18, which pools globally before its head");
  }
  if (was_training) net.train();
}

}  // namespace gpunet::cli::train
