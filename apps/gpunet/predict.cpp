// `gpunet predict`: classify image files with a trained checkpoint (the model recognised from
// its tensor names unless --model says which).
//   gpunet predict --checkpoint net.safetensors cat.png dog.jpg
//   cat.png: cat (0.71)  dog 0.12  frog 0.05
// Each image is decoded (PNG/JPEG/BMP), resized to 32x32 when it is another size (said on
// stderr), and normalised by the same batch kernel as training (data::DataLoader with
// LoaderOptions::evaluation over an in-memory ImageDataset).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "gpunet/autograd.h"
#include "gpunet/train/recipe.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/data/image_folder.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "gpunet/ops.h"

namespace gpunet::cli {
namespace {
namespace fs = std::filesystem;

// The class names of the PyTorch tutorial, in CIFAR-10's label order.
const std::vector<std::string> kTutorialClasses = {"plane", "car",   "bird",  "cat",  "deer",
                                                   "dog",   "frog",  "horse", "ship", "truck"};

struct PredictArgs {
  std::string checkpoint;
  std::string model;  // empty: recognised from the checkpoint
  std::string device;
  std::string data;
  int top = 3;
  bool json = false;
  std::vector<std::string> images;
};

// The class names: batches.meta.txt of --data (required to be there), else of a dataset the
// user set up ($GPUNET_DATA or ./data/cifar-10-batches-bin), else the tutorial's names.
std::vector<std::string> class_names(const std::string& data_flag) {
  if (!data_flag.empty()) {
    const DataChoice d = choose_data(data_flag);
    return data::read_cifar10_meta((fs::path(d.dir) / "batches.meta.txt").string());
  }
  try {
    const DataChoice d = choose_data("");
    const fs::path meta = fs::path(d.dir) / "batches.meta.txt";
    std::error_code ec;
    if (!d.sample && fs::exists(meta, ec)) return data::read_cifar10_meta(meta.string());
  } catch (const InputError&) {
    // A broken $GPUNET_DATA is not this command's business: fall back to the built-in names.
  }
  return kTutorialClasses;
}

// Decodes every image (all before any output, so a bad file fails the whole command early)
// into one uint8 (N, 3, 32, 32) dataset.
std::shared_ptr<data::ImageDataset> read_images(const std::vector<std::string>& paths,
                                                const std::vector<std::string>& classes) {
  auto ds = std::make_shared<data::ImageDataset>();
  ds->c = 3;
  ds->h = 32;
  ds->w = 32;
  ds->classes = classes;
  for (const std::string& p : paths) {
    data::DecodedImage img = data::decode_image(p, 3);
    if (img.w != ds->w || img.h != ds->h) {
      std::fprintf(stderr, "%s: %dx%d resized to %dx%d\n", p.c_str(), img.w, img.h, ds->w, ds->h);
      img = data::resize_image(img, ds->w, ds->h);
    }
    const std::vector<uint8_t> planar = data::to_planar(img);
    ds->images.insert(ds->images.end(), planar.begin(), planar.end());
    ds->labels.push_back(0);  // unused: predictions have no target
    ++ds->n;
  }
  return ds;
}

std::string fmt2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

void run_predict(const PredictArgs& a) {
  if (a.images.empty()) throw InputError("predict: give at least one image file");
  const std::vector<std::string> classes = class_names(a.data);
  auto ds = read_images(a.images, classes);

  std::string why;
  const Device dev = choose_device(a.device, &why);
  const LoadedModel loaded = load_model(a.model, a.checkpoint);
  auto model = loaded.net;
  model->to(dev);
  model->eval();

  // A model a recipe trains (airbench94) sees the recipe's normalisation, as in training.
  const auto* rec = ::gpunet::train::recipe_for_model(loaded.entry->name);
  data::LoaderOptions opts =
      rec ? data::LoaderOptions::evaluation(256, dev, rec->transforms) : data::LoaderOptions::evaluation(256, dev);
  opts.prefetch = false;
  data::DataLoader loader(ds, opts);
  NoGradGuard no_grad;
  const int k_max = static_cast<int>(classes.size());
  const int k = std::min(a.top, k_max);
  size_t next_image = 0;
  for (data::Batch b; loader.next(b);) {
    const Tensor logits = (*model)(b.x);
    if (logits.dim() != 2 || logits.size(1) != k_max)
      throw InputError("predict: the model gives " + shape_str(logits.shape()) + " outputs, but there are " +
                       std::to_string(k_max) + " class names");
    const std::vector<float> prob = ops::softmax(logits).to_vector<float>();
    for (int64_t i = 0; i < b.size; ++i, ++next_image) {
      const float* p = prob.data() + i * k_max;
      std::vector<int> order(k_max);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return p[x] > p[y]; });
      const std::string& file = a.images[next_image];
      if (a.json) {
        nlohmann::json top = nlohmann::json::array();
        for (int j = 0; j < k; ++j) top.push_back({{"class", classes[order[j]]}, {"index", order[j]}, {"probability", p[order[j]]}});
        nlohmann::json line = {{"file", file}, {"class", classes[order[0]]}, {"probability", p[order[0]]}, {"top", top}};
        std::cout << line.dump() << "\n";
      } else {
        std::cout << file << ": " << classes[order[0]] << " (" << fmt2(p[order[0]]) << ")";
        for (int j = 1; j < k; ++j) std::cout << "  " << classes[order[j]] << " " << fmt2(p[order[j]]);
        std::cout << "\n";
      }
    }
  }
  std::cout.flush();
}

}  // namespace

void register_predict(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "Classify image files (PNG/JPEG) with a trained checkpoint");
  cmd->add_option("--checkpoint", args->checkpoint, "Weights file (safetensors, PyTorch names)")->required();
  cmd->add_option("--model", args->model, model_help(true));
  cmd->add_option("--device", args->device, "cpu, cuda or cuda:N (default: the best available)");
  cmd->add_option("--data", args->data, "Dataset folder whose batches.meta.txt names the classes");
  cmd->add_option("--top", args->top, "How many classes to show per image")->default_val(3)->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", args->json, "One JSON object per line");
  cmd->add_option("images", args->images, "Image files")->required();
  cmd->callback([args, &exit_code] {
    run_predict(*args);
    exit_code = 0;
  });
}

}  // namespace gpunet::cli
