#include "core/cuda/context.h"
#include "kernels/loss_sum.h"

namespace gpunet::kernels::cuda {
namespace {
__global__ void add_to_double_kernel(const float* x, double* acc) { acc[0] += static_cast<double>(x[0]); }
}  // namespace

void add_to_double(const float* x, double* acc) {
  add_to_double_kernel<<<1, 1, 0, gpunet::cuda::detail::stream()>>>(x, acc);
  GPUNET_KERNEL_CHECK();
}
}  // namespace gpunet::kernels::cuda
