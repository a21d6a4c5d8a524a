// `gpunet train` output: the seed's loss lines and accuracy table on stdout, --metrics JSON
// lines, and the progress bar on a terminal's stderr.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "train_run.h"

namespace gpunet::cli::train {
namespace {

using clock = std::chrono::steady_clock;

double seconds(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string eta_str(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = static_cast<long>(s);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

}  // namespace

Metrics::Metrics(const std::string& path, bool append) {
  if (path.empty()) return;
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  if (!out_) throw InputError("--metrics " + path + ": cannot open for writing; check the folder exists and is writable");
}

void Metrics::write(const nlohmann::json& j) {
  if (!out_.is_open()) return;
  out_ << j.dump() << "\n";
  out_.flush();
}

Progress::Progress(const TrainOptions& opt, int64_t total_steps, int64_t steps_at_start)
    : on_(stderr_is_tty() && !opt.quiet),
      epochs_(opt.epochs),
      batch_size_(opt.batch_size),
      total_steps_(total_steps),
      steps_at_start_(steps_at_start),
      t0_(clock::now()),
      last_(t0_) {}

void Progress::update(uint64_t epoch, int64_t steps) {
  if (!on_) return;
  const auto now = clock::now();
  if (seconds(last_, now) <= 0.25) return;
  last_ = now;
  const double rate = (steps - steps_at_start_) / std::max(seconds(t0_, now), 1e-9);
  std::fprintf(stderr, "\r\033[Kepoch %llu/%d  step %lld/%lld  %.0f img/s  ETA %s", static_cast<unsigned long long>(epoch + 1),
               epochs_, static_cast<long long>(steps), static_cast<long long>(total_steps_),
               rate * static_cast<double>(batch_size_), eta_str((total_steps_ - steps) / std::max(rate, 1e-9)).c_str());
}

void Progress::clear() const {
  if (on_) std::fprintf(stderr, "\r\033[K");
}

LossLog::LossLog(const TrainOptions& opt, TrainStep& step, const optim::Optimizer& optimizer, Metrics& metrics,
                 const Divergence& divergence, const Progress& progress, io::EventWriter& tb)
    : opt_(opt),
      step_(step),
      optimizer_(optimizer),
      metrics_(metrics),
      divergence_(divergence),
      progress_(progress),
      tb_(tb),
      window_t_(clock::now()) {}

void LossLog::after_step(int64_t batch_index, uint64_t epoch, int64_t steps) {
  ++window_steps_;
  if (batch_index % opt_.log_every != opt_.log_every - 1) return;
  const double mean = step_.take_running_loss();
  const auto now = clock::now();
  const double secs = seconds(window_t_, now);
  const double ips = secs > 0 ? window_steps_ * static_cast<double>(opt_.batch_size) / secs : 0.0;
  window_t_ = now;
  window_steps_ = 0;
  divergence_.check_loss(mean, epoch, steps);
  progress_.clear();
  if (!opt_.quiet) {
    std::printf("[%d, %5lld] loss: %.3f\n", static_cast<int>(epoch + 1), static_cast<long long>(batch_index + 1), mean);
    std::fflush(stdout);
  }
  const double lr = optimizer_.current_lr(0);
  if (metrics_.on())
    metrics_.write({{"step", steps}, {"epoch", epoch + 1}, {"loss", mean}, {"images_per_second", ips}, {"lr", lr}});
  tb_.add_scalar("train/loss", mean, steps);
  tb_.add_scalar("train/lr", lr, steps);
  tb_.add_scalar("train/images_per_second", ips, steps);
  tb_.flush();
}

void LossLog::end_of_epoch(nn::Module& net, const data::ImageDataset& train, const data::ImageDataset& test,
                           Device device, uint64_t epoch, int64_t steps) {
  if (!metrics_.on() && !tb_.enabled()) return;
  const EvalResult r = evaluate(net, test, device);
  metrics_.write({{"epoch", epoch + 1}, {"step", steps}, {"test_accuracy", r.accuracy()}, {"test_loss", r.mean_loss}});
  if (!tb_.enabled()) return;
  tb_.add_scalar("test/accuracy", r.accuracy(), steps);
  tb_.add_scalar("test/loss", r.mean_loss, steps);
  tb_.add_scalar("train/accuracy", evaluate(net, train, device).accuracy(), steps);
  tb_.flush();
}

void print_accuracy(const EvalResult& r, const std::vector<std::string>& classes) {
  std::printf("Accuracy of the network on the %lld test images: %lld %%\n", static_cast<long long>(r.total),
              static_cast<long long>(r.total ? 100 * r.correct / r.total : 0));
  for (size_t c = 0; c < classes.size(); ++c) {
    const double acc = r.per_class_total[c] ? 100.0 * r.per_class_correct[c] / r.per_class_total[c] : 0.0;
    std::printf("Accuracy for class: %-5s is %.1f %%\n", classes[c].c_str(), acc);
  }
}

}  // namespace gpunet::cli::train
