#pragma once
// Internal, CUDA build only: the per-device stream, cuBLAS and cuDNN handles, and the check
// macros. Every CUDA, cuBLAS and cuDNN call goes through a check; every kernel launch is
// followed by GPUNET_KERNEL_CHECK() (a test greps for launches without one).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "gpunet/error.h"

namespace gpunet::cuda::detail {

// The current stream of the current device (one non-default stream per device, created on first use).
cudaStream_t stream();
// Handles bound to that stream (cuBLAS with TF32 off: CUBLAS_DEFAULT_MATH / pedantic; cuDNN).
cublasHandle_t cublas();
cudnnHandle_t cudnn();
// A scratch buffer of at least `bytes` on the current device (grow-only, from the caching allocator).
void* workspace(size_t bytes);

// The stream of device `device` (created with the device's handles on first use).
cudaStream_t stream(int device);

// Makes `device` current for the guard's scope and restores the previous device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* stmt, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* stmt, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t st, const char* stmt, const char* file, int line);

}  // namespace gpunet::cuda::detail

#define GPUNET_CUDA_CHECK(expr)                                                                  \
  do {                                                                                           \
    cudaError_t gpunet_err_ = (expr);                                                            \
    if (gpunet_err_ != cudaSuccess)                                                              \
      ::gpunet::cuda::detail::throw_cuda_error(gpunet_err_, #expr, __FILE__, __LINE__);          \
  } while (0)
#define GPUNET_CUBLAS_CHECK(expr)                                                                \
  do {                                                                                           \
    cublasStatus_t gpunet_st_ = (expr);                                                          \
    if (gpunet_st_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::gpunet::cuda::detail::throw_cublas_error(gpunet_st_, #expr, __FILE__, __LINE__);         \
  } while (0)
#define GPUNET_CUDNN_CHECK(expr)                                                                 \
  do {                                                                                           \
    cudnnStatus_t gpunet_st_ = (expr);                                                           \
    if (gpunet_st_ != CUDNN_STATUS_SUCCESS)                                                      \
      ::gpunet::cuda::detail::throw_cudnn_error(gpunet_st_, #expr, __FILE__, __LINE__);          \
  } while (0)
// After every <<<...>>> launch.
#define GPUNET_KERNEL_CHECK() GPUNET_CUDA_CHECK(cudaGetLastError())
