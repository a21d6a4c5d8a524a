// The gpunet::cuda functions of include/gpunet/device.h in a CUDA build. device_count()
// never throws: on a machine with the CUDA libraries but no driver or no GPU (CI's machine)
// cudaGetDeviceCount fails; that is reported as 0 devices and the reason is kept.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "core/cuda/context.h"
#include "core/device_api.h"
#include "gpunet/device.h"
#include "gpunet/error.h"

namespace gpunet::cuda {
namespace {

struct Probe {
  int count = 0;
  std::string reason;  // "" when count > 0
};

std::string describe(cudaError_t err) {
  const std::string what = gpunet::detail::cat(cudaGetErrorName(err), ": ", cudaGetErrorString(err));
  switch (err) {
    case cudaErrorNoDevice: return "no CUDA device (" + what + ")";
    case cudaErrorInsufficientDriver: return "no usable CUDA driver (none installed, or older than this CUDA runtime; " + what + ")";
    default: return "CUDA is not usable here (" + what + ")";
  }
}

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      r.reason = describe(err);
      return r;
    }
    if (n <= 0) {
      r.reason = "no CUDA device";
      return r;
    }
    r.count = n;
    return r;
  }();
  return p;
}

std::string dotted(int v) {  // CUDA's 1000*major + 10*minor
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace

bool compiled() { return true; }

int device_count() {
  try {
    return probe().count;
  } catch (...) {  // never throws, whatever the runtime does
    return 0;
  }
}

std::string unavailable_reason() {
  try {
    return probe().reason;
  } catch (...) {
    return "CUDA is not usable here";
  }
}

std::string version_string() {
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) (void)cudaGetLastError();
  if (cudaDriverGetVersion(&driver) != cudaSuccess) (void)cudaGetLastError();
  int bl_major = 0, bl_minor = 0, bl_patch = 0;
  cublasGetProperty(MAJOR_VERSION, &bl_major);
  cublasGetProperty(MINOR_VERSION, &bl_minor);
  cublasGetProperty(PATCH_LEVEL, &bl_patch);
  const size_t dnn = cudnnGetVersion();  // 10000*major + 100*minor + patch (cuDNN 9)
  return gpunet::detail::cat("CUDA runtime ", dotted(runtime), ", driver ", driver > 0 ? dotted(driver) : "none",
                             ", cuBLAS ", bl_major, ".", bl_minor, ".", bl_patch, ", cuDNN ", dnn / 10000, ".",
                             (dnn % 10000) / 100, ".", dnn % 100);
}

std::string device_name(int index) {
  if (index < 0 || index >= device_count()) return "";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return prop.name;
}

void synchronize(int index) {
  const int n = device_count();
  if (n == 0) return;  // nothing can have been queued
  GPUNET_CHECK(index >= 0 && index < n, "cuda::synchronize: no device cuda:", index, " (this machine has ", n, ")");
  detail::check_not_capturing("cuda::synchronize", "synchronise", index);
  detail::DeviceGuard guard(index);
  GPUNET_CUDA_CHECK(cudaStreamSynchronize(detail::stream(index)));
}

}  // namespace gpunet::cuda
