#pragma once
// Small image folders for the image-folder tests, written by stb_image_write (PNG and JPEG).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpunet::test {

/// An RGB image (interleaved) of class `cls`: a class-dependent colour plus a per-image
/// pattern, so that classes are learnable and images differ.
inline std::vector<uint8_t> class_image(int w, int h, int cls, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k)
        px[(static_cast<size_t>(y) * w + x) * 3 + k] =
            static_cast<uint8_t>((k == cls % 3 ? 160 : 40) + ((x * (k + 1) + y * 3 + seed * 7) % 50));
  return px;
}

/// Writes `path` (.png, or .jpg/.jpeg at quality 95), creating its folder.
inline void write_image(const std::filesystem::path& path, int w, int h, const std::vector<uint8_t>& px) {
  std::filesystem::create_directories(path.parent_path());
  const std::string ext = path.extension().string();
  const int ok = (ext == ".png") ? stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3)
                                 : stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 95);
  if (!ok) throw std::runtime_error("cannot write " + path.string());
}

/// `per_class` images in each of dir/<class>/ (PNG and JPEG alternating), w x h.
inline void write_class_folders(const std::filesystem::path& dir, const std::vector<std::string>& classes,
                                int per_class, int w, int h) {
  for (size_t c = 0; c < classes.size(); ++c)
    for (int i = 0; i < per_class; ++i)
      write_image(dir / classes[c] / ("img" + std::to_string(i) + (i % 2 ? ".jpg" : ".png")), w, h,
                  class_image(w, h, static_cast<int>(c), i));
}

/// A file with an image extension that is not an image.
inline void write_garbage(const std::filesystem::path& path) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << "this is not an image";
}

}  // namespace gpunet::test
