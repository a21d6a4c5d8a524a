#include "core/device_api.h"
#include "core/host_stats.h"
#include "gpunet/tensor.h"
#include "gpunet/host_memory.h"

namespace gpunet {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    data_ = detail::cpu_allocate(bytes);
  } else {
#if GPUNET_HAVE_CUDA
    device.check_available();
    data_ = cuda::detail::allocate(bytes, device.index());
#else
    device.check_available();  // throws: CPU-only build
#endif
  }
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    detail::cpu_deallocate(data_, bytes_);
  } else {
#if GPUNET_HAVE_CUDA
    cuda::detail::deallocate(data_, bytes_, device_.index());
#endif
  }
}

namespace memory {
#if GPUNET_HAVE_CUDA
}  // namespace memory
namespace cuda::detail {
memory::Stats memory_stats(int device);
void reset_peak(int device);
void empty_cache(int device);
}  // namespace cuda::detail
namespace memory {
#endif
Stats stats(Device device) {
#if GPUNET_HAVE_CUDA
  if (device.is_cuda()) return cuda::detail::memory_stats(device.index());
#endif
  if (device.is_cuda()) return Stats{};
  return detail::cpu_stats();
}
void reset_peak(Device device) {
#if GPUNET_HAVE_CUDA
  if (device.is_cuda()) return cuda::detail::reset_peak(device.index());
#endif
  if (device.is_cpu()) detail::cpu_reset_peak();
}
void empty_cache(Device device) {
#if GPUNET_HAVE_CUDA
  if (device.is_cuda()) return cuda::detail::empty_cache(device.index());
#endif
  if (device.is_cpu()) detail::cpu_empty_cache();
}
size_t host_peak_reserved() { return detail::cpu_peak_reserved(); }
size_t peak_rss_bytes() { return detail::peak_rss_bytes(); }
}  // namespace memory

}  // namespace gpunet
