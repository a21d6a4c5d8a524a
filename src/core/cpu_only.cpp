// The gpunet::cuda functions of a CPU-only build (GPUNET_HAVE_CUDA == 0): no GPU, ever.
#include "gpunet/config.h"
#if !GPUNET_HAVE_CUDA
#include "gpunet/device.h"
#include "gpunet/error.h"

namespace gpunet::cuda {
bool compiled() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "this is a CPU-only build (configured with GPUNET_CUDA=OFF or without nvcc)"; }
std::string version_string() { return ""; }
std::string device_name(int) { return ""; }
void synchronize(int) {}
}  // namespace gpunet::cuda
#endif
