// ImageFolder: root/<class>/<image files>, decoded into the dataset layout.
#include <algorithm>
#include <filesystem>

#include "gpunet/data/image_folder.h"
#include "data/image_codecs.h"
#include "gpunet/error.h"

namespace fs = std::filesystem;

namespace gpunet::data {
ImageFolder::ImageFolder(const std::string& root, const ImageFolderOptions& opts) {
  GPUNET_CHECK(opts.size > 0, "ImageFolder: size must be positive, got ", opts.size);
  std::error_code ec;
  GPUNET_INPUT_CHECK(fs::is_directory(root, ec), root, ": no such folder (expected root/<class>/<images>)");
  std::vector<fs::path> class_dirs;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) class_dirs.push_back(e.path());
  GPUNET_INPUT_CHECK(!ec, root, ": cannot list the folder (", ec.message(), ")");
  std::sort(class_dirs.begin(), class_dirs.end());
  GPUNET_INPUT_CHECK(!class_dirs.empty(), root, ": has no class sub-folders (expected root/<class>/<images>)");
  GPUNET_INPUT_CHECK(class_dirs.size() <= 256, root, ": has ", class_dirs.size(), " class folders (at most 256)");

  c = 3;
  h = w = opts.size;
  std::vector<uint8_t> labs;
  for (size_t k = 0; k < class_dirs.size(); ++k) {
    classes.push_back(class_dirs[k].filename().string());
    std::vector<fs::path> imgs;
    for (const auto& e : fs::directory_iterator(class_dirs[k], ec))
      if (e.is_regular_file() && codec::has_image_extension(e.path().string())) imgs.push_back(e.path());
    std::sort(imgs.begin(), imgs.end());
    for (const auto& p : imgs) {
      files_.push_back(p.string());
      labs.push_back(static_cast<uint8_t>(k));
    }
  }
  GPUNET_INPUT_CHECK(!files_.empty(), root, ": no .png/.jpg/.jpeg images in its ", class_dirs.size(),
                     " class folders");
  n = static_cast<int64_t>(files_.size());
  labels = std::move(labs);
  images.resize(static_cast<size_t>(n * record_bytes()));
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<uint8_t> rec = load_image(files_[i], opts.size, opts.resize);
    std::copy(rec.begin(), rec.end(), images.begin() + static_cast<std::ptrdiff_t>(i * record_bytes()));
  }
}

}  // namespace gpunet::data
