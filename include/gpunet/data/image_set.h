#pragma once
/// Image folders as training data for the command (`gpunet train --data DIR`): the layout of a
/// folder, the class folders, a decode-once uint8 cache built in parallel, and the dataset's
/// normalisation.
///
/// Layouts (detect_layout):
///   Cifar10       DIR holds data_batch_*.bin / test_batch.bin (or cifar-10-batches-bin/)
///   TrainVal      DIR/train/<class>/<images> and DIR/val/<class>/... (or DIR/test/<class>/...)
///   ClassFolders  DIR/<class>/<images>: split into train and validation with val_split, seeded
/// Classes are the class folders sorted by name (torchvision's ImageFolder order); images are
/// .png/.jpg/.jpeg in any case, sorted by name within a class.
///
/// Each image is decoded once (all cores) and stored uint8 (3, S, S): resized so its shorter
/// side is S (torchvision's Resize(S)), then centre-cropped to S x S (CenterCrop(S)). Training
/// adds the loader's random crop (padding S/8) and flip on this cache; evaluation uses it as is.
///   gpunet::data::ImageSetOptions o; o.size = 64;
///   gpunet::data::ImageSet s = gpunet::data::open_image_set("photos", o);
///   // s.train, s.val: ImageDatasets for data::DataLoader; s.mean/s.std for Transforms
/// Problems in the folder (no class folders, an empty class folder, a class missing from
/// val/, no images, unreadable images without skip_bad) are one-line InputErrors.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/data/dataset.h"
#include "gpunet/data/image_folder.h"

namespace gpunet::data {

enum class FolderLayout { Cifar10, TrainVal, ClassFolders, Unknown };

/// What DIR holds (nothing is decoded). Unknown also for a missing folder.
FolderLayout detect_layout(const std::string& dir);
/// "CIFAR-10 binary", "train/val image folders", "class folders".
const char* layout_name(FolderLayout l);

/// DIR/<class>/<images>: class names sorted, and each class's image paths sorted.
struct ClassFolders {
  std::vector<std::string> classes;
  std::vector<std::vector<std::string>> files;  // files[k]: class k's images
  int64_t count() const;
};
/// Lists DIR's class folders. InputError (one line) when DIR has no class folders, a class
/// folder holds no image, or there are more than 256 classes.
ClassFolders list_class_folders(const std::string& dir);

struct ImageSetOptions {
  int size = 32;              // every record becomes 3 x size x size
  double val_split = 0.1;     // ClassFolders: the share held out for validation
  uint64_t seed = 0;          // ClassFolders: the split's seed
  bool skip_bad = false;      // unreadable images: skipped and counted (else InputError after listing)
  int threads = 0;            // decoding threads; 0: every core
  bool progress = false;      // a progress bar on stderr while decoding
  std::string stats_dir;      // where the mean/std cache goes; empty: DIR (when writable)
  bool eval_only = false;     // TrainVal: decode val/ only; ClassFolders: every image is val
  std::string cache_dir;      // non-empty: the decoded images go to a file here, memory-mapped (sets
                              // larger than memory), and a later open with the same files decodes nothing
};

struct ImageSet {
  FolderLayout layout = FolderLayout::Unknown;
  std::shared_ptr<ImageDataset> train, val;  // train is empty (n = 0) with eval_only
  std::vector<float> mean, std;              // per channel, of the training images in [0, 1]
  std::vector<std::string> bad_files;        // skipped (skip_bad)
  std::string summary;                       // "train/val image folders: 900 train + 100 val images, 3 classes"
  std::string decode_line;                   // "decoded 1000 images in 0.52 s (1923 images/s)", or
                                             // "decoded images read from the cache FILE (decoded nothing)"
};

/// Opens an image-folder layout (TrainVal or ClassFolders; InputError for the others) and
/// decodes it. The unreadable images are each named on one stderr line.
ImageSet open_image_set(const std::string& dir, const ImageSetOptions& opts);

/// Decodes `files` into uint8 (N, 3, size, size) records (Resize(size) + CenterCrop(size)),
/// in parallel. ok[i] false: the file could not be decoded, errors[i] says why.
struct DecodedSet {
  std::vector<uint8_t> images;
  std::vector<bool> ok;
  std::vector<std::string> errors;
};
DecodedSet decode_files(const std::vector<std::string>& files, int size, int threads, bool progress);
/// The same into `out` (files.size() records of 3 x size x size bytes, e.g. a mapped file).
void decode_files_into(const std::vector<std::string>& files, int size, int threads, bool progress, uint8_t* out,
                       std::vector<bool>& ok, std::vector<std::string>& errors);

/// Resize so the shorter side is `size` (the longer one int(size * long / short), as
/// torchvision), then the centre size x size crop, planar (3, size, size).
std::vector<uint8_t> resize_center_crop(const DecodedImage& img, int size);

/// Per-channel mean and (population) std of the dataset's pixels in [0, 1].
void channel_stats(const ImageDataset& ds, std::vector<float>& mean, std::vector<float>& std);

/// How many images decode_files has decoded in this process (tests: later epochs decode none).
int64_t images_decoded();

}  // namespace gpunet::data
