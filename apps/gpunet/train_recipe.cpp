// `gpunet train --recipe NAME`: a recipe's run (include/gpunet/train/recipe.h) through the
// library's loop (recipe_run.h), with the per-epoch lines, the final test accuracy with TTA, the
// time split as the recipe's reference measures it, and a final JSON line like the reference's.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "common.h"
#include "gpunet/autocast.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/error.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/registry.h"
#include "gpunet/train/recipe_run.h"
#include "train_options.h"
#include "train_run.h"
#include "train_tensorboard.h"

namespace gpunet::cli {
namespace {

// Flags a recipe run honours; any other training flag given with --recipe is refused, so that
// nothing given is silently ignored.
const std::set<std::string> kRecipeFlags = {"--recipe", "--data",      "--device",  "--seed",    "--max-steps",
                                            "--no-augment", "--no-tta", "--no-shuffle", "--init", "--save",
                                            "--metrics", "--batch-size", "--epochs", "--threads", "--quiet",
                                            "--model", "--tensorboard", "--checkpoint", "--checkpoint-every", "--resume",
                                            "--precision"};

void check_recipe_flags(const TrainOptions& o, const ::gpunet::train::Recipe& r) {
  for (const std::string& f : o.given)
    if (!kRecipeFlags.count(f))
      throw InputError(f + " cannot be combined with --recipe " + r.name +
                       " (the recipe sets it); flags a recipe run takes: --data --device --seed --max-steps "
                       "--batch-size --epochs --no-augment --no-tta --no-shuffle --init --save --metrics --threads "
                       "--quiet --tensorboard --checkpoint --checkpoint-every --resume --precision");
  if (o.checkpoint_every < 0) throw InputError("--checkpoint-every " + std::to_string(o.checkpoint_every) + ": must be >= 0");
  if (o.checkpoint_every > 0 && o.checkpoint.empty()) throw InputError("--checkpoint-every needs --checkpoint FILE");
  if (!o.resume.empty() && !o.init.empty()) throw InputError("--resume and --init: the training state holds the weights; give one");
  if (o.given.count("--model")) model_flag(o.model);  // an unknown model: the list of known ones
  if (o.given.count("--model") && o.model != r.model)
    throw InputError("--model " + o.model + ": --recipe " + r.name + " trains " + r.model);
  if (o.given.count("--epochs") && !(std::isfinite(o.epochs_value) && o.epochs_value > 0))
    throw InputError("--epochs " + fmt_number(o.epochs_value) + ": must be above 0 (fractional allowed: 0.03)");
  if (o.max_steps < 0) throw InputError("--max-steps " + std::to_string(o.max_steps) + ": must be >= 0");
  if (o.given.count("--batch-size") && o.batch_size < 1)
    throw InputError("--batch-size " + std::to_string(o.batch_size) + ": must be at least 1");
}

nlohmann::json or_null(double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }

// "  93.21%" (9 characters, the table's column).
std::string fmt_percent(double a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%8.2f%%", 100.0 * a);
  return buf;
}

// 17 significant digits: a double that reads back equal.
std::string fmt_number_exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// --resume with --recipe: the state must be this recipe's; its batch size, epochs, seed,
// augmentation and shuffling are adopted unless given (a given one that differs is refused by
// the run, naming both).
void adopt_recipe_settings(const io::TrainState& st, const ::gpunet::train::Recipe& r, TrainOptions& o) {
  auto it = st.scalars.find("recipe");
  if (it == st.scalars.end())
    throw InputError("--resume " + o.resume + ": a training state of gpunet train without --recipe; resume it without --recipe");
  if (it->second != r.name)
    throw InputError("--resume " + o.resume + ": a training state of --recipe " + it->second + ", not " + r.name);
  auto get = [&](const std::string& k) {
    auto f = st.scalars.find(k);
    if (f == st.scalars.end()) throw InputError("--resume " + o.resume + ": the training state has no '" + k + "'");
    return f->second;
  };
  try {
    if (!o.given.count("--batch-size")) o.batch_size = std::stoll(get("recipe.batch_size")), o.given.insert("--batch-size");
    if (!o.given.count("--epochs")) o.epochs_value = std::stod(get("recipe.epochs")), o.given.insert("--epochs");
    if (!o.given.count("--seed")) o.seed = std::stoull(get("recipe.seed"));
  } catch (const std::logic_error&) {
    throw InputError("--resume " + o.resume + ": a malformed setting; the file is corrupt");
  }
  if (!o.given.count("--no-augment")) o.no_augment = get("recipe.augment") == "0";
  if (!o.given.count("--no-shuffle")) o.no_shuffle = get("recipe.shuffle") == "0";
}

}  // namespace

void add_recipe_flags(CLI::App& cmd, TrainOptions& o) {
  cmd.add_option("--recipe", o.recipe,
                 "train by a recipe (model, data, optimizer, schedules, evaluation): " + ::gpunet::train::known_recipes() +
                     "; --data --device --seed --max-steps --batch-size --epochs --init --save --metrics override");
  cmd.add_flag("--no-augment", o.no_augment, "with --recipe: no random translate or flip");
  cmd.add_flag("--no-tta", o.no_tta, "with --recipe: the final test without test-time augmentation");
}

int run_train_recipe(const TrainOptions& given) {
  const ::gpunet::train::Recipe& r = ::gpunet::train::recipe(given.recipe);  // InputError listing the known recipes
  check_recipe_flags(given, r);
  TrainOptions o = given;
  std::optional<io::TrainState> resumed;
  if (!o.resume.empty()) {
    resumed = io::load_train_state(o.resume);
    adopt_recipe_settings(*resumed, r, o);
  }
  set_threads(o.threads);
  const train::Say say{o.quiet};
  std::string why;
  const Device device = choose_device(o.device, &why);
  const Precision precision = parse_precision(o.precision, device);  // fp16 on the CPU: GPU-only, exit 2
  say(why);
  if (precision == Precision::BF16) say("bf16 on the CPU, " + cpu_bf16_mode());
  const Autocast autocast(precision);  // the whole run: whitening, steps, evaluations
  io::EventWriter tb = open_tensorboard(o);  // a folder that cannot be written stops here
  const DataChoice dc = choose_data(o.data);
  if (dc.sample) std::fprintf(stderr, "%s\n", dc.note.c_str());
  auto train_set = std::make_shared<data::Cifar10>(dc.dir, data::Split::Train);
  auto test_set = std::make_shared<data::Cifar10>(dc.dir, data::Split::Test);

  const models::ModelEntry& entry = model_flag(r.model);
  Generator gen(o.seed);
  std::shared_ptr<nn::Module> net = entry.make(gen);
  if (!o.init.empty()) {
    load_weights_into(*net, entry, o.init);  // the file's whitening is used as it is
    say("initial weights from " + o.init + " (whitening included)");
  }

  ::gpunet::train::RecipeRunOptions ro;
  ro.device = device;
  ro.seed = o.seed;
  if (o.given.count("--batch-size")) ro.batch_size = o.batch_size;
  if (o.given.count("--epochs")) ro.epochs = o.epochs_value;
  ro.max_steps = o.max_steps;
  // --max-steps 0 (given): the initialised network, whitening included, and no step.
  ro.initialise_only = o.given.count("--max-steps") && o.max_steps == 0;
  ro.augment = !o.no_augment;
  ro.shuffle = !o.no_shuffle;
  ro.tta = !o.no_tta;
  ro.whiten_from_data = o.init.empty();
  ro.resume = resumed ? &*resumed : nullptr;
  if (resumed) say("resuming from " + o.resume + " at step " + resumed->scalars.at("recipe.step"));
  // --checkpoint: every --checkpoint-every steps, each epoch's end, a --max-steps stop, a signal.
  const train::SignalWatch signals;
  int signal = 0;
  ro.stop = [&] { return (signal = signals.received()) != 0; };
  ro.checkpoint_every = o.checkpoint.empty() ? 0 : o.checkpoint_every;
  if (!o.checkpoint.empty())
    ro.on_checkpoint = [&](const io::TrainState& st) {
      io::TrainState out = st;
      out.scalars["recipe.epochs"] = fmt_number_exact(ro.epochs > 0 ? ro.epochs : r.epochs);
      io::save_train_state(o.checkpoint, out);
    };
  train::Metrics metrics(o.metrics, false);
  const int64_t batch = ro.batch_size > 0 ? ro.batch_size : r.batch_size;
  const double epochs = ro.epochs > 0 ? ro.epochs : r.epochs;
  const int64_t total = ::gpunet::train::total_steps(r, train_set->n, batch, epochs);
  const int64_t epochs_planned = (total + ::gpunet::train::steps_per_epoch(r, train_set->n, batch) - 1) /
                                 ::gpunet::train::steps_per_epoch(r, train_set->n, batch);
  say("recipe " + r.name + ": batch " + std::to_string(batch) + ", " + std::to_string(total) + " steps (" +
      std::to_string(epochs_planned) + (epochs_planned == 1 ? " epoch)" : " epochs)") +
      (ro.initialise_only                               ? ", --max-steps 0: initialising only"
       : o.max_steps > 0 && o.max_steps < total ? ", stopping after " + std::to_string(o.max_steps)
                                                  : ""));
  const bool table = !o.quiet && !ro.initialise_only;
  if (table) std::printf("epoch  steps  train_loss  train_acc   val_acc        lr   seconds\n");
  // The progress bar (on a terminal, as with LeNet) over the planned steps.
  TrainOptions po = o;
  po.epochs = static_cast<int>(epochs_planned);
  po.batch_size = batch;
  train::Progress progress(po, total, 0);
  const int64_t per_epoch = ::gpunet::train::steps_per_epoch(r, train_set->n, batch);
  if (progress.on())
    ro.on_step = [&](int64_t step, double) { progress.update(static_cast<uint64_t>((step - 1) / per_epoch), step); };
  tb.add_text("hparams", hparams_markdown(recipe_hparams(r, o, batch, total)), 0);
  int64_t steps_done = 0;  // the TensorBoard step: steps over all epochs so far
  ro.on_epoch = [&](const ::gpunet::train::EpochStats& st) {
    progress.clear();
    steps_done += st.steps;
    tb_epoch(tb, st, steps_done);
    const std::string val = st.val_accuracy < 0 ? "        -" : fmt_percent(st.val_accuracy);
    if (table)
      std::printf("%5lld  %5lld  %10.4f  %s  %s  %8.6f  %8.2f\n", static_cast<long long>(st.epoch + 1),
                  static_cast<long long>(st.steps), st.train_loss, fmt_percent(st.train_accuracy).c_str(), val.c_str(),
                  st.lr, st.seconds);
    std::fflush(stdout);
    if (metrics.on())
      metrics.write({{"epoch", st.epoch + 1}, {"steps", st.steps}, {"train_loss", st.train_loss},
                     {"train_accuracy", st.train_accuracy}, {"val_accuracy", or_null(st.val_accuracy)},
                     {"lr", st.lr}, {"seconds", st.seconds}, {"val_seconds", st.val_seconds}});
  };

  const ::gpunet::train::RecipeResult res = ::gpunet::train::run_recipe(r, *net, train_set, test_set, ro);
  if (res.interrupted) {
    progress.clear();
    std::fprintf(stderr, "gpunet: interrupted by %s at step %lld%s\n", train::SignalWatch::name(signal),
                 static_cast<long long>(res.steps),
                 o.checkpoint.empty() ? ""
                                      : ("; training state saved to " + o.checkpoint + " (continue with --resume " +
                                         o.checkpoint + ")")
                                            .c_str());
    return train::SignalWatch::exit_code(signal);
  }
  progress.clear();
  if (!o.quiet && ro.initialise_only) {
    std::printf("initialised (whitening %.2f s), no training step\n", res.whiten_seconds);
  } else if (!o.quiet) {
    if (res.completed) {
      if (res.tta_accuracy >= 0)
        std::printf("test accuracy %.2f%% with TTA (%.2f%% without)\n", 100.0 * res.tta_accuracy,
                    100.0 * res.test_accuracy);
      else
        std::printf("test accuracy %.2f%% (no TTA)\n", 100.0 * res.test_accuracy);
    } else {
      std::printf("stopped after %lld of %lld steps: no final ema copy and no test\n",
                  static_cast<long long>(res.steps), static_cast<long long>(res.total_steps));
    }
    std::printf("time: whitening %.2f s + data %.2f s + training %.2f s = %.2f s; final test (TTA) %.2f s; "
                "per-epoch validation %.2f s (not counted)\n",
                res.whiten_seconds, res.data_seconds, res.loop_seconds, res.train_seconds, res.eval_seconds,
                res.val_seconds);
  }
  if (!o.save.empty()) {
    io::save_weights(o.save, net->state_dict());
    say("weights saved to " + o.save);
  }
  const nlohmann::json j = {{"recipe", r.name},
                            {"device", device.str()},
                            {"precision", precision_name(precision)},
                            {"batch_size", batch},
                            {"steps", res.steps},
                            {"total_steps", res.total_steps},
                            {"images_per_second", res.images_per_second},
                            {"whiten_seconds", res.whiten_seconds},
                            {"data_seconds", res.data_seconds},
                            {"train_seconds", res.train_seconds},
                            {"seconds_including_eval", res.train_seconds + res.eval_seconds},
                            {"val_seconds", res.val_seconds},
                            {"last_loss_sum", res.last_loss_sum},
                            {"test_accuracy", or_null(o.no_tta ? res.test_accuracy : res.tta_accuracy)},
                            {"test_accuracy_no_tta", or_null(res.test_accuracy)}};
  if (metrics.on()) metrics.write(j);
  tb_final(tb, res);
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace gpunet::cli
