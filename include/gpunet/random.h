#pragma once
/// Seeded random numbers. A Generator is a 64-bit counter-based stream (splitmix64 over a
/// counter), so its whole state is two integers: it can be saved in a checkpoint and
/// restored bit for bit, and the same (seed, counter) gives the same numbers on every device.
///   gpunet::Generator g(42); float u = g.uniform(-1.f, 1.f);
#include <cstdint>

namespace gpunet {

/// splitmix64 finaliser: a well-mixed 64-bit hash of x.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed), counter_(0) {}
  void manual_seed(uint64_t seed) { seed_ = seed; counter_ = 0; }
  uint64_t seed() const { return seed_; }
  uint64_t counter() const { return counter_; }
  void set_state(uint64_t seed, uint64_t counter) { seed_ = seed; counter_ = counter; }

  uint64_t next_u64() { return mix64(seed_ * 0xD1B54A32D192ED03ull + mix64(counter_++)); }
  /// Uniform in [0, 1) with 24 bits, as float32 can hold.
  float next_float() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  double next_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * next_float(); }
  /// Standard normal by Box-Muller, mean + std * z.
  float normal(float mean, float std);
  /// Uniform integer in [0, n).
  uint64_t randint(uint64_t n) { return n ? next_u64() % n : 0; }

 private:
  uint64_t seed_;
  uint64_t counter_;
};

/// The process-wide default generator (seeded 0 at start; `manual_seed` reseeds it).
Generator& default_generator();
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace gpunet
