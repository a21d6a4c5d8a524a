// detail::DeviceGuard: the device-neutral guard every dispatched kernel runs under.
#include "core/device_api.h"

namespace gpunet::detail {

DeviceGuard::DeviceGuard(Device dev) {
#if GPUNET_HAVE_CUDA
  if (!dev.is_cuda()) return;
  const int now = cuda::detail::current_device();
  if (now != dev.index()) {
    cuda::detail::set_device(dev.index());
    previous_ = now;
  }
#else
  (void)dev;
#endif
}

DeviceGuard::~DeviceGuard() {
#if GPUNET_HAVE_CUDA
  if (previous_ < 0) return;
  try {
    cuda::detail::set_device(previous_);
  } catch (...) {  // a destructor must not throw; the next CUDA call reports a broken context
  }
#endif
}

}  // namespace gpunet::detail
