#pragma once
// Internal, CUDA build only: statistics and cache control of the caching device allocator
// (allocate/deallocate themselves are declared in src/core/device_api.h). No CUDA headers
// here, so portable code may include it under `#if GPUNET_HAVE_CUDA`.
#include <cstddef>

#include "gpunet/tensor.h"  // gpunet::memory::Stats

namespace gpunet::cuda::detail {

// Bytes in use (rounded block sizes), peak since the last reset, reserved from cudaMalloc,
// and the number of cudaMalloc calls so far, for device `device`.
memory::Stats memory_stats(int device);
// Sets the peak to the bytes in use now.
void reset_peak(int device);
// cudaFree's every cached, unused block of `device` (cudaFree waits for the device).
void empty_cache(int device);
// The size class a request of `bytes` is served from: at least 512 B; multiples of 512 B
// below 1 MiB, multiples of 2 MiB above.
size_t round_size(size_t bytes);

}  // namespace gpunet::cuda::detail
