#pragma once
// The image decoders behind data::decode_image, one per library, for decode_image's dispatch,
// the codec tests and bench/image_decoders.cpp (validate, then time).
//   JPEG: libjpeg-turbo (libjpeg62-turbo-dev) when gpunet was configured with it, else stb_image
//   PNG:  stb_image, which decoded faster than libpng (libpng-dev) in bench/image_decoders.cpp;
//         libpng stays available (Codec::LibPng), bit-identical, for that benchmark to re-check
//   BMP, GIF, ... and JPEG layouts libjpeg's RGB path does not cover (CMYK): stb_image
// Each takes a whole file's bytes and gives interleaved RGB (c = 3), or throws InputError
// "<path>: cannot decode the image (...)". None exits or prints: libjpeg's and libpng's errors
// come back through longjmp, their warnings are dropped (a truncated JPEG is an error, as in PIL).
// Requires: the declared size was checked against kMaxImagePixels (decode_image does, from the
// header); the library decoders check it again from their own header read.
//   auto img = gpunet::data::codec::decode(bytes, "a.jpg", gpunet::data::codec::Codec::Stb);
#include <cstdint>
#include <string>
#include <vector>

#include "gpunet/data/image_folder.h"

namespace gpunet::data::codec {

enum class Codec { Auto, Stb, LibJpeg, LibPng };

/// Whether this build has libjpeg-turbo / libpng (configure time: find_package(JPEG/PNG)).
bool have_libjpeg();
bool have_libpng();
/// "libjpeg-turbo 2.1.5", "libpng 1.6.39" (the linked versions) or "absent".
std::string libjpeg_version();
std::string libpng_version();

/// .png, .jpg or .jpeg, in any case: the files ImageFolder and open_image_set take.
bool has_image_extension(const std::string& path);

bool is_jpeg(const std::vector<uint8_t>& bytes);  // FF D8 FF
bool is_png(const std::vector<uint8_t>& bytes);   // the 8-byte PNG signature

/// Decodes `bytes` with `c` (Auto: libjpeg-turbo for a JPEG when present, else stb_image) to
/// `channels` channels. The libraries give 3 channels only: other counts go to stb_image.
/// Returns an image without pixels (w = 0) when the library does not cover this file's layout
/// (a CMYK JPEG) and `c` named it; Auto then falls back to stb_image.
DecodedImage decode(const std::vector<uint8_t>& bytes, const std::string& path, Codec c, int channels = 3);

/// The single decoders (what decode dispatches to).
DecodedImage decode_stb(const std::vector<uint8_t>& bytes, const std::string& path, int channels);
DecodedImage decode_libjpeg(const std::vector<uint8_t>& bytes, const std::string& path);
DecodedImage decode_libpng(const std::vector<uint8_t>& bytes, const std::string& path);

/// "<path>: cannot decode the image (its header declares WxH pixels, more than the ...)" when
/// w x h is above kMaxImagePixels; nothing otherwise.
void refuse_huge(const std::string& path, int64_t w, int64_t h);

}  // namespace gpunet::data::codec
