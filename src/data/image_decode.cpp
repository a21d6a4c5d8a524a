// The one place stb_image and stb_image_resize are compiled (STB_*_IMPLEMENTATION).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb_image.h>
#include <stb_image_resize.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <filesystem>
#include <memory>

#include "gpunet/data/image_folder.h"
#include "gpunet/error.h"

namespace gpunet::data {

DecodedImage decode_image(const std::string& path, int channels) {
  GPUNET_CHECK(channels >= 1 && channels <= 4, "decode_image: channels must be 1-4, got ", channels);
  std::error_code ec;
  GPUNET_INPUT_CHECK(std::filesystem::is_regular_file(path, ec), path, ": no such image file");
  int w = 0, h = 0, c = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &c, channels), &stbi_image_free);
  if (!px)
    throw InputError(detail::cat(path, ": cannot decode the image (", stbi_failure_reason(),
                                 "); expected a PNG, JPEG or BMP file"));
  DecodedImage img;
  img.w = w;
  img.h = h;
  img.c = channels;
  img.data.assign(px.get(), px.get() + static_cast<size_t>(w) * h * channels);
  return img;
}

DecodedImage resize_image(const DecodedImage& img, int w, int h) {
  GPUNET_CHECK(w > 0 && h > 0, "resize_image: bad target size ", w, "x", h);
  if (img.w == w && img.h == h) return img;
  DecodedImage out;
  out.w = w;
  out.h = h;
  out.c = img.c;
  out.data.resize(static_cast<size_t>(w) * h * img.c);
  const int ok = stbir_resize_uint8(img.data.data(), img.w, img.h, 0, out.data.data(), w, h, 0, img.c);
  GPUNET_CHECK(ok, "resize_image: stb_image_resize failed for ", img.w, "x", img.h, " -> ", w, "x", h);
  return out;
}

std::vector<uint8_t> to_planar(const DecodedImage& img) {
  std::vector<uint8_t> out(img.data.size());
  const size_t hw = static_cast<size_t>(img.w) * img.h;
  for (size_t p = 0; p < hw; ++p)
    for (int k = 0; k < img.c; ++k) out[k * hw + p] = img.data[p * img.c + k];
  return out;
}

std::vector<uint8_t> load_image(const std::string& path, int size, bool resize) {
  DecodedImage img = decode_image(path, 3);
  if (img.w != size || img.h != size) {
    GPUNET_INPUT_CHECK(resize, path, ": the image is ", img.w, "x", img.h, ", expected ", size, "x", size,
                       " (resize it, or allow resizing)");
    img = resize_image(img, size, size);
  }
  return to_planar(img);
}

}  // namespace gpunet::data
