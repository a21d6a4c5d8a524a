#pragma once
// Step counters kept in device memory (BatchNorm's num_batches_tracked), advanced in stream
// order without a host round trip, so a captured CUDA graph advances them on every replay.
#include <cstdint>

namespace gpunet::kernels {
namespace cpu {
// counter[0] += delta
inline void add_i64(int64_t delta, int64_t* counter) { counter[0] += delta; }
}  // namespace cpu
namespace cuda {
void add_i64(int64_t delta, int64_t* counter);
}  // namespace cuda
}  // namespace gpunet::kernels
