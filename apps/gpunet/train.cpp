// `gpunet train`: the seed's training loop as a product. Defaults are the seed's: LeNet,
// CIFAR-10, 10 epochs, batch 4, SGD lr 0.001 momentum 0.9, cross-entropy, cuda:0 if usable.
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "gpunet/data/loader.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/lenet.h"
#include "gpunet/ops.h"
#include "gpunet/optim/adam.h"
#include "gpunet/optim/sgd.h"
#include "gpunet/train.h"
#include "train_options.h"

namespace gpunet::cli {
namespace {

volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

struct SignalScope {
  struct sigaction old_int {}, old_term {};
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string eta_str(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = static_cast<long>(s);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

class Metrics {
 public:
  Metrics(const std::string& path, bool append) {
    if (path.empty()) return;
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) throw InputError("--metrics " + path + ": cannot open for writing; check the folder exists and is writable");
  }
  void write(const nlohmann::json& j) {
    if (!out_.is_open()) return;
    out_ << j.dump() << "\n";
    out_.flush();
  }
  bool on() const { return out_.is_open(); }

 private:
  std::ofstream out_;
};

void print_accuracy(const EvalResult& r, const std::vector<std::string>& classes) {
  std::printf("Accuracy of the network on the %lld test images: %lld %%\n", static_cast<long long>(r.total),
              static_cast<long long>(r.total ? 100 * r.correct / r.total : 0));
  for (size_t c = 0; c < classes.size(); ++c) {
    const double acc = r.per_class_total[c] ? 100.0 * r.per_class_correct[c] / r.per_class_total[c] : 0.0;
    std::printf("Accuracy for class: %-5s is %.1f %%\n", classes[c].c_str(), acc);
  }
}

}  // namespace

int run_train(const TrainOptions& o) {
  validate(o);
  set_threads(o.threads);
  std::string why;
  const Device device = choose_device(o.device, &why);
  auto say = [&](const std::string& line) {
    if (!o.quiet) std::printf("%s\n", line.c_str()), std::fflush(stdout);
  };
  say(why);

  // ---- resume: the checkpoint's run settings win ---------------------------------
  io::TrainState resumed;
  TrainOptions opt = o;
  if (!o.resume.empty()) {
    resumed = io::load_train_state(o.resume);
    apply_resume_settings(resumed.scalars, opt);
    say("resuming from " + o.resume + " at epoch " + resumed.scalars.at("epoch") + ", batch " +
        resumed.scalars.at("batch_index") + " (step " + resumed.scalars.at("step") + ")");
  }

  const DataChoice dc = choose_data(opt.data);
  if (dc.sample) std::fprintf(stderr, "%s\n", dc.note.c_str());
  auto train_set = std::make_shared<data::Cifar10>(dc.dir, data::Split::Train);
  auto test_set = std::make_shared<data::Cifar10>(dc.dir, data::Split::Test);

  Generator gen(opt.seed);
  auto net = models::make_model(opt.model, gen);
  if (!opt.init.empty()) {
    io::load_weights(opt.init, net->state_dict(), opt.model == "lenet" ? "LeNet" : opt.model);
    say("initial weights from " + opt.init);
  }
  net->to(device);
  std::unique_ptr<optim::Optimizer> optimizer;
  if (opt.optimizer == "sgd") {
    optimizer = std::make_unique<optim::SGD>(*net, optim::SGDOptions{opt.lr, opt.momentum, 0.0, opt.weight_decay, opt.nesterov});
  } else {
    optim::AdamOptions ao;
    ao.lr = opt.lr;
    ao.weight_decay = opt.weight_decay;
    ao.decoupled_weight_decay = opt.optimizer == "adamw";
    optimizer = std::make_unique<optim::Adam>(*net, ao);
  }

  data::LoaderOptions lo;
  lo.batch_size = opt.batch_size;
  lo.shuffle = !opt.no_shuffle;
  lo.seed = opt.seed;
  lo.device = device;
  data::DataLoader loader(train_set, lo);
  TrainStep step(*net, *optimizer,
                 opt.cuda_graph == "on" ? GraphMode::On : opt.cuda_graph == "off" ? GraphMode::Off : GraphMode::Auto);

  uint64_t start_epoch = 0;
  int64_t steps = 0;
  if (!o.resume.empty()) {
    net->load_state_dict(resumed.model, true);
    optimizer->load_state(resumed.optimizer, resumed.scalars);
    start_epoch = std::stoull(resumed.scalars.at("epoch"));
    loader.set_position(start_epoch, std::stoll(resumed.scalars.at("batch_index")));
    steps = std::stoll(resumed.scalars.at("step"));
    step.set_running(std::stod(resumed.scalars.at("running_sum")), std::stoll(resumed.scalars.at("running_count")));
  }

  Metrics metrics(opt.metrics, !o.resume.empty());
  auto save_state = [&](const std::string& path) {
    io::TrainState st;
    st.model = net->state_dict();
    st.optimizer = optimizer->state_tensors();
    st.scalars = run_settings(opt);
    for (auto& [k, v] : optimizer->state_scalars()) st.scalars[k] = v;
    st.scalars["epoch"] = std::to_string(loader.epoch());
    st.scalars["batch_index"] = std::to_string(loader.batch_index());
    st.scalars["step"] = std::to_string(steps);
    st.scalars["running_sum"] = fmt_double(step.running_sum());
    st.scalars["running_count"] = std::to_string(step.running_count());
    io::save_train_state(path, st);
  };
  auto weights_finite = [&]() {
    for (auto& p : net->parameters())
      if (!ops::all_finite(p)) return false;
    return true;
  };

  // The one-line error for a diverged loss, naming where and what was kept.
  auto diverged = [&](const std::string& what, uint64_t epoch) {
    std::error_code ec;
    const bool kept = !opt.checkpoint.empty() && std::filesystem::exists(opt.checkpoint, ec);
    return InputError("the loss diverged (" + what + ") at epoch " + std::to_string(epoch + 1) + ", step " +
                      std::to_string(steps) +
                      (kept ? "; the last good checkpoint " + opt.checkpoint + " is kept" : std::string()) +
                      "; try a smaller --lr");
  };

  SignalScope signals;
  g_signal = 0;
  const bool tty = stderr_is_tty() && !o.quiet;
  const int64_t per_epoch = loader.epoch_size();
  const int64_t total_steps = opt.max_steps ? std::min<int64_t>(opt.max_steps, per_epoch * opt.epochs) : per_epoch * opt.epochs;
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto last_bar = t0;
  const int64_t steps_at_start = steps;
  auto window_t = t0;
  int64_t window_steps = 0;
  bool stop = false;
  int exit_code = 0;

  for (uint64_t epoch = start_epoch; epoch < static_cast<uint64_t>(opt.epochs) && !stop; ++epoch) {
    if (loader.epoch() != epoch) loader.set_position(epoch, 0);
    for (data::Batch b; !stop && loader.next(b);) {
      step(b.x, b.y);
      ++steps;
      ++window_steps;
      const int64_t i = b.index;
      if (i % opt.log_every == opt.log_every - 1) {
        const double mean = step.take_running_loss();
        const auto now = clock::now();
        const double secs = std::chrono::duration<double>(now - window_t).count();
        const double ips = secs > 0 ? window_steps * static_cast<double>(opt.batch_size) / secs : 0.0;
        window_t = now;
        window_steps = 0;
        if (!std::isfinite(mean)) throw diverged(std::isnan(mean) ? "nan" : "inf", epoch);
        if (tty) std::fprintf(stderr, "\r\033[K");
        if (!o.quiet) std::printf("[%d, %5lld] loss: %.3f\n", static_cast<int>(epoch + 1), static_cast<long long>(i + 1), mean), std::fflush(stdout);
        metrics.write({{"step", steps}, {"epoch", epoch + 1}, {"loss", mean}, {"images_per_second", ips}});
      }
      if (opt.checkpoint_every && steps % opt.checkpoint_every == 0 && !opt.checkpoint.empty()) {
        if (!std::isfinite(step.running_sum()) || !weights_finite()) throw diverged("non-finite values", epoch);
        save_state(opt.checkpoint);
      }
      if (tty) {
        const auto now = clock::now();
        if (std::chrono::duration<double>(now - last_bar).count() > 0.25) {
          last_bar = now;
          const double el = std::chrono::duration<double>(now - t0).count();
          const double rate = (steps - steps_at_start) / std::max(el, 1e-9);
          std::fprintf(stderr, "\r\033[Kepoch %llu/%d  step %lld/%lld  %.0f img/s  ETA %s",
                       static_cast<unsigned long long>(epoch + 1), opt.epochs, static_cast<long long>(steps),
                       static_cast<long long>(total_steps), rate * opt.batch_size,
                       eta_str((total_steps - steps) / std::max(rate, 1e-9)).c_str());
        }
      }
      if (opt.max_steps && steps >= opt.max_steps) stop = true;
      if (g_signal) {
        stop = true;
        exit_code = g_signal == SIGINT ? 130 : 143;
      }
    }
    // Divergence that no log line saw (e.g. --log-every larger than an epoch) stops here,
    // before the epoch's checkpoint could be written.
    if (!std::isfinite(step.running_sum()) || !weights_finite()) throw diverged("non-finite values", epoch);
    if (!stop) step.take_running_loss();  // the seed resets running_loss every epoch
    if (metrics.on() && !stop) {
      auto r = evaluate(*net, *test_set, device);
      metrics.write({{"epoch", epoch + 1}, {"step", steps}, {"test_accuracy", r.accuracy()}, {"test_loss", r.mean_loss}});
    }
    if (!opt.checkpoint.empty() && !stop) save_state(opt.checkpoint);
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (device.is_cuda()) cuda::synchronize(device.index());
  const double train_s = std::chrono::duration<double>(clock::now() - t0).count();

  if (exit_code) {
    std::string where;
    if (!opt.checkpoint.empty() && !(std::isfinite(step.running_sum()) && weights_finite())) {
      where = "; the loss had diverged, so the training state was not saved (the last good checkpoint " +
              opt.checkpoint + " is kept)";
    } else if (!opt.checkpoint.empty()) {
      save_state(opt.checkpoint);
      where = "; training state saved to " + opt.checkpoint + " (continue with --resume " + opt.checkpoint + ")";
    }
    std::fprintf(stderr, "gpunet: interrupted by %s at epoch %llu, step %lld%s\n", exit_code == 130 ? "SIGINT" : "SIGTERM",
                 static_cast<unsigned long long>(loader.epoch() + 1), static_cast<long long>(steps), where.c_str());
    return exit_code;
  }
  if (!weights_finite())
    throw InputError("the weights are not finite after training (the loss diverged); try a smaller --lr");
  if (!opt.checkpoint.empty() && stop) save_state(opt.checkpoint);  // stopped by --max-steps mid-epoch

  if (!o.quiet) std::printf("Finished Training\n");
  if (!o.quiet)
    std::printf("trained %lld steps in %.2f s (%.0f images/s)\n", static_cast<long long>(steps - steps_at_start), train_s,
                (steps - steps_at_start) * static_cast<double>(opt.batch_size) / std::max(train_s, 1e-9));
  if (!opt.save.empty()) {
    io::save_weights(opt.save, net->state_dict());
    say("weights saved to " + opt.save);
  }
  auto r = evaluate(*net, *test_set, device);
  print_accuracy(r, test_set->classes);
  std::fflush(stdout);
  return 0;
}

void register_train(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("train", "train a network (defaults: the PyTorch CIFAR-10 tutorial's LeNet run)");
  auto o = std::make_shared<TrainOptions>();
  add_train_flags(*cmd, *o);
  cmd->callback([o, &exit_code]() { exit_code = run_train(*o); });
}

}  // namespace gpunet::cli
