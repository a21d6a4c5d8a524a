// Image decoders, validate then time: stb_image against libjpeg-turbo (JPEG) and libpng (PNG),
// the choice decode_image makes for each format (src/data/image_codecs.h).
//   build-cpu/bin/bench_image_decoders                 generated photo-like images (stb_image_write):
//                                                      32x32 and 256x256, JPEG q90 and PNG
//   build-cpu/bin/bench_image_decoders --dir D [--repeat R]   the .jpg/.jpeg/.png files of D
// Validation first, on every image: PNG pixels equal bit for bit, JPEG within max |diff| <= 8
// and mean |diff| < 1 (IDCT and colour-conversion rounding); any failure stops the bench (exit 1).
// Then each decoder decodes the in-memory files one after another on one thread (best of R
// passes, default 3); printed in images/s with the ratio library / stb_image.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_image_write.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "data/image_codecs.h"

using namespace gpunet::data;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

void append(void* ctx, void* data, int n) {
  auto* v = static_cast<Bytes*>(ctx);
  v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
}

// Smooth gradients plus noise: compresses like a photograph rather than like flat colour.
Bytes photo(int s, bool jpeg, std::mt19937& rng) {
  std::normal_distribution<float> noise(0, 10);
  std::vector<uint8_t> px(static_cast<size_t>(s) * s * 3);
  const float a = static_cast<float>(rng() % 100) / 50, b = static_cast<float>(rng() % 100) / 50;
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x)
      for (int k = 0; k < 3; ++k) {
        const float v = 128 + 90 * std::sin(a * x * 6.0f / s + k) * std::cos(b * y * 5.0f / s - k) + noise(rng);
        px[(static_cast<size_t>(y) * s + x) * 3 + k] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
      }
  Bytes out;
  const int ok = jpeg ? stbi_write_jpg_to_func(append, &out, s, s, 3, px.data(), 90)
                      : stbi_write_png_to_func(append, &out, s, s, 3, px.data(), s * 3);
  if (!ok) std::exit(2);
  return out;
}

double rate(const std::vector<Bytes>& files, codec::Codec c, int repeat) {
  double best = 1e30;
  size_t sink = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const Bytes& b : files) sink += codec::decode(b, "x", c).data.size();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (sink == 0) std::printf("(nothing decoded)\n");
  return static_cast<double>(files.size()) / best;
}

// Validates, then times, one group of files of one format. Returns false on a mismatch.
bool run(const std::string& name, const std::vector<Bytes>& files, bool jpeg, int repeat) {
  const codec::Codec lib = jpeg ? codec::Codec::LibJpeg : codec::Codec::LibPng;
  int most = 0;
  double mean = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const DecodedImage a = codec::decode(files[i], "lib", lib), b = codec::decode(files[i], "stb", codec::Codec::Stb);
    if (a.w != b.w || a.h != b.h || a.data.size() != b.data.size()) {
      std::printf("%s: image %zu: sizes differ (%dx%d vs %dx%d)\n", name.c_str(), i, a.w, a.h, b.w, b.h);
      return false;
    }
    double sum = 0;
    for (size_t j = 0; j < a.data.size(); ++j) {
      const int d = std::abs(int(a.data[j]) - int(b.data[j]));
      most = std::max(most, d);
      sum += d;
    }
    mean = std::max(mean, sum / static_cast<double>(a.data.size()));
  }
  const bool ok = jpeg ? (most <= 8 && mean < 1.0) : most == 0;
  std::printf("%-22s %5zu files  validate: max |diff| %d, worst mean |diff| %.3f (%s: %s)\n", name.c_str(), files.size(),
              most, mean, jpeg ? "tolerance 8 / 1.0" : "must be exact", ok ? "ok" : "FAILED");
  if (!ok) return false;
  const double stb = rate(files, codec::Codec::Stb, repeat), ours = rate(files, lib, repeat);
  std::printf("%-22s stb_image %8.0f images/s   %s %8.0f images/s   ratio %.2f\n", name.c_str(), stb,
              jpeg ? "libjpeg-turbo" : "libpng       ", ours, ours / stb);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  if (!codec::have_libjpeg() || !codec::have_libpng()) {
    std::printf("this build has no libjpeg-turbo/libpng: nothing to compare (stb_image decodes everything)\n");
    return 0;
  }
  std::printf("%s, %s, stb_image 2.27; one thread, best of %d\n", codec::libjpeg_version().c_str(),
              codec::libpng_version().c_str(), repeat);
  bool ok = true;
  try {
    if (!dir.empty()) {
      std::vector<Bytes> jpg, png;
      for (const auto& e : fs::recursive_directory_iterator(dir)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (ext != ".png" && ext != ".jpg" && ext != ".jpeg") continue;
        std::ifstream in(e.path(), std::ios::binary);
        (ext == ".png" ? png : jpg).emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      if (!jpg.empty()) ok &= run(dir + " JPEG", jpg, true, repeat);
      if (!png.empty()) ok &= run(dir + " PNG", png, false, repeat);
    } else {
      std::mt19937 rng(1);
      for (int s : {32, 256})
        for (bool jpeg : {true, false}) {
          std::vector<Bytes> files;
          for (int i = 0, n = s == 32 ? 3000 : 300; i < n; ++i) files.push_back(photo(s, jpeg, rng));
          ok &= run(std::to_string(s) + "x" + std::to_string(s) + (jpeg ? " JPEG q90" : " PNG"), files, jpeg, repeat);
        }
    }
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  return ok ? 0 : 1;
}
