#pragma once
// The data path's batch kernel: gathers records of a uint8 dataset, normalises, and
// augments (random crop with zero padding, horizontal flip), producing a float batch.
// The random choices for sample j of a batch come from hash(seed, epoch, global position),
// so the host and the device paths give identical batches for the same seed.
//
// Per output element (sample j, channel c, row oy, column ox), with pos = position + j,
// (dy, dx, flip) = batch_augment_choice(p, pos) and sx = flip ? W-1-ox : ox:
//   iy = oy + dy - crop_pad, ix = sx + dx - crop_pad
//   v  = (0 <= iy < H && 0 <= ix < W) ? images[indices[j], c, iy, ix] : 0   (zero padding, as
//        torchvision pads the raw image before ToTensor)
//   x[j, c, oy, ox] = ((float)v / 255.f - mean[c]) / std[c]   (three float ops, in this order,
//        never fused: bit-identical to torch's images.float().div_(255).sub_(mean).div_(std))
//   y[j] = labels[indices[j]]
// This is torchvision's RandomCrop(H, padding=crop_pad) followed by RandomHorizontalFlip.
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
  int crop_pad;           // random crop with this zero padding (0: off)
  bool hflip;             // random horizontal flip with p = 0.5
  uint64_t seed;          // augmentation seed (mixed with epoch and position)
  uint64_t epoch;
  int64_t position;       // global position of the batch's first sample in the epoch
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
