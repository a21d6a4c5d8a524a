// The CPU batch kernel: gather, normalisation (bit-identical to PyTorch), crop and flip; and
// the batch op (ops::detail::gather_batch), the data path's route into it.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "gpunet/device.h"
#include "gpunet/error.h"
#include "kernels/batch.h"
#include "ops/batch.h"
#include "support/assert_close.h"

using gpunet::kernels::BatchParams;

namespace {

// torch.arange(256, dtype=torch.uint8).float().div_(255.0).sub_(0.5).div_(0.5), as float32 bit
// patterns: the seed program's normalisation, computed by PyTorch 2.15 (CPU).
const uint32_t kTorchNormalized[256] = {
    0xbf800000u, 0xbf7dfdfeu, 0xbf7bfbfcu, 0xbf79f9fau, 0xbf77f7f8u, 0xbf75f5f6u, 0xbf73f3f4u, 0xbf71f1f2u,
    0xbf6feff0u, 0xbf6dedeeu, 0xbf6bebecu, 0xbf69e9eau, 0xbf67e7e8u, 0xbf65e5e6u, 0xbf63e3e4u, 0xbf61e1e2u,
    0xbf5fdfe0u, 0xbf5ddddeu, 0xbf5bdbdcu, 0xbf59d9dau, 0xbf57d7d8u, 0xbf55d5d6u, 0xbf53d3d4u, 0xbf51d1d2u,
    0xbf4fcfd0u, 0xbf4dcdceu, 0xbf4bcbccu, 0xbf49c9cau, 0xbf47c7c8u, 0xbf45c5c6u, 0xbf43c3c4u, 0xbf41c1c2u,
    0xbf3fbfc0u, 0xbf3dbdbeu, 0xbf3bbbbcu, 0xbf39b9bau, 0xbf37b7b8u, 0xbf35b5b6u, 0xbf33b3b4u, 0xbf31b1b2u,
    0xbf2fafb0u, 0xbf2dadaeu, 0xbf2babacu, 0xbf29a9aau, 0xbf27a7a8u, 0xbf25a5a6u, 0xbf23a3a4u, 0xbf21a1a2u,
    0xbf1f9fa0u, 0xbf1d9d9eu, 0xbf1b9b9cu, 0xbf19999au, 0xbf179798u, 0xbf159596u, 0xbf139394u, 0xbf119192u,
    0xbf0f8f90u, 0xbf0d8d8eu, 0xbf0b8b8cu, 0xbf09898au, 0xbf078788u, 0xbf058586u, 0xbf038384u, 0xbf018182u,
    0xbefefefeu, 0xbefafafau, 0xbef6f6f6u, 0xbef2f2f2u, 0xbeeeeeeeu, 0xbeeaeaeau, 0xbee6e6e6u, 0xbee2e2e2u,
    0xbedededeu, 0xbedadadau, 0xbed6d6d6u, 0xbed2d2d2u, 0xbecececeu, 0xbecacacau, 0xbec6c6c6u, 0xbec2c2c2u,
    0xbebebebeu, 0xbebababau, 0xbeb6b6b6u, 0xbeb2b2b2u, 0xbeaeaeaeu, 0xbeaaaaaau, 0xbea6a6a6u, 0xbea2a2a2u,
    0xbe9e9e9eu, 0xbe9a9a9au, 0xbe969696u, 0xbe929292u, 0xbe8e8e8eu, 0xbe8a8a8au, 0xbe868686u, 0xbe828282u,
    0xbe7cfcfcu, 0xbe74f4f4u, 0xbe6cececu, 0xbe64e4e4u, 0xbe5cdcdcu, 0xbe54d4d4u, 0xbe4cccccu, 0xbe44c4c4u,
    0xbe3cbcbcu, 0xbe34b4b4u, 0xbe2cacacu, 0xbe24a4a4u, 0xbe1c9c9cu, 0xbe149494u, 0xbe0c8c8cu, 0xbe048484u,
    0xbdf8f8f8u, 0xbde8e8e8u, 0xbdd8d8d8u, 0xbdc8c8c8u, 0xbdb8b8b8u, 0xbda8a8a8u, 0xbd989898u, 0xbd888888u,
    0xbd70f0f0u, 0xbd50d0d0u, 0xbd30b0b0u, 0xbd109090u, 0xbce0e0e0u, 0xbca0a0a0u, 0xbc40c0c0u, 0xbb808080u,
    0x3b808100u, 0x3c40c100u, 0x3ca0a0c0u, 0x3ce0e100u, 0x3d1090a0u, 0x3d30b0c0u, 0x3d50d0e0u, 0x3d70f100u,
    0x3d888890u, 0x3d9898a0u, 0x3da8a8b0u, 0x3db8b8c0u, 0x3dc8c8d0u, 0x3dd8d8e0u, 0x3de8e8f0u, 0x3df8f900u,
    0x3e048488u, 0x3e0c8c90u, 0x3e149498u, 0x3e1c9ca0u, 0x3e24a4a8u, 0x3e2cacb0u, 0x3e34b4b8u, 0x3e3cbcc0u,
    0x3e44c4c8u, 0x3e4cccd0u, 0x3e54d4d8u, 0x3e5cdce0u, 0x3e64e4e8u, 0x3e6cecf0u, 0x3e74f4f8u, 0x3e7cfd00u,
    0x3e828284u, 0x3e868688u, 0x3e8a8a8cu, 0x3e8e8e90u, 0x3e929294u, 0x3e969698u, 0x3e9a9a9cu, 0x3e9e9ea0u,
    0x3ea2a2a4u, 0x3ea6a6a8u, 0x3eaaaaacu, 0x3eaeaeb0u, 0x3eb2b2b4u, 0x3eb6b6b8u, 0x3ebababcu, 0x3ebebec0u,
    0x3ec2c2c4u, 0x3ec6c6c8u, 0x3ecacaccu, 0x3ececed0u, 0x3ed2d2d4u, 0x3ed6d6d8u, 0x3edadadcu, 0x3ededee0u,
    0x3ee2e2e4u, 0x3ee6e6e8u, 0x3eeaeaecu, 0x3eeeeef0u, 0x3ef2f2f4u, 0x3ef6f6f8u, 0x3efafafcu, 0x3efeff00u,
    0x3f018182u, 0x3f038384u, 0x3f058586u, 0x3f078788u, 0x3f09898au, 0x3f0b8b8cu, 0x3f0d8d8eu, 0x3f0f8f90u,
    0x3f119192u, 0x3f139394u, 0x3f159596u, 0x3f179798u, 0x3f19999au, 0x3f1b9b9cu, 0x3f1d9d9eu, 0x3f1f9fa0u,
    0x3f21a1a2u, 0x3f23a3a4u, 0x3f25a5a6u, 0x3f27a7a8u, 0x3f29a9aau, 0x3f2babacu, 0x3f2dadaeu, 0x3f2fafb0u,
    0x3f31b1b2u, 0x3f33b3b4u, 0x3f35b5b6u, 0x3f37b7b8u, 0x3f39b9bau, 0x3f3bbbbcu, 0x3f3dbdbeu, 0x3f3fbfc0u,
    0x3f41c1c2u, 0x3f43c3c4u, 0x3f45c5c6u, 0x3f47c7c8u, 0x3f49c9cau, 0x3f4bcbccu, 0x3f4dcdceu, 0x3f4fcfd0u,
    0x3f51d1d2u, 0x3f53d3d4u, 0x3f55d5d6u, 0x3f57d7d8u, 0x3f59d9dau, 0x3f5bdbdcu, 0x3f5ddddeu, 0x3f5fdfe0u,
    0x3f61e1e2u, 0x3f63e3e4u, 0x3f65e5e6u, 0x3f67e7e8u, 0x3f69e9eau, 0x3f6bebecu, 0x3f6dedeeu, 0x3f6feff0u,
    0x3f71f1f2u, 0x3f73f3f4u, 0x3f75f5f6u, 0x3f77f7f8u, 0x3f79f9fau, 0x3f7bfbfcu, 0x3f7dfdfeu, 0x3f800000u,
};

BatchParams params(int crop, bool flip, uint64_t seed = 1, uint64_t epoch = 0, int64_t position = 0) {
  BatchParams p{};
  p.C = 3;
  p.H = 32;
  p.W = 32;
  for (int c = 0; c < 4; ++c) {
    p.mean[c] = 0.5f;
    p.std[c] = 0.5f;
  }
  p.crop_pad = crop;
  p.hflip = flip;
  p.seed = seed;
  p.epoch = epoch;
  p.position = position;
  return p;
}

// M records whose pixel (m, c, y, x) = (m * 31 + c * 101 + y * 7 + x * 3) % 256, labels m % 10.
struct Data {
  int M;
  std::vector<uint8_t> images, labels;
  explicit Data(int m) : M(m), images(static_cast<size_t>(m) * 3072), labels(m) {
    for (int i = 0; i < m; ++i) {
      labels[i] = static_cast<uint8_t>(i % 10);
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x) images[((i * 3 + c) * 32 + y) * 32 + x] = pixel(i, c, y, x);
    }
  }
  static uint8_t pixel(int m, int c, int y, int x) { return static_cast<uint8_t>((m * 31 + c * 101 + y * 7 + x * 3) % 256); }
};

std::vector<float> run(const BatchParams& p, const Data& d, const std::vector<int64_t>& idx, std::vector<int64_t>& y) {
  std::vector<float> x(idx.size() * 3072);
  gpunet::test::poison(x);
  y.assign(idx.size(), -1);
  gpunet::kernels::cpu::gather_batch(p, static_cast<int>(idx.size()), d.images.data(), d.labels.data(), idx.data(),
                                     x.data(), y.data());
  return x;
}

}  // namespace

TEST(BatchKernel, NormalisationMatchesPyTorchBitForBit) {
  // One record holding every byte value 0..255 (repeated), no augmentation.
  Data d(1);
  for (int k = 0; k < 3072; ++k) d.images[k] = static_cast<uint8_t>(k % 256);
  std::vector<int64_t> y;
  const std::vector<float> x = run(params(0, false), d, {0}, y);
  int mismatches = 0, first = -1;
  for (int k = 0; k < 3072; ++k) {
    uint32_t bits;
    std::memcpy(&bits, &x[k], 4);
    if (bits != kTorchNormalized[k % 256]) {
      ++mismatches;
      if (first < 0) first = k;
    }
  }
  EXPECT_EQ(mismatches, 0) << "first mismatch at byte value " << (first % 256);
  // And the hand-computed sequence ((v / 255) - 0.5) / 0.5, exact (tolerance 0).
  std::vector<float> want(3072);
  for (int k = 0; k < 3072; ++k) {
    const float a = static_cast<float>(k % 256) / 255.0f;
    const float b = a - 0.5f;
    want[k] = b / 0.5f;
  }
  EXPECT_ALL_CLOSE(x, want, 0.0, 0.0);
}

TEST(BatchKernel, GathersRecordsLabelsAndPerChannelNormalisation) {
  Data d(7);
  BatchParams p = params(0, false);
  const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.2470f, 0.2435f, 0.2616f};
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = mean[c];
    p.std[c] = sd[c];
  }
  const std::vector<int64_t> idx = {6, 0, 3, 3};
  std::vector<int64_t> y;
  const std::vector<float> x = run(p, d, idx, y);
  std::vector<float> want(x.size());
  for (size_t j = 0; j < idx.size(); ++j)
    for (int c = 0; c < 3; ++c)
      for (int yy = 0; yy < 32; ++yy)
        for (int xx = 0; xx < 32; ++xx) {
          const float a = static_cast<float>(Data::pixel(static_cast<int>(idx[j]), c, yy, xx)) / 255.0f;
          want[((j * 3 + c) * 32 + yy) * 32 + xx] = (a - mean[c]) / sd[c];
        }
  EXPECT_ALL_CLOSE(x, want, 0.0, 0.0);
  EXPECT_EQ(y, (std::vector<int64_t>{6, 0, 3, 3}));
}

TEST(BatchKernel, AugmentChoiceCoversTheRangeAndIsDeterministic) {
  const BatchParams p = params(4, true, 123, 2);
  std::vector<int> seen_dy(9, 0), seen_dx(9, 0), seen_flip(2, 0);
  for (int64_t pos = 0; pos < 4000; ++pos) {
    int dy, dx, f, dy2, dx2, f2;
    gpunet::kernels::batch_augment_choice(p, pos, &dy, &dx, &f);
    gpunet::kernels::batch_augment_choice(p, pos, &dy2, &dx2, &f2);
    ASSERT_TRUE(dy == dy2 && dx == dx2 && f == f2);
    ASSERT_TRUE(dy >= 0 && dy <= 8 && dx >= 0 && dx <= 8 && (f == 0 || f == 1));
    ++seen_dy[dy];
    ++seen_dx[dx];
    ++seen_flip[f];
  }
  for (int k = 0; k < 9; ++k) EXPECT_GT(seen_dy[k], 300) << "dy=" << k;  // ~444 each
  for (int k = 0; k < 9; ++k) EXPECT_GT(seen_dx[k], 300) << "dx=" << k;
  EXPECT_GT(seen_flip[0], 1800);
  EXPECT_GT(seen_flip[1], 1800);
  // Off means identity.
  int dy, dx, f;
  gpunet::kernels::batch_augment_choice(params(0, false, 123, 2), 17, &dy, &dx, &f);
  EXPECT_TRUE(dy == 0 && dx == 0 && f == 0);
  // Epoch and seed change the choices.
  int same = 0;
  for (int64_t pos = 0; pos < 200; ++pos) {
    int a[3], b[3];
    gpunet::kernels::batch_augment_choice(params(4, true, 123, 2), pos, &a[0], &a[1], &a[2]);
    gpunet::kernels::batch_augment_choice(params(4, true, 123, 3), pos, &b[0], &b[1], &b[2]);
    same += a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
  }
  EXPECT_LT(same, 20);
}

TEST(BatchKernel, CropAndFlipDoWhatTheChoiceSays) {
  Data d(5);
  const BatchParams p = params(4, true, 100, 1, 40);  // a seed whose 8 choices include both flips
  const std::vector<int64_t> idx = {4, 1, 2, 0, 3, 1, 4, 2};
  std::vector<int64_t> y;
  const std::vector<float> x = run(p, d, idx, y);
  auto norm = [](int v) { return (static_cast<float>(v) / 255.0f - 0.5f) / 0.5f; };
  int flips = 0, shifted = 0;
  std::vector<float> want(x.size());
  for (size_t j = 0; j < idx.size(); ++j) {
    int dy, dx, f;
    gpunet::kernels::batch_augment_choice(p, p.position + static_cast<int64_t>(j), &dy, &dx, &f);
    flips += f;
    shifted += dy != 4 || dx != 4;
    // torchvision: pad by 4 with zeros, crop 32x32 at (dy, dx), then mirror columns if f.
    for (int c = 0; c < 3; ++c)
      for (int oy = 0; oy < 32; ++oy)
        for (int ox = 0; ox < 32; ++ox) {
          const int cx = f ? 31 - ox : ox;          // column of the crop before the flip
          const int py = oy + dy, px = cx + dx;     // in the 40x40 padded image
          const bool in = py >= 4 && py < 36 && px >= 4 && px < 36;
          want[((j * 3 + c) * 32 + oy) * 32 + ox] = norm(in ? Data::pixel(static_cast<int>(idx[j]), c, py - 4, px - 4) : 0);
        }
  }
  EXPECT_ALL_CLOSE(x, want, 0.0, 0.0);
  EXPECT_GT(flips, 0);  // this seed exercises both branches
  EXPECT_LT(flips, 8);
  EXPECT_GT(shifted, 0);
}

TEST(BatchKernel, FlipOnlyMirrorsEachRow) {
  Data d(1);
  BatchParams p = params(0, true, 5);
  // Find a position that flips, then check x[.., ox] == unflipped[.., 31 - ox].
  int64_t pos = 0;
  for (;; ++pos) {
    int dy, dx, f;
    gpunet::kernels::batch_augment_choice(p, pos, &dy, &dx, &f);
    if (f) break;
  }
  p.position = pos;
  std::vector<int64_t> y;
  const std::vector<float> flipped = run(p, d, {0}, y);
  const std::vector<float> plain = run(params(0, false), d, {0}, y);
  std::vector<float> mirrored(plain.size());
  for (int r = 0; r < 3 * 32; ++r)
    for (int ox = 0; ox < 32; ++ox) mirrored[r * 32 + ox] = plain[r * 32 + 31 - ox];
  EXPECT_ALL_CLOSE(flipped, mirrored, 0.0, 0.0);
}

TEST(BatchOp, CpuDispatchGivesTheKernelsBatchAndChecksItsArguments) {
  Data d(5);
  const BatchParams p = params(4, true, 11, 2);
  const std::vector<int64_t> idx{4, 0, 3};
  std::vector<int64_t> y_kernel, y_op(3, -1);
  const std::vector<float> want = run(p, d, idx, y_kernel);
  std::vector<float> x(want.size());
  gpunet::test::poison(x);
  gpunet::ops::detail::gather_batch(gpunet::Device::cpu(), p, 3, d.images.data(), d.labels.data(), idx.data(),
                                    x.data(), y_op.data());
  EXPECT_ALL_CLOSE(x, want, 0.0, 0.0);
  EXPECT_EQ(y_op, y_kernel);
  BatchParams bad = p;
  bad.C = 5;
  EXPECT_THROW(gpunet::ops::detail::gather_batch(gpunet::Device::cpu(), bad, 3, d.images.data(), d.labels.data(),
                                                 idx.data(), x.data(), y_op.data()),
               gpunet::Error);
  EXPECT_THROW(gpunet::ops::detail::gather_batch(gpunet::Device::cpu(), p, 3, d.images.data(), d.labels.data(),
                                                 nullptr, x.data(), y_op.data()),
               gpunet::Error);
  // B = 0 writes nothing and needs no buffers.
  gpunet::ops::detail::gather_batch(gpunet::Device::cpu(), p, 0, nullptr, nullptr, nullptr, nullptr, nullptr);
}

TEST(BatchOp, ACudaDeviceInACpuOnlyBuildIsReportedByTheDispatch) {
  if (gpunet::cuda::compiled()) GTEST_SKIP() << "a CUDA build: the CPU-only report is not reachable";
  Data d(1);
  const std::vector<int64_t> idx{0};
  std::vector<float> x(3072);
  std::vector<int64_t> y(1);
  try {
    gpunet::ops::detail::gather_batch(gpunet::Device::cuda(0), params(0, false), 1, d.images.data(), d.labels.data(),
                                      idx.data(), x.data(), y.data());
    FAIL() << "no error";
  } catch (const gpunet::Error& e) {
    EXPECT_STREQ(e.what(), "gather_batch: tensor on cuda:0, but this is a CPU-only build of gpunet");
  }
}
