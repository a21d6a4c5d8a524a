// The decode-once cache of image folders: every file decoded in parallel (all cores) into
// uint8 (3, S, S) records (torchvision's Resize(S) + CenterCrop(S)), with a progress bar.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "gpunet/data/image_set.h"
#include "gpunet/error.h"

namespace gpunet::data {
namespace {

std::atomic<int64_t> g_decoded{0};

// "decoding images [#####.....] 1200/5000" on a terminal's stderr, at most 5 times a second.
class DecodeBar {
 public:
  DecodeBar(bool on, int64_t total) : on_(on && isatty(STDERR_FILENO)), total_(total) {}
  void update(int64_t done) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const int w = 30, fill = static_cast<int>(w * done / std::max<int64_t>(total_, 1));
    std::fprintf(stderr, "\rdecoding images [%s%s] %lld/%lld", std::string(fill, '#').c_str(),
                 std::string(w - fill, '.').c_str(), static_cast<long long>(done), static_cast<long long>(total_));
    if (done == total_) std::fprintf(stderr, "\r%*s\r", 70, "");
    std::fflush(stderr);
  }

 private:
  bool on_;
  int64_t total_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

int64_t images_decoded() { return g_decoded.load(); }

std::vector<uint8_t> resize_center_crop(const DecodedImage& img, int size) {
  GPUNET_CHECK(size > 0 && img.c == 3, "resize_center_crop: needs an RGB image and a positive size");
  DecodedImage r = img;
  const int short_side = std::min(img.w, img.h);
  if (short_side != size) {
    // torchvision Resize(int): the shorter side becomes size, the longer int(size * long / short).
    int w = size, h = size;
    if (img.w > img.h) w = static_cast<int>(static_cast<int64_t>(size) * img.w / img.h);
    if (img.h > img.w) h = static_cast<int>(static_cast<int64_t>(size) * img.h / img.w);
    r = resize_image(img, std::max(w, size), std::max(h, size));
  }
  // CenterCrop: top = int(round((h - size) / 2)), left likewise; Python's round, half to even
  // (nearbyint in the default rounding mode).
  const int top = static_cast<int>(std::nearbyint((r.h - size) / 2.0));
  const int left = static_cast<int>(std::nearbyint((r.w - size) / 2.0));
  std::vector<uint8_t> out(static_cast<size_t>(3) * size * size);
  const size_t plane = static_cast<size_t>(size) * size;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const uint8_t* px = r.data.data() + (static_cast<size_t>(y + top) * r.w + (x + left)) * 3;
      for (int k = 0; k < 3; ++k) out[k * plane + static_cast<size_t>(y) * size + x] = px[k];
    }
  return out;
}

void decode_files_into(const std::vector<std::string>& files, int size, int threads, bool progress, uint8_t* out,
                       std::vector<bool>& ok_out, std::vector<std::string>& errors) {
  const int64_t n = static_cast<int64_t>(files.size());
  const int64_t rec = int64_t(3) * size * size;
  ok_out.assign(files.size(), false);
  errors.assign(files.size(), "");
  std::vector<char> ok(files.size(), 0);  // written by the workers (vector<bool> is not thread-safe)
  int nt = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nt = static_cast<int>(std::min<int64_t>(nt, std::max<int64_t>(n, 1)));
  std::atomic<int64_t> next{0}, done{0};
  DecodeBar bar(progress, n);
  // Each worker takes the next file; the calling thread is one of them and draws the bar.
  auto work = [&](bool draw) {
    for (int64_t i; (i = next.fetch_add(1)) < n;) {
      try {
        const std::vector<uint8_t> r = resize_center_crop(decode_image(files[i], 3), size);
        std::copy(r.begin(), r.end(), out + i * rec);
        ok[i] = 1;
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
      g_decoded.fetch_add(1);
      const int64_t d = done.fetch_add(1) + 1;
      if (draw) bar.update(d);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(work, false);
  work(true);
  for (auto& t : pool) t.join();
  bar.update(n);
  for (size_t i = 0; i < ok.size(); ++i) ok_out[i] = ok[i] != 0;
}

DecodedSet decode_files(const std::vector<std::string>& files, int size, int threads, bool progress) {
  DecodedSet out;
  out.images.assign(files.size() * static_cast<size_t>(3) * size * size, 0);
  decode_files_into(files, size, threads, progress, out.images.data(), out.ok, out.errors);
  return out;
}

void channel_stats(const ImageDataset& ds, std::vector<float>& mean, std::vector<float>& std) {
  const int64_t plane = static_cast<int64_t>(ds.h) * ds.w;
  mean.assign(ds.c, 0.5f);
  std.assign(ds.c, 0.5f);
  if (ds.n == 0) return;
  for (int k = 0; k < ds.c; ++k) {
    // Integer sums of v and v^2 are exact; the divisions come last, in double.
    uint64_t s = 0, s2 = 0;
    for (int64_t i = 0; i < ds.n; ++i) {
      const uint8_t* p = ds.image(i) + k * plane;
      for (int64_t j = 0; j < plane; ++j) {
        s += p[j];
        s2 += static_cast<uint64_t>(p[j]) * p[j];
      }
    }
    const double cnt = static_cast<double>(ds.n) * static_cast<double>(plane);
    const double m = static_cast<double>(s) / cnt, var = static_cast<double>(s2) / cnt - m * m;
    mean[k] = static_cast<float>(m / 255.0);
    std[k] = static_cast<float>(std::sqrt(std::max(var, 0.0)) / 255.0);
    if (std[k] <= 0) std[k] = 1.0f;  // a constant channel: leave it centred, unscaled
  }
}

}  // namespace gpunet::data
