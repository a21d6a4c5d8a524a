// JPEG through libjpeg-turbo and PNG through libpng, from memory, to interleaved RGB. Compiled
// with GPUNET_HAVE_LIBJPEG / GPUNET_HAVE_LIBPNG (cmake/Dependencies.cmake); without them the
// decoders say so and decode_image keeps to stb_image. Errors come back through longjmp to the
// function that called setjmp; only C frames (the libraries') lie between, and nothing with a
// destructor is created after setjmp in that function.
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "data/image_codecs.h"
#include "gpunet/error.h"

#if GPUNET_HAVE_LIBJPEG
#include <jpeglib.h>
#include <jerror.h>
#endif
#if GPUNET_HAVE_LIBPNG
#include <png.h>
#endif

namespace gpunet::data::codec {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw InputError(detail::cat(path, ": cannot decode the image (", why, ")"));
}

#if GPUNET_HAVE_LIBJPEG
struct JpegErrors {
  jpeg_error_mgr mgr;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings (level -1) are not printed; the one that means missing data makes the file an error
// (libjpeg would fill the rest grey; PIL refuses a truncated image too).
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegErrors*>(cinfo->err)->truncated = true;
}
#endif

#if GPUNET_HAVE_LIBPNG
struct PngInput {
  const uint8_t* data;
  size_t size, at;
  char message[200];
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->message, sizeof in->message, "%s", msg);
  png_longjmp(png, 1);
}
void png_on_warning(png_structp, png_const_charp) {}

void png_read_bytes(png_structp png, png_bytep out, size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (in->size - in->at < n) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, in->data + in->at, n);
  in->at += n;
}
#endif

}  // namespace

bool have_libjpeg() { return GPUNET_HAVE_LIBJPEG != 0; }
bool have_libpng() { return GPUNET_HAVE_LIBPNG != 0; }

std::string libjpeg_version() {
#if GPUNET_HAVE_LIBJPEG && defined(LIBJPEG_TURBO_VERSION)
#define GPUNET_STR2(x) #x
#define GPUNET_STR(x) GPUNET_STR2(x)
  return "libjpeg-turbo " GPUNET_STR(LIBJPEG_TURBO_VERSION);
#elif GPUNET_HAVE_LIBJPEG
  return "libjpeg " + std::to_string(JPEG_LIB_VERSION);
#else
  return "absent";
#endif
}

std::string libpng_version() {
#if GPUNET_HAVE_LIBPNG
  return std::string("libpng ") + png_get_libpng_ver(nullptr);
#else
  return "absent";
#endif
}

DecodedImage decode_libjpeg(const std::vector<uint8_t>& bytes, const std::string& path) {
#if GPUNET_HAVE_LIBJPEG
  jpeg_decompress_struct cinfo;
  JpegErrors err{};
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.emit_message = jpeg_on_message;
  DecodedImage img;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fail(path, std::string("corrupt JPEG: ") + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  const int64_t w = cinfo.image_width, h = cinfo.image_height;
  if (w * h > kMaxImagePixels || cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    refuse_huge(path, w, h);
    return img;  // CMYK: not this decoder's (w = 0)
  }
  cinfo.out_color_space = JCS_RGB;  // libjpeg's defaults otherwise: ISLOW IDCT, fancy upsampling (as PIL)
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    return img;
  }
  try {
    img.data.resize(static_cast<size_t>(w) * h * 3);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.data.data() + static_cast<size_t>(cinfo.output_scanline) * w * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.truncated) fail(path, "corrupt JPEG: the data ends early (a truncated file?)");
  img.w = static_cast<int>(w);
  img.h = static_cast<int>(h);
  img.c = 3;
  return img;
#else
  fail(path, "this gpunet was built without libjpeg-turbo");
#endif
}

DecodedImage decode_libpng(const std::vector<uint8_t>& bytes, const std::string& path) {
#if GPUNET_HAVE_LIBPNG
  PngInput in{bytes.data(), bytes.size(), 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &in, png_on_error, png_on_warning);
  if (!png) throw std::bad_alloc();
  png_infop info = png_create_info_struct(png);
  DecodedImage img;
  std::vector<png_bytep> rows;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    fail(path, std::string("corrupt PNG: ") + in.message);
  }
  if (!info) png_error(png, "out of memory");
  png_set_read_fn(png, &in, png_read_bytes);
  png_read_info(png, info);
  const int64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (w * h > kMaxImagePixels) {
    png_destroy_read_struct(&png, &info, nullptr);
    refuse_huge(path, w, h);
  }
  // To 8-bit RGB as stb_image does: 16-bit samples keep their high byte, palettes and grey
  // expand, alpha (and tRNS) is dropped, no gamma is applied.
  const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (depth == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 || png_get_rowbytes(png, info) != static_cast<size_t>(w) * 3) {
    png_destroy_read_struct(&png, &info, nullptr);
    return img;  // a layout this path does not give as RGB: stb_image's
  }
  try {
    img.data.resize(static_cast<size_t>(w) * h * 3);
    rows.resize(static_cast<size_t>(h));
  } catch (...) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  for (int64_t y = 0; y < h; ++y) rows[y] = img.data.data() + static_cast<size_t>(y) * w * 3;
  png_read_image(png, rows.data());  // the chunks after the image data are not read (nor are they by stb_image or PIL)
  png_destroy_read_struct(&png, &info, nullptr);
  img.w = static_cast<int>(w);
  img.h = static_cast<int>(h);
  img.c = 3;
  return img;
#else
  fail(path, "this gpunet was built without libpng");
#endif
}

}  // namespace gpunet::data::codec
