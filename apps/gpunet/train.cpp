// `gpunet train`: the seed's training loop as a product. Defaults are the seed's: LeNet,
// CIFAR-10, 10 epochs, batch 4, SGD lr 0.001 momentum 0.9, cross-entropy, cuda:0 if usable.
// run_train is the outline of a run; each concern lives in its own file (see train_run.h).
#include <cmath>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "gpunet/autocast.h"
#include "image_data.h"
#include "train_dist.h"
#include "train_options.h"
#include "train_run.h"
#include "train_tensorboard.h"

namespace gpunet::cli {
namespace {

using namespace train;

// CIFAR-10 binary or an image folder (image_data.h), said with its counts when --data is given.
TrainingData open_data(const TrainOptions& opt, const Say& say) {
  DataFlags f;
  f.data = opt.data;
  f.cache = opt.cache;
  f.image_size = opt.image_size;
  f.val_split = opt.val_split;
  f.seed = opt.seed;
  if (!opt.mean.empty()) f.mean = parse_channels("--mean", opt.mean, false);
  if (!opt.std_dev.empty()) f.std = parse_channels("--std", opt.std_dev, true);
  f.skip_bad = opt.skip_bad_images;
  f.quiet = opt.quiet;
  TrainingData d = open_training_data(f);
  if (!opt.resume.empty()) {  // the checkpoint's class names (train_checkpoint.cpp) must still be the data's
    const DataMeta m = read_data_meta(opt.resume);
    if (m.found && m.classes != d.meta.classes)
      throw InputError("--resume " + opt.resume + ": the checkpoint was trained on the classes " +
                       nlohmann::json(m.classes).dump() + ", the data now has " + nlohmann::json(d.meta.classes).dump() +
                       "; resume with the same data");
  }
  if (opt.world_rank == 0) {  // data parallel: rank 0 speaks
    if (d.sample) std::fprintf(stderr, "%s\n", d.note.c_str());
    if (!opt.data.empty()) say(d.summary);
  }
  return d;
}

std::shared_ptr<nn::Module> checked_net(const TrainOptions& opt, Generator& gen, Device device, const Say& say,
                                        int image_size, size_t classes) {
  std::shared_ptr<nn::Module> net = make_net(opt, gen, device, say, static_cast<int>(classes));
  if (image_size != 32) check_model_input(*net, opt, image_size, device);
  return net;
}

// How the epochs loop ended.
struct Outcome {
  bool stopped = false;    // by --max-steps or a signal, before the planned end
  int signal = 0;          // the signal seen after a step (one during the last epoch's end is not)
  int64_t trained = 0;     // steps this run took (not counting those before --resume)
  double seconds = 0;      // their wall time, the device synchronised
};

// One training run: its parts, built in this order (the order of their checks and messages).
class TrainRun {
 public:
  TrainRun(const TrainOptions& given, Device device, const Say& say, io::EventWriter& tb)
      : say_(say),
        tb_(tb),
        device_(device),
        opt_(given),
        resumed_(read_resume(given, opt_, say)),  // the checkpoint's settings win
        data_(open_data(opt_, say)),
        gen_(opt_.seed),
        net_(checked_net(opt_, gen_, device, say, data_.meta.image_size, data_.meta.classes.size())),
        optimizer_(make_optimizer(opt_, *net_)),
        loader_(data_.train, loader_options(opt_, device, data_.transforms)),
        step_(*net_, *optimizer_, parse_graph_mode(opt_.cuda_graph)),
        at_(resumed_ ? restore(*resumed_, *net_, *optimizer_, loader_, step_) : Position{}),
        metrics_(opt_.metrics, resumed_.has_value()),
        divergence_(opt_, *net_, step_),
        checkpoints_(opt_, *net_, *optimizer_, loader_, step_, divergence_, data_metadata(data_.meta)),
        progress_(opt_, planned_steps(), at_.steps),
        log_(opt_, step_, *optimizer_, metrics_, divergence_, progress_, tb) {
    // Over every planned epoch (--max-steps stops early, like an interrupt); after restore().
    attach_schedule(opt_, *optimizer_, loader_.epoch_size() * opt_.epochs);
    tb_.add_text("hparams", hparams_markdown(run_settings(opt_)), at_.steps);
    tb_.flush();
  }
  TrainRun(const TrainRun&) = delete;  // the parts hold references to each other
  // Data parallel (train_dist.h): agreement check, rank 0's state, the gradient all-reduce.
  void attach(DistRun& d) { d.attach(opt_, *net_, *optimizer_, data_.train->n, step_); }
  TrainRun& operator=(const TrainRun&) = delete;

  // The epochs, from where the run starts to --epochs, --max-steps or a signal.
  Outcome train() {
    Outcome out;
    const int64_t steps_at_start = at_.steps;
    const auto t0 = std::chrono::steady_clock::now();
    int64_t& steps = at_.steps;
    for (uint64_t epoch = at_.epoch; epoch < static_cast<uint64_t>(opt_.epochs) && !out.stopped; ++epoch) {
      if (loader_.epoch() != epoch) loader_.set_position(epoch, 0);
      for (data::Batch b; !out.stopped && loader_.next(b);) {
        step_(b.x, b.y);
        ++steps;
        log_.after_step(b.index, epoch, steps);
        checkpoints_.after_step(epoch, steps);
        progress_.update(epoch, steps);
        out.signal = signals_.received();
        out.stopped = (opt_.max_steps && steps >= opt_.max_steps) || out.signal;
      }
      // Divergence that no log line saw (e.g. --log-every larger than an epoch) stops here,
      // before the epoch's checkpoint could be written.
      divergence_.check_state(epoch, steps);
      if (out.stopped) break;
      step_.take_running_loss();  // the seed resets running_loss every epoch
      log_.end_of_epoch(*net_, *data_.train, *data_.test, data_.meta.transforms(), device_, epoch, steps);
      checkpoints_.end_of_epoch(steps);
    }
    progress_.clear();
    if (device_.is_cuda()) cuda::synchronize(device_.index());
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.trained = steps - steps_at_start;
    return out;
  }

  // After a signal: the state saved (unless diverged), one line saying where; 130 or 143.
  int interrupted(const Outcome& out) {
    const std::string where = checkpoints_.on_interrupt(at_.steps);
    std::fprintf(stderr, "gpunet: interrupted by %s at epoch %llu, step %lld%s\n", SignalWatch::name(out.signal),
                 static_cast<unsigned long long>(loader_.epoch() + 1), static_cast<long long>(at_.steps), where.c_str());
    return SignalWatch::exit_code(out.signal);
  }

  // The end of a run: "Finished Training", --save, the seed's accuracy table.
  int finish(const Outcome& out) {
    divergence_.check_final_weights();
    if (out.stopped) checkpoints_.after_stop(at_.steps);  // stopped by --max-steps mid-epoch
    if (!opt_.quiet) {
      std::printf("Finished Training\n");
      std::printf("trained %lld steps in %.2f s (%.0f images/s)\n", static_cast<long long>(out.trained), out.seconds,
                  out.trained * static_cast<double>(opt_.batch_size) / std::max(out.seconds, 1e-9));
    }
    if (!opt_.save.empty()) {
      io::save_weights(opt_.save, net_->state_dict(), data_metadata(data_.meta));  // classes, size, normalisation
      say_("weights saved to " + opt_.save);
    }
    const EvalResult final_test = evaluate(*net_, *data_.test, device_, 1000, data_.meta.transforms());
    if (opt_.world_rank == 0) print_accuracy(final_test, data_.test->classes);
    std::fflush(stdout);
    tb_.add_scalar("test/final_accuracy", final_test.accuracy(), at_.steps);
    tb_.flush();
    return 0;
  }

 private:
  int64_t planned_steps() const {
    const int64_t planned = loader_.epoch_size() * opt_.epochs;
    return opt_.max_steps ? std::min<int64_t>(opt_.max_steps, planned) : planned;
  }

  const Say& say_;
  io::EventWriter& tb_;
  const Device device_;
  TrainOptions opt_;
  const std::optional<io::TrainState> resumed_;
  const TrainingData data_;
  Generator gen_;
  const std::shared_ptr<nn::Module> net_;
  const std::unique_ptr<optim::Optimizer> optimizer_;
  data::DataLoader loader_;
  TrainStep step_;
  Position at_;
  Metrics metrics_;
  const Divergence divergence_;
  const CheckpointPolicy checkpoints_;
  const SignalWatch signals_;
  Progress progress_;
  LossLog log_;
};

}  // namespace

namespace {
int run_train_process(const TrainOptions& o, DistRun* dist) {
  set_threads(o.threads);
  const Say say{o.quiet};
  std::string why;
  const Device device = choose_device(o.device, &why);
  const Precision precision = parse_precision(o.precision, device);  // fp16 on the CPU: GPU-only, exit 2
  say(why);
  if (precision == Precision::BF16 && o.world_rank == 0) say("bf16 on the CPU, " + cpu_bf16_mode());
  const Autocast autocast(precision);  // the whole run: training steps and evaluations
  io::EventWriter tb = o.world_rank == 0 ? open_tensorboard(o) : io::EventWriter();  // rank 0 writes
  TrainRun run(o, device, say, tb);
  if (dist) run.attach(*dist);
  const Outcome out = run.train();
  if (out.signal) return run.interrupted(out);
  return run.finish(out);
}
}  // namespace

int run_train(const TrainOptions& given) {
  if (!given.recipe.empty()) return run_train_recipe(given);
  validate(given);
  TrainOptions o = given;
  const std::unique_ptr<DistRun> dist = DistRun::from_launcher(o);  // nullptr: one process, as always
  if (!dist) return run_train_process(o, nullptr);
  return dist->run([&] { return run_train_process(o, dist.get()); });
}

void register_train(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("train", "train a network (defaults: the PyTorch CIFAR-10 tutorial's LeNet run)");
  auto o = std::make_shared<TrainOptions>();
  add_train_flags(*cmd, *o);
  cmd->callback([o, cmd, &exit_code]() {
    for (const CLI::Option* f : cmd->get_options())
      if (f->count() > 0) o->given.insert(f->get_name());  // "--seed": what a recipe lets override
    // --epochs is parsed as a double (a recipe takes 0.03); LeNet's loop uses its whole part.
    if (std::isfinite(o->epochs_value) && o->epochs_value >= 0 && o->epochs_value <= 1e6)
      o->epochs = static_cast<int>(o->epochs_value);
    exit_code = run_train(*o);
  });
}

}  // namespace gpunet::cli
