// airbench94's data path in the batch kernel: the recipe's normalisation (bit-identical to the
// peer's normalise()), the reflect-pad-2 translate and the alternating flip, against a direct
// per-image reference that follows the peer's steps literally (flip once, reflect-pad, crop,
// flip on odd epochs); the alternation over epochs; the loader's airbench transforms; CUDA parity
// (skips without a GPU). Fixtures: tests/golden/airbench_data.json (tools/gen_airbench_fixture.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "gpunet/random.h"
#include "kernels/batch.h"
#include "ops/batch.h"
#include "support/assert_close.h"
#include "support/golden.h"
#include "support/gpu.h"

namespace gpunet {
namespace {

using data::Transforms;
using kernels::BatchParams;

constexpr float kMean[3] = {0.4914f, 0.4822f, 0.4465f};
constexpr float kStd[3] = {0.2470f, 0.2435f, 0.2616f};

BatchParams airbench_params(uint64_t seed, uint64_t epoch, int64_t position, int pad = 2, bool reflect = true,
                            bool alternating = true, bool flip = true) {
  BatchParams p{};
  p.C = 3;
  p.H = 32;
  p.W = 32;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = kMean[c];
    p.std[c] = kStd[c];
  }
  p.mean[3] = 0.f;
  p.std[3] = 1.f;
  p.crop_pad = pad;
  p.hflip = flip;
  p.seed = seed;
  p.epoch = epoch;
  p.position = position;
  p.reflect = reflect;
  p.alternating_flip = alternating;
  return p;
}

// M random records (3, 32, 32), labels m % 10.
struct Records {
  int M;
  std::vector<uint8_t> images, labels;
  explicit Records(int m, uint64_t seed = 7) : M(m), images(static_cast<size_t>(m) * 3072), labels(m) {
    Generator g(seed);
    for (auto& v : images) v = static_cast<uint8_t>(g.randint(256));
    for (int i = 0; i < m; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  }
};

std::vector<float> gather(const BatchParams& p, const Records& d, const std::vector<int64_t>& idx,
                          std::vector<int64_t>* y = nullptr) {
  std::vector<float> x(idx.size() * 3072);
  test::poison(x);
  std::vector<int64_t> yy(idx.size(), -1);
  kernels::cpu::gather_batch(p, static_cast<int>(idx.size()), d.images.data(), d.labels.data(), idx.data(), x.data(),
                             yy.data());
  if (y) *y = yy;
  return x;
}

// The peer's steps for one image, literally: normalise; flip if the record's coin says so
// (alternating mode); pad by `pad` with reflect (torch: the edge is not repeated) or zeros;
// crop 32x32 at (dy, dx); flip the crop (odd epochs in the alternating mode, the sample's coin in
// the random mode). Zero padding pads the raw bytes, as torchvision does (value 0 normalised).
std::vector<float> reference(const BatchParams& p, const Records& d, int64_t m, int64_t pos) {
  const kernels::BatchChoice ch = kernels::batch_sample_choice(p, pos, m);
  const int S = 32, P = 32 + 2 * p.crop_pad;
  std::vector<float> out(3072);
  for (int c = 0; c < 3; ++c) {
    std::vector<float> img(S * S), padded(static_cast<size_t>(P) * P);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const uint8_t v = d.images[static_cast<size_t>(m) * 3072 + c * 1024 + y * 32 + (ch.pre ? 31 - x : x)];
        img[y * S + x] = kernels::batch_normalize(v, p.mean[c], p.std[c]);
      }
    auto mirror = [&](int i) { return i < 0 ? -i : (i > S - 1 ? 2 * (S - 1) - i : i); };
    for (int y = 0; y < P; ++y)
      for (int x = 0; x < P; ++x) {
        const int sy = y - p.crop_pad, sx = x - p.crop_pad;
        const bool in = sy >= 0 && sy < S && sx >= 0 && sx < S;
        padded[y * P + x] = p.reflect ? img[mirror(sy) * S + mirror(sx)]
                                      : (in ? img[sy * S + sx] : kernels::batch_normalize(0, p.mean[c], p.std[c]));
      }
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const float v = padded[(y + ch.dy) * P + x + ch.dx];
        out[c * 1024 + y * S + (ch.post ? 31 - x : x)] = v;
      }
  }
  return out;
}

std::vector<float> sample_of(const std::vector<float>& x, size_t j) {
  return std::vector<float>(x.begin() + static_cast<std::ptrdiff_t>(j * 3072),
                            x.begin() + static_cast<std::ptrdiff_t>((j + 1) * 3072));
}

std::vector<float> mirrored(const std::vector<float>& img) {
  std::vector<float> out(img.size());
  for (size_t r = 0; r < img.size() / 32; ++r)
    for (int x = 0; x < 32; ++x) out[r * 32 + x] = img[r * 32 + 31 - x];
  return out;
}

TEST(AirbenchData, ReflectIndexIsTorchReflect) {
  // F.pad(torch.arange(5.), (2, 2), mode="reflect") == [2, 1, 0, 1, 2, 3, 4, 3, 2]
  const int want[9] = {2, 1, 0, 1, 2, 3, 4, 3, 2};
  for (int o = 0; o < 9; ++o) EXPECT_EQ(kernels::batch_source_index(o, 0, 2, 5, true), want[o]) << "o=" << o;
  // Zero padding: outside -> -1.
  EXPECT_EQ(kernels::batch_source_index(0, 0, 2, 5, false), -1);
  EXPECT_EQ(kernels::batch_source_index(6, 2, 2, 5, false), -1);
  EXPECT_EQ(kernels::batch_source_index(3, 1, 2, 5, false), 2);
}

TEST(AirbenchData, KernelMatchesThePeersStepsPerImage) {
  const Records d(11);
  const std::vector<int64_t> idx = {3, 0, 10, 3, 7, 1, 1, 9, 5, 2, 8, 4, 6, 0, 10, 3, 2};
  struct Mode {
    int pad;
    bool reflect, alternating, flip;
  };
  for (const Mode mode : {Mode{2, true, true, true}, Mode{2, true, false, true}, Mode{3, false, true, true},
                          Mode{2, true, true, false}, Mode{0, true, true, true}}) {
    for (uint64_t epoch : {0u, 1u, 2u, 5u}) {
      SCOPED_TRACE(testing::Message() << "pad " << mode.pad << (mode.reflect ? " reflect" : " zeros")
                                      << (mode.alternating ? " alternating" : " random") << " flip " << mode.flip
                                      << " epoch " << epoch);
      const BatchParams p = airbench_params(42, epoch, 100, mode.pad, mode.reflect, mode.alternating, mode.flip);
      std::vector<int64_t> y;
      const std::vector<float> x = gather(p, d, idx, &y);
      std::vector<float> want;
      for (size_t j = 0; j < idx.size(); ++j) {
        const std::vector<float> r = reference(p, d, idx[j], p.position + static_cast<int64_t>(j));
        want.insert(want.end(), r.begin(), r.end());
        EXPECT_EQ(y[j], idx[j] % 10);
      }
      EXPECT_ALL_CLOSE(x, want, 0.0, 0.0);
    }
  }
}

TEST(AirbenchData, TheSamplesChoicesCoverEveryShiftAndBothFlips) {
  const BatchParams p0 = airbench_params(9, 0, 0), p1 = airbench_params(9, 1, 0);
  std::vector<int> seen_dy(5, 0), seen_dx(5, 0);
  int pre = 0, same_shift = 0;
  const int n = 5000;
  for (int64_t r = 0; r < n; ++r) {
    const kernels::BatchChoice a = kernels::batch_sample_choice(p0, r, r), b = kernels::batch_sample_choice(p1, r, r);
    ASSERT_TRUE(a.dy >= 0 && a.dy <= 4 && a.dx >= 0 && a.dx <= 4);
    ++seen_dy[a.dy];
    ++seen_dx[a.dx];
    pre += a.pre;
    same_shift += a.dy == b.dy && a.dx == b.dx;
    ASSERT_EQ(a.pre, b.pre) << "the record's coin is drawn once, not per epoch";
    ASSERT_EQ(a.post, 0);
    ASSERT_EQ(b.post, 1);
  }
  for (int k = 0; k < 5; ++k) EXPECT_GT(seen_dy[k], 850) << "dy=" << k;  // ~1000 each
  for (int k = 0; k < 5; ++k) EXPECT_GT(seen_dx[k], 850) << "dx=" << k;
  EXPECT_GT(pre, 2300);  // ~2500
  EXPECT_LT(pre, 2700);
  EXPECT_LT(same_shift, 300);  // new shifts each epoch: ~1/25 stay the same (~200)
  // Another seed gives other coins.
  int agree = 0;
  for (int64_t r = 0; r < 1000; ++r)
    agree += kernels::batch_record_flip(airbench_params(9, 0, 0), r) ==
             kernels::batch_record_flip(airbench_params(10, 0, 0), r);
  EXPECT_GT(agree, 400);
  EXPECT_LT(agree, 600);
}

TEST(AirbenchData, EveryImagesFlipIsInvertedOnOddEpochs) {
  // Translate off: epoch e shows record m flipped by coin(m) XOR (e odd), whatever its position.
  const Records d(64);
  std::vector<int64_t> idx(64);
  for (int i = 0; i < 64; ++i) idx[i] = i;
  const BatchParams p0 = airbench_params(5, 0, 0, 0);
  const std::vector<float> e0 = gather(p0, d, idx);
  const std::vector<float> plain = gather(airbench_params(5, 0, 0, 0, true, true, false), d, idx);
  int flipped0 = 0;
  for (uint64_t e = 1; e < 6; ++e) {
    std::vector<int64_t> rev(idx.rbegin(), idx.rend());  // other positions: the coin belongs to the record
    const std::vector<float> x = gather(airbench_params(5, e, 1000 * e, 0), d, rev);
    for (int j = 0; j < 64; ++j) {
      const std::vector<float> got = sample_of(x, static_cast<size_t>(j)), first = sample_of(e0, 63 - j);
      EXPECT_ALL_CLOSE(got, e % 2 ? mirrored(first) : first, 0.0, 0.0) << "epoch " << e << " record " << 63 - j;
    }
  }
  for (int m = 0; m < 64; ++m) {
    const std::vector<float> a = sample_of(e0, m), raw = sample_of(plain, m);
    const bool f = kernels::batch_record_flip(p0, m) != 0;
    flipped0 += f;
    EXPECT_ALL_CLOSE(a, f ? mirrored(raw) : raw, 0.0, 0.0) << "record " << m;
  }
  EXPECT_GT(flipped0, 16);  // both kinds of record occur (~32)
  EXPECT_LT(flipped0, 48);
}

TEST(AirbenchData, NoAugmentMatchesThePeersNormalisedTensorsExactly) {
  const nlohmann::json fx = test::load_golden("airbench_data.json");
  const std::vector<float> lut = test::golden_floats(test::golden_case(fx, "normalise_lut")["out"]);  // (3, 256)
  ASSERT_EQ(lut.size(), 768u);
  const Transforms t = Transforms::airbench().without_augmentation();
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(t.mean[c], kMean[c]);
    EXPECT_EQ(t.std[c], kStd[c]);
  }
  auto d = std::make_shared<data::Cifar10>(data::sample_dir(), data::Split::Train);
  data::LoaderOptions o;
  o.batch_size = 500;
  o.shuffle = false;
  o.transforms = t;
  data::DataLoader dl(d, o);
  data::Batch b;
  int64_t seen = 0, mismatches = 0;
  while (dl.next(b)) {
    const std::vector<float> x = b.x.to_vector<float>();
    for (int64_t j = 0; j < b.size; ++j)
      for (int k = 0; k < 3072; ++k) {
        const float want = lut[(k / 1024) * 256 + d->image(seen + j)[k]];
        mismatches += std::memcmp(&x[j * 3072 + k], &want, 4) != 0;
      }
    seen += b.size;
  }
  EXPECT_EQ(seen, 2000);
  EXPECT_EQ(mismatches, 0) << "elements that differ from the peer's normalise() in their bits";
}

TEST(AirbenchData, TranslateCropsFromThePeersReflectPaddedImage) {
  // The peer's F.pad(flipped, (2, 2, 2, 2), mode="reflect") of sample record 0, unflipped and flipped:
  // every batch of record 0 is a 32x32 window of one of them at (dy, dx), mirrored on odd epochs.
  const nlohmann::json c = test::golden_case(test::load_golden("airbench_data.json"), "sample_image0_padded");
  const std::vector<float> pads[2] = {test::golden_floats(c["unflipped"]), test::golden_floats(c["flipped"])};
  ASSERT_EQ(pads[0].size(), 3u * 36 * 36);
  data::Cifar10 d(data::sample_dir(), data::Split::Train);
  Records r(1);
  std::memcpy(r.images.data(), d.image(0), 3072);
  const std::vector<int64_t> idx(40, 0);
  int pre_seen[2] = {0, 0};
  for (uint64_t e = 0; e < 4; ++e) {
    const BatchParams p = airbench_params(3, e, 7);
    const std::vector<float> x = gather(p, r, idx);
    for (size_t j = 0; j < idx.size(); ++j) {
      const kernels::BatchChoice ch = kernels::batch_sample_choice(p, p.position + static_cast<int64_t>(j), 0);
      ++pre_seen[ch.pre];
      std::vector<float> want(3072);
      for (int ch3 = 0; ch3 < 3; ++ch3)
        for (int y = 0; y < 32; ++y)
          for (int xx = 0; xx < 32; ++xx)
            want[ch3 * 1024 + y * 32 + xx] = pads[ch.pre][(ch3 * 36 + y + ch.dy) * 36 + xx + ch.dx];
      EXPECT_ALL_CLOSE(sample_of(x, j), e % 2 ? mirrored(want) : want, 0.0, 0.0) << "epoch " << e << " sample " << j;
    }
  }
  EXPECT_TRUE(pre_seen[0] == 160 || pre_seen[1] == 160) << "one record, one coin";
}

TEST(AirbenchData, LoaderAppliesTheRecipeAndChecksTheReflectPadding) {
  // Shuffled epochs through the loader equal the kernel's batches of the same permutation.
  auto d = std::make_shared<data::ImageDataset>();
  const Records r(50, 3);
  d->n = 50;
  d->images = r.images;
  d->labels = r.labels;
  d->classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  data::LoaderOptions o;
  o.batch_size = 16;
  o.seed = 77;
  o.transforms = Transforms::airbench();
  data::DataLoader dl(d, o);
  for (uint64_t e = 0; e < 2; ++e) {
    const std::vector<int64_t> perm = data::epoch_permutation(50, 77, e);
    data::Batch b;
    for (int64_t i = 0; dl.next(b); ++i) {
      const std::vector<int64_t> idx(perm.begin() + i * 16, perm.begin() + i * 16 + b.size);
      EXPECT_ALL_CLOSE(b.x.to_vector<float>(), gather(airbench_params(77, e, i * 16), r, idx), 0.0, 0.0)
          << "epoch " << e << " batch " << i;
    }
  }
  Transforms bad = Transforms::airbench();
  bad.crop_padding = 32;  // torch: "Padding size should be less than the corresponding input dimension"
  o.transforms = bad;
  EXPECT_THROW(data::DataLoader(d, o), InputError);
  BatchParams p = airbench_params(1, 0, 0, 32);
  std::vector<float> x(3072);
  std::vector<int64_t> y(1), idx{0};
  EXPECT_THROW(
      ops::detail::gather_batch(Device::cpu(), p, 1, r.images.data(), r.labels.data(), idx.data(), x.data(), y.data()),
      Error);
  p.reflect = false;  // zero padding has no such limit
  ops::detail::gather_batch(Device::cpu(), p, 1, r.images.data(), r.labels.data(), idx.data(), x.data(), y.data());
}

TEST(AirbenchData, CudaBatchesAreBitIdenticalToTheCpus) {
  GPUNET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const Records d(37, 11);
  const Tensor ig = Tensor::from_vector(d.images, {37, 3, 32, 32}, gpu), lg = Tensor::from_vector(d.labels, {37}, gpu);
  for (int B : {1, 4096}) {
    Generator g(static_cast<uint64_t>(B));
    std::vector<int64_t> idx(static_cast<size_t>(B));
    for (auto& v : idx) v = static_cast<int64_t>(g.randint(37));
    const Tensor idx_g = Tensor::from_vector(idx, {B}, gpu);
    for (const bool reflect : {true, false})
      for (const bool alternating : {true, false})
        for (const uint64_t epoch : {0u, 1u, 4u}) {
          SCOPED_TRACE(testing::Message()
                       << "B " << B << " reflect " << reflect << " alternating " << alternating << " epoch " << epoch);
          const BatchParams p = airbench_params(123, epoch, 4096 * epoch, 2, reflect, alternating);
          std::vector<int64_t> yc;
          const std::vector<float> xc = gather(p, d, idx, &yc);
          Tensor xg = Tensor::full({B, 3, 32, 32}, NAN, DType::Float32, gpu);  // poisoned
          Tensor yg = Tensor::full({B}, -1, DType::Int64, gpu);
          ops::detail::gather_batch(gpu, p, B, ig.data<uint8_t>(), lg.data<uint8_t>(), idx_g.data<int64_t>(),
                                    xg.data<float>(), yg.data<int64_t>());
          const std::vector<float> xv = xg.to_vector<float>();
          EXPECT_EQ(std::memcmp(xv.data(), xc.data(), xc.size() * sizeof(float)), 0) << "batches differ";
          EXPECT_EQ(yg.to_vector<int64_t>(), yc);
        }
  }
}

}  // namespace
}  // namespace gpunet
