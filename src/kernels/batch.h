#pragma once
// The data path's batch kernel: gathers records of a uint8 dataset, normalises, and
// augments (random crop with zero or reflect padding, horizontal flip: random per sample or
// airbench's alternating flip), producing a float batch. Every random choice is a hash of
// (seed, epoch, position in the epoch) or (seed, record), never a generator's state, so the
// host and the device paths give identical batches for the same seed, and a resume continues
// exactly.
//
// Per output element (sample j, channel c, row oy, column ox), with pos = position + j,
// m = indices[j] and (dy, dx, pre, post) = batch_sample_choice(p, pos, m):
//   u  = post ? W-1-ox : ox                     (the flip after the crop)
//   iy = src(oy + dy - crop_pad, H), ix = src(u + dx - crop_pad, W)
//        src(i, n) = i for 0 <= i < n; outside: zero padding gives "no pixel" (value 0),
//        reflect padding mirrors without repeating the edge (-1 -> 1, n -> n-2: torch's
//        F.pad(mode="reflect"), which needs crop_pad < n)
//   ix = pre ? W-1-ix : ix                      (the flip before the padding and crop)
//   v  = images[m, c, iy, ix], or 0 where zero padding leaves no pixel (as torchvision pads
//        the raw image before ToTensor)
//   x[j, c, oy, ox] = ((float)v / 255.f - mean[c]) / std[c]   (three float ops, in this order,
//        never fused: bit-identical to torch's images.float().div_(255).sub_(mean).div_(std))
//   y[j] = labels[m]
// The two modes:
//  - random (alternating_flip false): pre = 0, post = a fresh coin per sample and epoch; with
//    zero padding this is torchvision's RandomCrop(H, padding=crop_pad) + RandomHorizontalFlip;
//  - alternating (airbench94): pre = a coin per record, drawn once (hash of seed and record,
//    independent of the epoch), post = epoch & 1: every image's flip is inverted on odd
//    epochs. This is the peer's flipped = where(coin, x.flip(-1), x) once, then per epoch
//    translate(reflect_pad(flipped)) and .flip(-1) on odd epochs.
// The twins below share one parameter list; src/data/ reaches them only through the batch op,
// ops::detail::gather_batch (src/ops/batch.h), which dispatches with GPUNET_DISPATCH.
#include <cstdint>

#if defined(__CUDACC__)
#define GPUNET_HD __host__ __device__
#else
#define GPUNET_HD
#endif

namespace gpunet::kernels {

struct BatchParams {
  int C, H, W;            // record image shape (3, 32, 32); C <= 4
  float mean[4], std[4];  // per channel: out = (x/255 - mean) / std
  int crop_pad;           // random crop with this padding, zeros or reflect (0: off)
  bool hflip;             // random horizontal flip with p = 0.5
  uint64_t seed;          // augmentation seed (mixed with epoch and position)
  uint64_t epoch;
  int64_t position;       // global position of the batch's first sample in the epoch
  bool reflect;           // crop padding by reflection instead of zeros (needs crop_pad < H and < W)
  bool alternating_flip;  // with hflip: a flip per record chosen once, inverted on odd epochs
};

/// splitmix64 finaliser, identical to gpunet::mix64 (include/gpunet/random.h), usable on the device.
GPUNET_HD inline uint64_t batch_mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// The augmentation of the sample at global position `pos` of epoch p.epoch (pos = p.position + j):
/// crop offsets dy, dx in [0, 2*crop_pad] (crop_pad is the identity offset) and flip in {0, 1}.
/// With crop_pad == 0 the crop is off (dy = dx = 0); with hflip false, flip = 0. Different bits of
/// one hash feed dy, dx and flip, so they are independent.
GPUNET_HD inline void batch_augment_choice(const BatchParams& p, int64_t pos, int* dy, int* dx, int* flip) {
  const uint64_t h = batch_mix64(p.seed ^ batch_mix64(p.epoch * 0xD1B54A32D192ED03ull ^ batch_mix64(static_cast<uint64_t>(pos))));
  const uint64_t span = static_cast<uint64_t>(2 * p.crop_pad + 1);
  *dy = p.crop_pad > 0 ? static_cast<int>((h & 0xFFFFFFull) % span) : 0;
  *dx = p.crop_pad > 0 ? static_cast<int>(((h >> 24) & 0xFFFFFFull) % span) : 0;
  *flip = p.hflip ? static_cast<int>(h >> 63) : 0;
}

/// The flip of record m before padding and crop in the alternating mode: one coin per record for
/// a seed, the same in every epoch (a hash domain apart from batch_augment_choice's).
GPUNET_HD inline int batch_record_flip(const BatchParams& p, int64_t record) {
  const uint64_t h = batch_mix64(p.seed ^ batch_mix64(static_cast<uint64_t>(record) ^ 0xA0761D6478BD642Full));
  return static_cast<int>(h >> 63);
}

/// Everything random about sample j (global position pos, record m): crop offsets and the flips
/// before (pre) and after (post) the crop, as the header comment defines them.
struct BatchChoice {
  int dy, dx, pre, post;
};
GPUNET_HD inline BatchChoice batch_sample_choice(const BatchParams& p, int64_t pos, int64_t record) {
  BatchChoice c{};
  int flip = 0;
  batch_augment_choice(p, pos, &c.dy, &c.dx, &flip);
  if (p.hflip && p.alternating_flip) {
    c.pre = batch_record_flip(p, record);
    c.post = static_cast<int>(p.epoch & 1u);
  } else {
    c.post = flip;
  }
  return c;
}

/// The source index along one axis of length n for output index o shifted by d - pad; -1 where
/// zero padding leaves no pixel. Reflection mirrors about the edge pixel (torch's "reflect").
GPUNET_HD inline int batch_source_index(int o, int d, int pad, int n, bool reflect) {
  int i = o + d - pad;
  if (reflect) return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
  return i >= 0 && i < n ? i : -1;
}

/// One output value from a uint8 pixel: ((v / 255) - mean) / std in float32. There is no
/// multiply-add to contract, and IEEE division is exact-rounded on both sides (nvcc's default
/// -prec-div=true; never build this with --use_fast_math / -ffast-math).
GPUNET_HD inline float batch_normalize(uint8_t v, float mean, float std) {
  const float a = static_cast<float>(v) / 255.0f;
  const float b = a - mean;
  return b / std;
}

namespace cpu {
// images: (M, C, H, W) uint8, labels: (M) uint8, indices: (B) int64 -> x: (B, C, H, W) float, y: (B) int64
void gather_batch(const BatchParams& p, int B, const uint8_t* images, const uint8_t* labels, const int64_t* indices,
                  float* x, int64_t* y);
}  // namespace cpu
namespace cuda {
void gather_batch(const BatchParams& p, int B, const uint8_t* images, const uint8_t* labels, const int64_t* indices,
                  float* x, int64_t* y);
}  // namespace cuda

}  // namespace gpunet::kernels
