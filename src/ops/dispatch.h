#pragma once
// The one switch from the device-neutral layers (src/ops/, src/optim/) into src/kernels/.
//
//   GPUNET_DISPATCH("conv2d", x.device(), conv2d_forward, s, xp, wp, bp, outp);
//
// calls kernels::cpu::conv2d_forward(args...) for a CPU tensor, or, for cuda:N, makes N the
// current device for the call (restoring the previous one after: detail::DeviceGuard) and calls
// kernels::cuda::conv2d_forward(args...) with the same arguments. In a CPU-only build a CUDA
// device throws "<op>: tensor on cuda:N, but this is a CPU-only build of gpunet" (the one place
// that reports it). The twins therefore have one parameter list (kernels/<op>.h); the CPU twin
// is a template on T whose float instantiation has that list.
//
// Rule: only src/ops/ and src/optim/ include kernels/ headers and call kernels, and only through
// this macro (tests and benchmarks call kernels directly to compare twins and references).
#include "core/device_api.h"
#include "gpunet/config.h"
#include "gpunet/device.h"

namespace gpunet::ops::detail {
/// Throws "<op>: tensor on <dev>, but this is a CPU-only build of gpunet".
[[noreturn]] void no_cuda(const char* op, Device dev);
}  // namespace gpunet::ops::detail

#if GPUNET_HAVE_CUDA
#define GPUNET_DISPATCH(op, device, kernel, ...)                          \
  do {                                                                   \
    const ::gpunet::Device gpunet_dispatch_dev_ = (device);              \
    if (gpunet_dispatch_dev_.is_cpu()) {                                 \
      ::gpunet::kernels::cpu::kernel(__VA_ARGS__);                       \
    } else {                                                             \
      const ::gpunet::detail::DeviceGuard gpunet_guard_(gpunet_dispatch_dev_); \
      ::gpunet::kernels::cuda::kernel(__VA_ARGS__);                      \
    }                                                                    \
  } while (0)
#else
#define GPUNET_DISPATCH(op, device, kernel, ...)                          \
  do {                                                                   \
    const ::gpunet::Device gpunet_dispatch_dev_ = (device);              \
    if (gpunet_dispatch_dev_.is_cpu())                                   \
      ::gpunet::kernels::cpu::kernel(__VA_ARGS__);                       \
    else                                                                 \
      ::gpunet::ops::detail::no_cuda(op, gpunet_dispatch_dev_);          \
  } while (0)
#endif
