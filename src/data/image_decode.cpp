// The one place stb_image and stb_image_resize are compiled (STB_*_IMPLEMENTATION), and
// decode_image's dispatch to the decoder of each format (data/image_codecs.h).
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
#include <fstream>
#include <algorithm>
#include <cctype>
#include <iterator>
#include <memory>
#include <vector>

#include "data/image_codecs.h"
#include "gpunet/data/image_folder.h"
#include "gpunet/error.h"

namespace gpunet::data {
namespace {

// stb_image 2.27 (Debian 12's libstb-dev) writes past its Huffman tables when a JPEG's DHT
// segment declares more than 256 codes (CVE-2021-28021; found by fuzz/fuzz_image.cpp: the
// 9 bytes FF D8 FF C4 02 00 00 FF FF, also behind FF FF D8). This walks the markers as
// stb_image reads them from memory (0 past the end, fill bytes, stuffing, segment lengths; DHT
// tables while bytes are left) and says whether such a table is there, so that the file is
// refused before stb_image sees it. (From memory, not a FILE: stb_image re-reads a FILE from
// its first 128 bytes only, so it and this walk would not see the same bytes.)
bool jpeg_has_oversized_huffman_table(const std::vector<uint8_t>& bytes) {
  size_t at = 0;
  auto more = [&]() { return at < bytes.size(); };
  auto get = [&]() -> int { return more() ? bytes[at++] : 0; };
  if (get() != 0xFF) return false;  // stb_image takes FF, any FF fill bytes, D8 as the start
  int soi = get();
  while (soi == 0xFF && more()) soi = get();
  if (soi != 0xD8) return false;  // not a JPEG
  while (more()) {
    int m = get();
    if (m != 0xFF) continue;  // entropy-coded data
    while (m == 0xFF && more()) m = get();
    if (m == 0x00 || m == 0x01 || m == 0xFF || (m >= 0xD0 && m <= 0xD9)) continue;  // stuffing, TEM, RSTn, SOI, EOI
    const int hi = get();
    const int len = hi << 8 | get();
    if (m != 0xC4) {
      if (len > 2) at += static_cast<size_t>(len - 2);
      continue;
    }
    for (int left = len - 2; left > 0;) {
      get();  // table class and id
      int n = 0;
      for (int i = 0; i < 16; ++i) n += get();
      if (n > 256) return true;
      at += static_cast<size_t>(n);
      left -= 17 + n;
    }
  }
  return false;
}

}  // namespace

namespace codec {

bool has_image_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

bool is_jpeg(const std::vector<uint8_t>& b) { return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
bool is_png(const std::vector<uint8_t>& b) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  return b.size() >= 8 && std::equal(sig, sig + 8, b.begin());
}

void refuse_huge(const std::string& path, int64_t w, int64_t h) {
  if (w * h > kMaxImagePixels)
    throw InputError(detail::cat(path, ": cannot decode the image (its header declares ", w, "x", h,
                                 " pixels, more than the ", kMaxImagePixels,
                                 " gpunet decodes); expected a PNG, JPEG or BMP file of at most 8192x8192"));
}

DecodedImage decode_stb(const std::vector<uint8_t>& bytes, const std::string& path, int channels) {
  if (jpeg_has_oversized_huffman_table(bytes))
    throw InputError(detail::cat(path, ": cannot decode the image (corrupt JPEG: a Huffman table with more than 256 codes)"));
  int w = 0, h = 0, c = 0;
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c)) refuse_huge(path, w, h);
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, channels), &stbi_image_free);
  if (!px)
    throw InputError(detail::cat(path, ": cannot decode the image (", stbi_failure_reason(),
                                 "); expected a PNG, JPEG or BMP file"));
  // stb_image 2.27 returns a BMP of height 0 as a valid image without pixels (found by fuzzing;
  // resizing it then crashed `gpunet predict`).
  if (w <= 0 || h <= 0)
    throw InputError(detail::cat(path, ": cannot decode the image (it is ", w, "x", h, ": no pixels)"));
  DecodedImage img;
  img.w = w;
  img.h = h;
  img.c = channels;
  img.data.assign(px.get(), px.get() + static_cast<size_t>(w) * h * channels);
  return img;
}

DecodedImage decode(const std::vector<uint8_t>& bytes, const std::string& path, Codec c, int channels) {
  GPUNET_CHECK(channels >= 1 && channels <= 4, "decode_image: channels must be 1-4, got ", channels);
  if (c == Codec::Auto) {
    // JPEG: libjpeg-turbo, 1.5-1.7x stb_image's speed. PNG stays with stb_image: libpng was
    // slower on the same files (0.6-0.9x, docs/PERFORMANCE.md, bench/image_decoders.cpp).
    c = channels == 3 && is_jpeg(bytes) && have_libjpeg() ? Codec::LibJpeg : Codec::Stb;
    if (c != Codec::Stb) {
      // The same refusals as stb_image's route, from the header, before the library allocates.
      if (jpeg_has_oversized_huffman_table(bytes))
        throw InputError(detail::cat(path, ": cannot decode the image (corrupt JPEG: a Huffman table with more than 256 codes)"));
      int w = 0, h = 0, k = 0;
      if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &k)) refuse_huge(path, w, h);
      DecodedImage img = c == Codec::LibJpeg ? decode_libjpeg(bytes, path) : decode_libpng(bytes, path);
      return img.w > 0 ? img : decode_stb(bytes, path, channels);  // a layout the library's RGB path lacks
    }
  }
  GPUNET_CHECK(c == Codec::Stb || channels == 3, "decode: the libraries decode to 3 channels only");
  switch (c) {
    case Codec::LibJpeg: return decode_libjpeg(bytes, path);
    case Codec::LibPng: return decode_libpng(bytes, path);
    default: return decode_stb(bytes, path, channels);
  }
}

}  // namespace codec

DecodedImage decode_image(const std::string& path, int channels) {
  GPUNET_CHECK(channels >= 1 && channels <= 4, "decode_image: channels must be 1-4, got ", channels);
  std::error_code ec;
  GPUNET_INPUT_CHECK(std::filesystem::is_regular_file(path, ec), path, ": no such image file");
  const uintmax_t size = std::filesystem::file_size(path, ec);
  GPUNET_INPUT_CHECK(!ec && size < (uintmax_t{1} << 31), path, ": the image file is larger than 2 GB or unreadable");
  std::ifstream in(path, std::ios::binary);
  GPUNET_INPUT_CHECK(in, path, ": cannot open the image file (check its permissions)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return codec::decode(bytes, path, codec::Codec::Auto, channels);
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
