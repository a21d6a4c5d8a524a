// The JPEG and PNG decoders (libjpeg-turbo, libpng) against stb_image, the reference they
// replace: PNG bit for bit over every colour type and depth (and Adam7), JPEG within the
// tolerance of two IDCT/upsampling/colour-conversion roundings; and their errors: one
// InputError naming the file, never an exit or a print. Files are written here with libpng,
// libjpeg and stb_image_write. Skipped (with the reason) in a build without the libraries.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "data/image_codecs.h"
#include "data_test_util.h"
#include "gpunet/error.h"
#include "support/image_files.h"

#if __has_include(<png.h>) && __has_include(<jpeglib.h>)
#include <jpeglib.h>
#include <png.h>
#define GPUNET_TEST_CODECS 1
#endif

using namespace gpunet::data;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Largest and mean absolute difference of two RGB images of one size.
std::pair<int, double> diff(const DecodedImage& a, const DecodedImage& b) {
  EXPECT_EQ(a.w, b.w);
  EXPECT_EQ(a.h, b.h);
  EXPECT_EQ(a.data.size(), b.data.size());
  int most = 0;
  double sum = 0;
  for (size_t i = 0; i < std::min(a.data.size(), b.data.size()); ++i) {
    const int d = std::abs(int(a.data[i]) - int(b.data[i]));
    most = std::max(most, d);
    sum += d;
  }
  return {most, sum / std::max<size_t>(a.data.size(), 1)};
}

#if GPUNET_TEST_CODECS
// A w x h PNG of the given colour type and bit depth, samples from a pattern; palette images
// get a full palette (2^depth entries) with a tRNS chunk.
std::vector<uint8_t> write_png(int w, int h, int color, int depth, bool interlace) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out, [](png_structp p, png_bytep d, size_t n) {
        auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        v->insert(v->end(), d, d + n);
      },
      nullptr);
  png_set_IHDR(png, info, w, h, depth, color, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_color pal[256];
    png_byte alpha[256];
    for (int i = 0; i < 256; ++i) {
      pal[i] = {static_cast<png_byte>(i * 16), static_cast<png_byte>(255 - i * 9), static_cast<png_byte>(i * i)};
      alpha[i] = static_cast<png_byte>(i * 17);
    }
    png_set_PLTE(png, info, pal, 1 << depth);  // every index the samples can take
    png_set_tRNS(png, info, alpha, 1 << depth, nullptr);
  }
  png_write_info(png, info);
  const int channels = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
  const size_t rowbytes = (static_cast<size_t>(w) * channels * depth + 7) / 8;
  std::vector<std::vector<png_byte>> rows(h, std::vector<png_byte>(rowbytes));
  for (int y = 0; y < h; ++y)
    for (size_t i = 0; i < rowbytes; ++i) rows[y][i] = static_cast<png_byte>(y * 31 + i * 7 + (i * y) % 13);
  std::vector<png_bytep> ptrs;
  for (auto& r : rows) ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// A w x h JPEG from libjpeg: colour (4:2:0 or 4:4:4) or grey, baseline or progressive.
std::vector<uint8_t> write_jpeg(int w, int h, bool grey, bool subsample, bool progressive, int quality) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = grey ? 1 : 3;
  c.in_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (!grey && !subsample)
    for (int k = 0; k < 3; ++k) c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = 1;
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  const auto px = gpunet::test::class_image(w, h, 1, 3);
  std::vector<uint8_t> row(static_cast<size_t>(w) * 3);
  while (c.next_scanline < c.image_height) {
    const size_t y = c.next_scanline;
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < (grey ? 1 : 3); ++k) row[x * (grey ? 1 : 3) + k] = static_cast<uint8_t>(px[(y * w + x) * 3 + k] + (x * y) % 40);
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  free(buf);
  return out;
}
#endif

#define NEEDS_LIBS()                                                                                     \
  if (!codec::have_libjpeg() || !codec::have_libpng())                                                   \
  GTEST_SKIP() << "this build has no libjpeg-turbo/libpng (stb_image decodes everything): "            \
               << codec::libjpeg_version() << ", " << codec::libpng_version()

}  // namespace

#if GPUNET_TEST_CODECS
TEST(ImageCodecs, LibpngEqualsStbImageForEveryColourTypeAndDepth) {
  NEEDS_LIBS();
  struct Kind {
    int color, depth;
  };
  const Kind kinds[] = {{PNG_COLOR_TYPE_RGB, 8},       {PNG_COLOR_TYPE_RGB, 16},     {PNG_COLOR_TYPE_RGB_ALPHA, 8},
                        {PNG_COLOR_TYPE_RGB_ALPHA, 16}, {PNG_COLOR_TYPE_GRAY, 1},     {PNG_COLOR_TYPE_GRAY, 2},
                        {PNG_COLOR_TYPE_GRAY, 4},       {PNG_COLOR_TYPE_GRAY, 8},     {PNG_COLOR_TYPE_GRAY, 16},
                        {PNG_COLOR_TYPE_GRAY_ALPHA, 8}, {PNG_COLOR_TYPE_PALETTE, 2},  {PNG_COLOR_TYPE_PALETTE, 4},
                        {PNG_COLOR_TYPE_PALETTE, 8}};
  for (const Kind& k : kinds)
    for (bool interlace : {false, true}) {
      const auto bytes = write_png(13, 9, k.color, k.depth, interlace);
      const std::string what = "colour type " + std::to_string(k.color) + ", depth " + std::to_string(k.depth) +
                               (interlace ? ", Adam7" : "");
      const DecodedImage ours = codec::decode_libpng(bytes, "x.png"), ref = codec::decode_stb(bytes, "x.png", 3);
      ASSERT_EQ(ours.c, 3) << what;
      EXPECT_EQ(ours.w, 13) << what;
      EXPECT_EQ(ours.data, ref.data) << what;
      EXPECT_EQ(codec::decode(bytes, "x.png", codec::Codec::Auto).data, ref.data) << what;
    }
}

// Two JPEG decoders agree up to rounding: libjpeg-turbo's ISLOW IDCT and stb_image's integer
// IDCT, and both upsample chroma with the triangle filter ("fancy"), but round the IDCT and
// the colour conversion differently. The tolerance: no sample more than 8 apart, the mean
// under 1; grey (no colour conversion): at most 1 apart. Measured: 3-4, 0.1-0.17, 1.
TEST(ImageCodecs, LibjpegAgreesWithStbImageWithinRounding) {
  NEEDS_LIBS();
  for (bool grey : {false, true})
    for (bool subsample : {true, false})
      for (bool progressive : {false, true})
        for (int q : {50, 95}) {
          const auto bytes = write_jpeg(37, 23, grey, subsample, progressive, q);
          const std::string what = std::string(grey ? "grey" : subsample ? "4:2:0" : "4:4:4") +
                                   (progressive ? " progressive" : " baseline") + " q" + std::to_string(q);
          const DecodedImage ours = codec::decode_libjpeg(bytes, "x.jpg"), ref = codec::decode_stb(bytes, "x.jpg", 3);
          const auto [most, mean] = diff(ours, ref);
          EXPECT_LE(most, 8) << what;
          EXPECT_LT(mean, 1.0) << what;
          if (grey) EXPECT_LE(most, 1) << what << ": grey has no colour conversion or upsampling, only IDCT rounding";
        }
  // stb_image_write's JPEGs (what the image-folder tests write) too.
  gpunet::test::TempDir t;
  gpunet::test::write_image(t.path / "a.jpg", 64, 48, gpunet::test::class_image(64, 48, 2, 5));
  const auto bytes = read_bytes(t.path / "a.jpg");
  const auto [most, mean] = diff(codec::decode_libjpeg(bytes, "a.jpg"), codec::decode_stb(bytes, "a.jpg", 3));
  EXPECT_LE(most, 8);
  EXPECT_LT(mean, 1.0);
}

TEST(ImageCodecs, DecodeImageUsesLibjpegForJpeg) {
  NEEDS_LIBS();
  gpunet::test::TempDir t;
  const fs::path p = t.path / "a.jpg";
  gpunet::test::write_image(p, 40, 30, gpunet::test::class_image(40, 30, 0, 1));
  const auto bytes = read_bytes(p);
  EXPECT_EQ(decode_image(p.string()).data, codec::decode_libjpeg(bytes, "a.jpg").data);
  EXPECT_NE(decode_image(p.string()).data, codec::decode_stb(bytes, "a.jpg", 3).data) << "these differ by rounding";
  EXPECT_NE(codec::libjpeg_version().find("libjpeg"), std::string::npos);
  EXPECT_NE(codec::libpng_version().find("libpng 1."), std::string::npos);
}

TEST(ImageCodecs, CorruptFilesAreOneInputErrorNamingTheFile) {
  NEEDS_LIBS();
  const auto jpg = write_jpeg(64, 64, false, true, false, 90);
  const auto png = write_png(32, 32, PNG_COLOR_TYPE_RGB, 8, false);
  auto expect_error = [](const std::vector<uint8_t>& bytes, const std::string& name, const std::string& want,
                         codec::Codec c = codec::Codec::Auto) {
    std::string msg;
    try {
      codec::decode(bytes, name, c);
    } catch (const gpunet::InputError& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg.rfind(name + ": cannot decode the image (", 0), 0u) << name << ": " << msg;
    EXPECT_NE(msg.find(want), std::string::npos) << name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };
  expect_error({jpg.begin(), jpg.begin() + jpg.size() / 2}, "half.jpg", "truncated");
  expect_error({jpg.begin(), jpg.begin() + 20}, "header.jpg", "corrupt JPEG");
  // PNG: libpng (the benchmark's) and stb_image (decode_image's).
  const std::vector<uint8_t> half_png(png.begin(), png.begin() + png.size() / 2);
  expect_error(half_png, "half.png", "truncated", codec::Codec::LibPng);
  expect_error(half_png, "half.png", "");
  auto bad_crc = png;
  bad_crc[bad_crc.size() - 20] ^= 0x55;  // inside IDAT: its CRC no longer matches (stb_image does not check)
  expect_error(bad_crc, "crc.png", "corrupt PNG", codec::Codec::LibPng);
  // A frame header (SOF0) declaring 10000 x 10000: refused before libjpeg allocates.
  auto huge = jpg;
  for (size_t i = 2; i + 9 < huge.size(); ++i)
    if (huge[i] == 0xFF && huge[i + 1] == 0xC0) {
      huge[i + 5] = 0x27, huge[i + 6] = 0x10, huge[i + 7] = 0x27, huge[i + 8] = 0x10;
      break;
    }
  expect_error(huge, "huge.jpg", "its header declares 10000x10000 pixels");
  std::string direct;
  try {
    codec::decode_libjpeg(huge, "huge.jpg");
  } catch (const gpunet::InputError& e) {
    direct = e.what();
  }
  EXPECT_NE(direct.find("declares 10000x10000"), std::string::npos) << direct;
}

// Damaged JPEGs (every byte position changed in turn, every length cut): each decodes or is an
// InputError; libjpeg never exits the process or prints (its default handlers would).
TEST(ImageCodecs, DamagedJpegsDecodeOrAreInputErrors) {
  NEEDS_LIBS();
  const auto jpg = write_jpeg(24, 16, false, true, true, 80);
  int errors = 0;
  testing::internal::CaptureStderr();
  for (size_t i = 0; i < jpg.size(); ++i)
    for (int variant = 0; variant < 2; ++variant) {
      std::vector<uint8_t> b = jpg;
      if (variant == 0) b[i] ^= static_cast<uint8_t>(0x5A + i);
      else b.resize(i);
      try {
        const DecodedImage img = codec::decode(b, "d.jpg", codec::Codec::Auto);
        EXPECT_EQ(img.data.size(), static_cast<size_t>(img.w) * img.h * 3);
      } catch (const gpunet::InputError&) {
        ++errors;
      }
    }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_GT(errors, 0);
}
#endif

TEST(ImageCodecs, WithoutTheLibrariesStbImageDecodesEverything) {
  if (codec::have_libjpeg() && codec::have_libpng()) {
    EXPECT_NE(codec::libjpeg_version(), "absent");
    return;
  }
  gpunet::test::TempDir t;
  gpunet::test::write_image(t.path / "a.png", 8, 8, gpunet::test::class_image(8, 8, 0, 0));
  EXPECT_EQ(decode_image((t.path / "a.png").string()).data, gpunet::test::class_image(8, 8, 0, 0));
}
