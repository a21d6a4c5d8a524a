// ImageDataset's small helpers.
#include "gpunet/data/dataset.h"

#include "gpunet/error.h"

namespace gpunet::data {

std::vector<int64_t> ImageDataset::class_counts() const {
  std::vector<int64_t> counts(classes.size(), 0);
  for (uint8_t l : labels)
    if (l < counts.size()) ++counts[l];
  return counts;
}

void ImageDataset::check() const {
  GPUNET_CHECK(n >= 0 && c >= 1 && c <= 4 && h >= 1 && w >= 1, "ImageDataset: bad shape n=", n, " c=", c, " h=", h,
               " w=", w, " (c must be 1-4)");
  GPUNET_CHECK(!mapped || images.empty(), "ImageDataset: both in memory and mapped");
  GPUNET_CHECK(image_bytes() == n * record_bytes(), "ImageDataset: ", image_bytes(),
               " image bytes for ", n, " records of ", record_bytes(), " bytes");
  GPUNET_CHECK(static_cast<int64_t>(labels.size()) == n, "ImageDataset: ", labels.size(), " labels for ", n, " records");
  GPUNET_CHECK(!classes.empty() && classes.size() <= 256, "ImageDataset: ", classes.size(), " classes (expected 1-256)");
  for (int64_t i = 0; i < n; ++i)
    GPUNET_CHECK(labels[i] < classes.size(), "ImageDataset: record ", i, " has label ", int(labels[i]), " but only ",
                 classes.size(), " classes");
}

}  // namespace gpunet::data
