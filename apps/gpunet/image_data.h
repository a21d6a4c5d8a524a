#pragma once
// Image folders in the command: what `train --data DIR` opens for each layout, what a weights
// file records about its data (class names, image size, normalisation), and how eval and
// predict read it back and map another folder's classes onto it by name.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/data/dataset.h"
#include "gpunet/data/transforms.h"

namespace gpunet::cli {

/// What a weights file says about the data it was trained on (gpunet.* metadata). Files
/// without it (older ones, PyTorch's) give found = false and the tutorial's CIFAR-10 settings.
struct DataMeta {
  bool found = false;
  std::vector<std::string> classes;
  int image_size = 32;
  std::vector<float> mean = {0.5f, 0.5f, 0.5f}, std = {0.5f, 0.5f, 0.5f};
  data::Transforms transforms() const;
};
/// The metadata entries save_weights writes for `m` (found is ignored).
std::map<std::string, std::string> data_metadata(const DataMeta& m);
/// Reads them from the safetensors file `path` (not found when it is unreadable: loading it says why).
DataMeta read_data_meta(const std::string& path);

/// The training and held-out sets of `train --data DIR` for any layout, with their transforms.
struct TrainingData {
  std::shared_ptr<data::ImageDataset> train, test;
  DataMeta meta;                // classes, image size, normalisation
  data::Transforms transforms;  // training: normalisation + augmentation
  std::string summary;          // the layout found, with image and class counts
  bool sample = false;          // the embedded CIFAR-10 sample (note says so)
  std::string note;
};
struct DataFlags {
  std::string data, cache;
  int image_size = 32;
  double val_split = 0.1;
  uint64_t seed = 0;
  std::vector<float> mean, std;  // empty: the dataset's own
  bool skip_bad = false, augment = true, quiet = false;
};
/// CIFAR-10 binary (--data, $GPUNET_DATA, ./data, the sample) or an image folder: InputError
/// (one line) for a folder that is neither, bad flags, or bad images (see data::open_image_set).
TrainingData open_training_data(const DataFlags& f);

/// The held-out images of `dir` for evaluation, its classes mapped onto `meta.classes` by name
/// (every class of the folder must be one of them: InputError naming the first that is not).
/// A CIFAR-10 folder gives its test set. Without metadata classes, the folder's own order.
std::shared_ptr<data::ImageDataset> open_eval_data(const std::string& dir, const DataMeta& meta, bool skip_bad);

/// --mean / --std: three numbers "0.48,0.45,0.40" (or one for all channels).
std::vector<float> parse_channels(const std::string& flag, const std::string& value, bool positive);

}  // namespace gpunet::cli
