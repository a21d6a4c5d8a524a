// Image folders in the command: the training data for any layout, the data metadata of a
// weights file, and the evaluation data mapped onto a checkpoint's classes by name.
#include "image_data.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/data/image_set.h"
#include "gpunet/error.h"
#include "gpunet/io/safetensors.h"

namespace gpunet::cli {

data::Transforms DataMeta::transforms() const {
  data::Transforms t;
  t.mean = mean;
  t.std = std;
  return t;
}

std::map<std::string, std::string> data_metadata(const DataMeta& m) {
  return {{"gpunet.classes", nlohmann::json(m.classes).dump()},
          {"gpunet.image_size", std::to_string(m.image_size)},
          {"gpunet.mean", nlohmann::json(m.mean).dump()},
          {"gpunet.std", nlohmann::json(m.std).dump()}};
}

DataMeta read_data_meta(const std::string& path) {
  DataMeta m;
  std::map<std::string, std::string> md;
  try {
    md = io::load_safetensors_metadata(path);
  } catch (const InputError&) {
    return m;  // an unreadable file is load_model's to report, with its usual line
  }
  const auto it = md.find("gpunet.classes");
  if (it == md.end()) return m;
  try {
    m.classes = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
    m.image_size = std::stoi(md.at("gpunet.image_size"));
    m.mean = nlohmann::json::parse(md.at("gpunet.mean")).get<std::vector<float>>();
    m.std = nlohmann::json::parse(md.at("gpunet.std")).get<std::vector<float>>();
  } catch (const std::exception& e) {
    throw InputError(path + ": its gpunet.* data metadata is malformed (" + e.what() + "); re-save the weights");
  }
  if (m.classes.empty() || m.image_size < 1 || m.image_size > 8192 || m.mean.size() != m.std.size())
    throw InputError(path + ": its gpunet.* data metadata is inconsistent; re-save the weights");
  m.found = true;
  return m;
}

std::vector<float> parse_channels(const std::string& flag, const std::string& value, bool positive) {
  std::vector<float> v;
  std::stringstream ss(value);
  for (std::string part; std::getline(ss, part, ',');) {
    size_t used = 0;
    float x = 0;
    try {
      x = std::stof(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty() || !std::isfinite(x) || (positive && x <= 0))
      throw InputError(flag + " " + value + ": expected three " + (positive ? "positive " : "") +
                       "numbers separated by commas (R,G,B), e.g. 0.5,0.5,0.5");
    v.push_back(x);
  }
  if (v.size() == 1) v.assign(3, v[0]);
  if (v.size() != 3) throw InputError(flag + " " + value + ": expected three numbers (R,G,B) or one for all channels");
  return v;
}

namespace {

bool writable(const std::string& dir) { return access(dir.c_str(), W_OK) == 0; }

TrainingData cifar10(const DataFlags& f) {
  if (f.image_size != 32)
    throw InputError("--image-size " + std::to_string(f.image_size) + ": CIFAR-10 binary data is 32x32; use --image-size 32");
  const DataChoice dc = choose_data(f.data);
  TrainingData d;
  d.sample = dc.sample;
  d.note = dc.note;
  d.train = std::make_shared<data::Cifar10>(dc.dir, data::Split::Train);
  d.test = std::make_shared<data::Cifar10>(dc.dir, data::Split::Test);
  d.meta.classes = d.train->classes;
  if (!f.mean.empty()) d.meta.mean = f.mean;
  if (!f.std.empty()) d.meta.std = f.std;
  d.transforms = d.meta.transforms();  // the tutorial's: no augmentation on this route
  d.summary = "CIFAR-10 binary: " + std::to_string(d.train->n) + " train + " + std::to_string(d.test->n) +
              " test images, " + std::to_string(d.train->num_classes()) + " classes";
  return d;
}

}  // namespace

TrainingData open_training_data(const DataFlags& f) {
  if (f.image_size < 8 || f.image_size > 1024)
    throw InputError("--image-size " + std::to_string(f.image_size) + ": must be between 8 and 1024");
  const data::FolderLayout layout = f.data.empty() ? data::FolderLayout::Cifar10 : data::detect_layout(f.data);
  if (layout == data::FolderLayout::Cifar10 || layout == data::FolderLayout::Unknown) return cifar10(f);
  data::ImageSetOptions o;
  o.size = f.image_size;
  o.val_split = f.val_split;
  o.seed = f.seed;
  o.skip_bad = f.skip_bad;
  o.progress = !f.quiet && stderr_is_tty();
  // The mean/std cache goes beside the data, or in --cache DIR when given (with the decoded
  // images) or to the temporary folder when the data is read-only.
  if (!f.cache.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(f.cache, ec);
    if (!std::filesystem::is_directory(f.cache, ec)) throw InputError("--cache " + f.cache + ": cannot create the folder");
    o.stats_dir = f.cache;
    o.cache_dir = f.cache;  // and the decoded images, memory-mapped: a later run decodes nothing
  } else if (!writable(f.data)) {
    o.stats_dir = std::filesystem::temp_directory_path().string();
  }
  data::ImageSet s = data::open_image_set(f.data, o);
  TrainingData d;
  d.train = s.train;
  d.test = s.val;
  d.meta.classes = s.train->classes;
  d.meta.image_size = f.image_size;
  d.meta.mean = f.mean.empty() ? s.mean : f.mean;
  d.meta.std = f.std.empty() ? s.std : f.std;
  d.transforms = d.meta.transforms();
  if (f.augment) {
    d.transforms.crop_padding = std::max(1, f.image_size / 8);  // RandomCrop(S, padding=S/8)
    d.transforms.horizontal_flip = true;
  }
  d.summary = s.summary + "; " + s.decode_line;
  return d;
}

std::shared_ptr<data::ImageDataset> open_eval_data(const std::string& dir, const DataMeta& meta, bool skip_bad) {
  const data::FolderLayout layout = dir.empty() ? data::FolderLayout::Cifar10 : data::detect_layout(dir);
  std::shared_ptr<data::ImageDataset> ds;
  if (layout == data::FolderLayout::Cifar10 || layout == data::FolderLayout::Unknown) {
    if (meta.found && meta.image_size != 32)
      throw InputError("--data " + dir + ": CIFAR-10 binary data is 32x32, but the checkpoint was trained on " +
                       std::to_string(meta.image_size) + "x" + std::to_string(meta.image_size) + " images");
    const DataChoice dc = choose_data(dir);
    if (dc.sample) std::fprintf(stderr, "%s\n", dc.note.c_str());
    ds = std::make_shared<data::Cifar10>(dc.dir, data::Split::Test);
  } else {
    data::ImageSetOptions o;
    o.size = meta.image_size;
    o.skip_bad = skip_bad;
    o.eval_only = true;  // val/ (or test/) of a train/val layout; every image of class folders
    o.progress = stderr_is_tty();
    ds = data::open_image_set(dir, o).val;
  }
  if (!meta.found || meta.classes == ds->classes) return ds;
  // Map the folder's classes onto the checkpoint's by name.
  std::vector<uint8_t> to(ds->classes.size());
  for (size_t k = 0; k < ds->classes.size(); ++k) {
    const auto it = std::find(meta.classes.begin(), meta.classes.end(), ds->classes[k]);
    if (it == meta.classes.end())
      throw InputError("--data " + dir + ": class '" + ds->classes[k] + "' is not one of the checkpoint's " +
                       std::to_string(meta.classes.size()) + " classes (" + nlohmann::json(meta.classes).dump() + ")");
    to[k] = static_cast<uint8_t>(it - meta.classes.begin());
  }
  for (uint8_t& l : ds->labels) l = to[l];
  ds->classes = meta.classes;
  return ds;
}

}  // namespace gpunet::cli
