// `gpunet train --tensorboard DIR`: opening the event writer and the hyper-parameters text. What
// is logged where: train_report.cpp (LeNet/generic runs: loss, lr and images/s at every log line,
// train and test accuracy per epoch, the final test accuracy) and train_recipe.cpp (per epoch).
#include "train_tensorboard.h"

#include <cstdio>
#include <map>
#include <string>

namespace gpunet::cli {

io::EventWriter open_tensorboard(const TrainOptions& o) {
  if (o.tensorboard.empty()) return io::EventWriter();
  return io::EventWriter(o.tensorboard);  // InputError for a folder that cannot be written
}

std::string hparams_markdown(const std::map<std::string, std::string>& settings) {
  std::string md = "| setting | value |\n|---|---|\n";
  for (const auto& [k, v] : settings) md += "| " + k + " | " + v + " |\n";
  return md;
}

}  // namespace gpunet::cli

namespace gpunet::cli {
namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::map<std::string, std::string> recipe_hparams(const ::gpunet::train::Recipe& r, const TrainOptions& o,
                                                  int64_t batch, int64_t total_steps) {
  return {{"recipe", r.name},
          {"model", r.model},
          {"batch_size", std::to_string(batch)},
          {"total_steps", std::to_string(total_steps)},
          {"max_steps", std::to_string(o.max_steps)},
          {"lr", num(r.lr)},
          {"momentum", num(r.momentum)},
          {"nesterov", r.nesterov ? "1" : "0"},
          {"label_smoothing", num(r.label_smoothing)},
          {"seed", std::to_string(o.seed)},
          {"augment", o.no_augment ? "0" : "1"},
          {"shuffle", o.no_shuffle ? "0" : "1"},
          {"tta", o.no_tta ? "0" : "1"}};
}

void tb_epoch(io::EventWriter& tb, const ::gpunet::train::EpochStats& st, int64_t step) {
  tb.add_scalar("train/loss", st.train_loss, step);
  tb.add_scalar("train/accuracy", st.train_accuracy, step);
  tb.add_scalar("train/lr", st.lr, step);
  if (st.val_accuracy >= 0) tb.add_scalar("test/accuracy", st.val_accuracy, step);  // the epoch's validation
  tb.flush();
}

void tb_final(io::EventWriter& tb, const ::gpunet::train::RecipeResult& res) {
  tb.add_scalar("train/images_per_second", res.images_per_second, res.steps);
  if (res.completed) {
    tb.add_scalar("test/final_accuracy", res.tta_accuracy >= 0 ? res.tta_accuracy : res.test_accuracy, res.steps);
    tb.add_scalar("test/accuracy_no_tta", res.test_accuracy, res.steps);
  }
  tb.flush();
}

}  // namespace gpunet::cli
