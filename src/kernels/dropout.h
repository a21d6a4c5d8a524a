#pragma once
// dropout kernels: the keep/drop decision of element i is a pure function of (seed, offset + i),
// the project's counter-based generator (include/gpunet/random.h: Generator(seed) at counter
// offset + i draws next_u64()), so the CPU and CUDA draw the same mask and the backward
// regenerates it instead of saving it.
#include <cstdint>

#if defined(__CUDACC__)
#define GPUNET_DROPOUT_HD __host__ __device__ __forceinline__
#else
#define GPUNET_DROPOUT_HD inline
#endif

namespace gpunet::kernels {

/// random.h's mix64 (splitmix64's finaliser), callable from device code.
GPUNET_DROPOUT_HD uint64_t dropout_mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
/// The 24-bit uniform draw of Generator(seed) at counter c, as an integer in [0, 2^24).
GPUNET_DROPOUT_HD uint32_t dropout_u24(uint64_t seed, uint64_t c) {
  return static_cast<uint32_t>(dropout_mix64(seed * 0xD1B54A32D192ED03ull + dropout_mix64(c)) >> 40);
}
/// Elements whose u24 is below this are dropped: ceil(p * 2^24) (p in [0, 1]; exact in double).
GPUNET_DROPOUT_HD uint32_t dropout_threshold(double p) {
  const double t = p * 16777216.0;
  const uint32_t f = static_cast<uint32_t>(t);
  return static_cast<double>(f) < t ? f + 1 : f;
}

namespace cpu {
// out[i] = keep(i) ? x[i] * scale : 0, keep(i) = u24(seed, offset + i) >= threshold(p),
// scale = 1 / (1 - p) (0 when p == 1: everything is dropped). The backward is the same call on dout.
template <typename T>
void dropout_apply(int64_t n, const T* x, double p, uint64_t seed, uint64_t offset, T* out);
}  // namespace cpu

namespace cuda {
void dropout_apply(int64_t n, const float* x, double p, uint64_t seed, uint64_t offset, float* out);
}  // namespace cuda

}  // namespace gpunet::kernels
