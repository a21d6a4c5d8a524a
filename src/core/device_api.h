#pragma once
// Internal: the device services the portable code calls. Defined for the CPU in
// src/core/*.cpp and for CUDA in src/core/cuda/*.cpp|.cu (only in a CUDA build).
#include <cstddef>
#include <cstdint>

#include "gpunet/config.h"
#include "gpunet/device.h"

namespace gpunet::detail {

// Host allocator: 64-byte aligned, caching by size class; counts bytes in use and peak.
void* cpu_allocate(size_t bytes);
void cpu_deallocate(void* p, size_t bytes);
}  // namespace gpunet::detail

namespace gpunet::memory { struct Stats; }
namespace gpunet::detail {
memory::Stats cpu_stats();
void cpu_reset_peak();
void cpu_empty_cache();

/// Makes `dev` the current CUDA device for the guard's scope and restores the previous device
/// when the scope ends; does nothing for the CPU (and in a CPU-only build). Every kernel launch
/// on a tensor's device runs under one (GPUNET_DISPATCH in src/ops/dispatch.h).
class DeviceGuard {
 public:
  explicit DeviceGuard(Device dev);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;  // the CUDA device to restore; -1: nothing to restore
};

}  // namespace gpunet::detail

#if GPUNET_HAVE_CUDA
namespace gpunet::cuda::detail {

// Caching device allocator (one pool per device): rounds sizes up, keeps freed blocks for
// reuse, so a training step does no cudaMalloc/cudaFree in steady state. On exhaustion it
// frees the cache and retries once, then throws OutOfMemoryError naming the size and the free memory.
void* allocate(size_t bytes, int device);
void deallocate(void* p, size_t bytes, int device);

// Throws gpunet::Error "<call>: would <action> cuda:N while a CUDA graph capture is open on its
// stream ..." when a capture is open (or was invalidated) on `device`'s stream. Every
// host<->device copy and every synchronising call runs it first: inside a capture such a call
// would record a copy of stale host data, or fail with a less helpful CUDA error.
void check_not_capturing(const char* call, const char* action, int device);

// Copies on the device's current stream. Host->device goes through a pinned staging buffer
// (the call returns once the host source may be reused); device->host synchronises the stream.
// Both refuse to run inside a CUDA graph capture (check_not_capturing, naming `call`, e.g.
// "Tensor::item"); device->device copies are allowed there (they are captured like kernels).
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device, const char* call);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device, const char* call);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int device);

// Makes `device` current on this thread (cudaSetDevice) when it is not.
void set_device(int device);
// The device currently set on this thread.
int current_device();

}  // namespace gpunet::cuda::detail
#endif
