#pragma once
/// An in-memory image-classification dataset in one layout for every source (CIFAR-10 files,
/// image folders): images uint8 (N, C, H, W) contiguous on the host, labels uint8 (N), and
/// the class names. The loaders (gpunet/data/loader.h) work on it.
///   gpunet::data::Cifar10 train(dir, gpunet::data::Split::Train);
///   const uint8_t* first = train.image(0);    // C*H*W bytes, planes R, G, B
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gpunet::data {

enum class Split { Train, Test };

struct ImageDataset {
  int64_t n = 0;                     // number of records
  int c = 3, h = 32, w = 32;         // image shape of every record
  std::vector<uint8_t> images;       // (n, c, h, w), row-major; empty when `mapped` holds them
  std::shared_ptr<const uint8_t> mapped;  // or: the (n, c, h, w) bytes in a memory-mapped file (image
                                          // folders with a disk cache, data::ImageSetOptions::cache_dir)
  std::vector<uint8_t> labels;       // (n), each < classes.size()
  std::vector<std::string> classes;  // class index -> name

  int64_t size() const { return n; }
  int64_t record_bytes() const { return static_cast<int64_t>(c) * h * w; }
  /// The (n, c, h, w) bytes, wherever they are held (`images`, or the mapped file).
  const uint8_t* image_data() const { return mapped ? mapped.get() : images.data(); }
  int64_t image_bytes() const { return mapped ? n * record_bytes() : static_cast<int64_t>(images.size()); }
  const uint8_t* image(int64_t i) const { return image_data() + i * record_bytes(); }
  int num_classes() const { return static_cast<int>(classes.size()); }
  /// Number of records of each class (size num_classes()).
  std::vector<int64_t> class_counts() const;
  /// Throws gpunet::Error when the fields disagree (sizes, labels out of range, c > 4, no classes).
  void check() const;
};

}  // namespace gpunet::data
