#pragma once
/// Images from files: decoding (PNG, JPEG, BMP, ... through stb_image), resizing, and an
/// ImageFolder dataset (root/<class>/*.png|jpg|jpeg, torchvision's layout) in the same
/// uint8 (N, 3, H, W) layout as CIFAR-10, so the loaders work on it.
///   gpunet::data::ImageFolder ds("photos");          // classes = sorted sub-folder names
///   auto chw = gpunet::data::load_image("cat.png");  // 3*32*32 bytes, planes R, G, B
/// Every problem is a gpunet::InputError naming the file.
#include <cstdint>
#include <string>
#include <vector>

#include "gpunet/data/dataset.h"

namespace gpunet::data {

/// A decoded image, interleaved: data[(y * w + x) * c + k].
struct DecodedImage {
  int w = 0, h = 0, c = 0;
  std::vector<uint8_t> data;
};

/// The largest image decode_image accepts: 2^26 pixels (8192 x 8192).
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

/// Decodes an image file to `channels` channels (3: RGB; grey and alpha are converted).
/// Throws InputError naming the file and stb_image's reason when it cannot be decoded, or
/// the declared size when it is above kMaxImagePixels (checked before anything is allocated).
DecodedImage decode_image(const std::string& path, int channels = 3);
/// Resamples to w x h (stb_image_resize: a Mitchell filter down, Catmull-Rom up). Same size: a copy.
DecodedImage resize_image(const DecodedImage& img, int w, int h);
/// Interleaved (h, w, c) -> planar (c, h, w), the dataset layout.
std::vector<uint8_t> to_planar(const DecodedImage& img);

/// One image file as a dataset record: RGB planes of size x size. With `resize` false a
/// different size is an InputError naming the file and both sizes.
std::vector<uint8_t> load_image(const std::string& path, int size = 32, bool resize = true);

struct ImageFolderOptions {
  int size = 32;        // every record becomes 3 x size x size
  bool resize = true;   // false: images of another size are an error
};

/// root/<class>/<file>.{png,jpg,jpeg} (extensions in any case). Classes are the sub-folders
/// sorted by name (label = index), files sorted by name within each class; other files are
/// ignored. Requires: at least one class folder with at least one image in total.
class ImageFolder : public ImageDataset {
 public:
  explicit ImageFolder(const std::string& root, const ImageFolderOptions& opts = {});
  const std::vector<std::string>& files() const { return files_; }  // record i's path

 private:
  std::vector<std::string> files_;
};

}  // namespace gpunet::data
