// `gpunet eval --checkpoint FILE`: test accuracy, per-class accuracy and mean loss. Without
// --model the model is recognised from the checkpoint's tensor names (said on stderr). A model a
// recipe trains (airbench94) is evaluated with the recipe's normalisation; --tta adds its views.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "gpunet/autograd.h"
#include "gpunet/data/loader.h"
#include "gpunet/ops.h"
#include "gpunet/train.h"
#include "gpunet/train/recipe_run.h"

namespace gpunet::cli {
namespace {

struct EvalOptions {
  std::string checkpoint, data, device, model;  // empty: recognised from the checkpoint
  int64_t batch_size = 1000;
  bool json = false, tta = false;
  int threads = 0;
};

// evaluate()'s figures for a model a recipe trains: the recipe's normalisation, and the logits of
// its TTA views (weighted) with `tta`, else of the images as they are.
EvalResult evaluate_recipe_model(const ::gpunet::train::Recipe& rec, nn::Module& net, const data::ImageDataset& ds,
                                 Device device, int64_t batch_size, bool tta) {
  NoGradGuard no_grad;
  net.eval();
  auto view = std::shared_ptr<const data::ImageDataset>(&ds, [](const data::ImageDataset*) {});
  auto opts = data::LoaderOptions::evaluation(batch_size, device, rec.transforms);
  opts.prefetch = false;
  data::DataLoader loader(view, opts);
  const std::vector<::gpunet::train::TtaView> plain = {::gpunet::train::TtaView{}};
  EvalResult r;
  r.per_class_correct.assign(ds.num_classes(), 0);
  r.per_class_total.assign(ds.num_classes(), 0);
  double loss_sum = 0;
  for (data::Batch b; loader.next(b);) {
    const Tensor logits = ::gpunet::train::tta_logits(net, b.x, tta ? rec.tta : plain);
    loss_sum += ops::cross_entropy(logits, b.y).item() * static_cast<double>(b.size);
    const auto pred = ops::argmax(logits, 1).to_vector<int64_t>(), truth = b.y.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) {
      r.per_class_total[truth[i]]++;
      if (pred[i] == truth[i]) r.per_class_correct[truth[i]]++, r.correct++;
    }
    r.total += b.size;
  }
  r.mean_loss = r.total ? loss_sum / static_cast<double>(r.total) : 0.0;
  return r;
}

int run_eval(const EvalOptions& o) {
  if (o.batch_size < 1) throw InputError("--batch-size " + std::to_string(o.batch_size) + ": must be at least 1");
  set_threads(o.threads);
  std::string why;
  const Device device = choose_device(o.device, &why);
  const DataChoice dc = choose_data(o.data);
  if (dc.sample) std::fprintf(stderr, "%s\n", dc.note.c_str());
  data::Cifar10 test(dc.dir, data::Split::Test);  // a bad dataset fails before the model is chosen
  const LoadedModel m = load_model(o.model, o.checkpoint);
  nn::Module* net = m.net.get();
  net->to(device);
  const auto* rec = ::gpunet::train::recipe_for_model(m.entry->name);
  if (o.tta && (!rec || rec->tta.empty()))
    throw InputError("--tta: model " + m.entry->name + " has no test-time augmentation (a recipe's model has: " +
                     ::gpunet::train::known_recipes() + ")");
  // A recipe's model (airbench94) is evaluated with the recipe's normalisation (and --tta views).
  EvalResult r = rec ? evaluate_recipe_model(*rec, *net, test, device, o.batch_size, o.tta)
                     : evaluate(*net, test, device, o.batch_size);
  if (rec) std::fprintf(stderr, "gpunet: %s normalisation, %s\n", rec->name.c_str(),
                        o.tta ? "TTA over the recipe's 6 views" : "no TTA (--tta for the recipe's views)");
  if (o.json) {
    nlohmann::json j = {{"correct", r.correct},         {"total", r.total},
                        {"accuracy", r.accuracy()},     {"mean_loss", r.mean_loss},
                        {"per_class_correct", r.per_class_correct}, {"per_class_total", r.per_class_total},
                        {"classes", test.classes},      {"device", device.str()},
                        {"model", m.entry->name},      {"tta", o.tta}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::fprintf(stderr, "%s\n", why.c_str());
  std::printf("Accuracy of the network on the %lld test images: %.2f %% (%lld correct)\n", static_cast<long long>(r.total),
              100.0 * r.accuracy(), static_cast<long long>(r.correct));
  std::printf("Mean loss: %.4f\n", r.mean_loss);
  for (size_t c = 0; c < test.classes.size(); ++c)
    std::printf("Accuracy for class: %-5s is %.1f %%\n", test.classes[c].c_str(),
                r.per_class_total[c] ? 100.0 * r.per_class_correct[c] / r.per_class_total[c] : 0.0);
  return 0;
}

}  // namespace

void register_eval(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("eval", "test accuracy, per-class accuracy and mean loss of a checkpoint");
  auto o = std::make_shared<EvalOptions>();
  cmd->add_option("--checkpoint", o->checkpoint, "weights (safetensors, PyTorch names), from gpunet or PyTorch")->required();
  cmd->add_option("--data", o->data, "CIFAR-10 folder (default as for train)");
  cmd->add_option("--device", o->device, "cpu, cuda or cuda:N");
  cmd->add_option("--model", o->model, model_help(true));
  cmd->add_option("--batch-size", o->batch_size, "images per forward pass")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->add_flag("--tta", o->tta, "a recipe's model (airbench94): the recipe's test-time augmentation (6 weighted views)");
  cmd->callback([o, &exit_code]() { exit_code = run_eval(*o); });
}

}  // namespace gpunet::cli
