#include "core/cuda/context.h"
#include "kernels/counter.h"

namespace gpunet::kernels::cuda {
namespace {
__global__ void add_i64_kernel(int64_t delta, int64_t* counter) { counter[0] += delta; }
}  // namespace

void add_i64(int64_t delta, int64_t* counter) {
  add_i64_kernel<<<1, 1, 0, gpunet::cuda::detail::stream()>>>(delta, counter);
  GPUNET_KERNEL_CHECK();
}
}  // namespace gpunet::kernels::cuda
