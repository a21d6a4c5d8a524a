// libFuzzer target: the image decoder (gpunet::data::decode_image: libjpeg-turbo for JPEGs
// when built with it, through its longjmp error manager; stb_image for the rest) and what
// `gpunet predict` and ImageFolder do next: resize to 32x32 and convert to planes.
// Inputs whose header declares more than 2^16 pixels (256 x 256) are skipped (measured with
// stbi_info_from_memory, compiled into the library with stb_image; JPEGs by a scan of their
// frame headers): a few header bytes can claim a 16384 x 16384 image, whose decoding only
// fills memory with zeros and would slow the fuzzer from hundreds of inputs a second to a few
// (see docs/RELIABILITY.md, "Known gaps").
#include <algorithm>
#include <cstdlib>

#include "fuzz_util.h"
#include "gpunet/data/image_folder.h"

extern "C" int stbi_info_from_memory(const unsigned char* buffer, int len, int* x, int* y, int* comp);

namespace {
constexpr int64_t kMaxPixels = int64_t{1} << 16;

// The largest width x height that any JPEG frame header (SOFn: FF C0-CF but C4, C8, CC) in the
// input declares. JPEGs are measured here, not with stbi_info_*, which parses the Huffman
// tables first and so meets the stb_image bug that decode_image guards against.
int64_t jpeg_max_pixels(const uint8_t* d, size_t n) {
  int64_t most = 0;
  for (size_t i = 0; i + 9 <= n; ++i) {
    if (d[i] != 0xFF || d[i + 1] < 0xC0 || d[i + 1] > 0xCF || d[i + 1] == 0xC4 || d[i + 1] == 0xC8 || d[i + 1] == 0xCC)
      continue;
    const int64_t h = d[i + 5] << 8 | d[i + 6], w = d[i + 7] << 8 | d[i + 8];
    most = std::max(most, w * h);
  }
  return most;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static gpunet::fuzz::InputFile file("image.png");
  file.write(data, size);
  size_t soi = 0;  // stb_image reads FF, FF fill bytes, D8 as a JPEG's start
  while (soi < size && data[soi] == 0xFF) ++soi;
  if (soi >= 1 && soi < size && data[soi] == 0xD8) {
    if (jpeg_max_pixels(data, size) > kMaxPixels) return 0;
  } else {
    int w = 0, h = 0, c = 0;
    // abs: stbi_info gives a top-down BMP's height as negative.
    if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c) &&
        std::abs(static_cast<int64_t>(w) * h) > kMaxPixels)
      return 0;
  }
  gpunet::fuzz::expect_ok_or_input_error(file.path(), [&] {
    gpunet::data::DecodedImage img = gpunet::data::decode_image(file.path(), 3);
    if (img.w <= 0 || img.h <= 0 || img.c != 3 || img.data.size() != static_cast<size_t>(img.w) * img.h * 3)
      gpunet::fuzz::fail("inconsistent image", std::to_string(img.w) + "x" + std::to_string(img.h));
    // In case stbi_info and stbi_load disagree: resizing a huge image takes seconds.
    if (static_cast<int64_t>(img.w) * img.h > kMaxPixels) return;
    gpunet::data::DecodedImage small = gpunet::data::resize_image(img, 32, 32);
    if (small.w != 32 || small.h != 32 || gpunet::data::to_planar(small).size() != 32 * 32 * 3)
      gpunet::fuzz::fail("bad resize", "");
  });
  return 0;
}
