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

// CUDA-graph capture support. A captured graph replays kernels on the addresses it saw during
// capture, so those blocks must never be handed to anyone else while the graph lives.
// Between begin_capture and end_capture, every block the pool hands out and every block freed
// is marked as used by the capture `id`; a marked block that is freed is held (never handed out
// again) until release_capture(id) for every capture that marked it, and then returns to the
// cache. Allocations during a capture come from the cache or cudaMalloc (allowed in relaxed
// capture mode); nothing calls cudaFree while a capture is open (empty_cache does nothing, and
// out of memory throws without emptying the cache). One capture at a time per device.
// Returns the capture's id (never 0). Throws when a capture is already open on `device`.
unsigned long long begin_capture(int device);
// Stops marking blocks for `id` (the blocks it marked stay reserved for it).
void end_capture(int device, unsigned long long id);
// The graph of capture `id` is gone: its held blocks return to the cache (those still marked by
// another live capture stay held), and live blocks it marked become ordinary ones.
void release_capture(int device, unsigned long long id);
// Bytes held for live captures (freed, not reusable until their graphs are destroyed).
size_t held_bytes(int device);

}  // namespace gpunet::cuda::detail
