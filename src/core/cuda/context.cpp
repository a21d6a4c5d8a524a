// Per-device CUDA context: one non-blocking stream, a cuBLAS handle (TF32 off) and a cuDNN
// handle bound to it, and a grow-only workspace; plus the error functions of the check macros.
#include "core/cuda/context.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "core/device_api.h"

namespace gpunet::cuda::detail {
namespace {

// cuBLAS's own workspace, set explicitly so that a cuBLAS call never allocates (which a
// CUDA graph capture would reject). 32 MiB is NVIDIA's recommendation for Hopper.
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // Outgrown workspaces, kept allocated: a captured CUDA graph may still hold their address.
  std::vector<std::pair<void*, size_t>> retired;
};

// Contexts live for the whole process (never destroyed, see allocator.cpp).
std::mutex g_mutex;
std::vector<DeviceContext*>* g_contexts = new std::vector<DeviceContext*>();

DeviceContext* create_context(int device) {
  DeviceGuard guard(device);
  auto* c = new DeviceContext();
  GPUNET_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  GPUNET_CUBLAS_CHECK(cublasCreate(&c->cublas));
  GPUNET_CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
  // Plain FP32 (no TF32 tensor-op math): results comparable with the CPU at 1e-5.
  GPUNET_CUBLAS_CHECK(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
  void* cublas_ws = nullptr;
  GPUNET_CUDA_CHECK(cudaMalloc(&cublas_ws, kCublasWorkspaceBytes));
  GPUNET_CUBLAS_CHECK(cublasSetWorkspace(c->cublas, cublas_ws, kCublasWorkspaceBytes));
  GPUNET_CUDNN_CHECK(cudnnCreate(&c->cudnn));
  GPUNET_CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
  return c;
}

DeviceContext& context(int device) {
  GPUNET_CHECK(device >= 0, "cuda: bad device index ", device);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (static_cast<size_t>(device) >= g_contexts->size()) g_contexts->resize(device + 1, nullptr);
  DeviceContext*& c = (*g_contexts)[device];
  if (c == nullptr) c = create_context(device);
  return *c;
}

// "src/core/cuda/context.cpp" rather than the build machine's absolute path.
const char* short_path(const char* file) {
  const char* p = std::strstr(file, "/src/");
  if (p == nullptr) p = std::strstr(file, "/tests/");
  return p != nullptr ? p + 1 : file;
}

std::string where(const char* stmt, const char* file, int line) {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    (void)cudaGetLastError();
    device = -1;
  }
  return gpunet::detail::cat(stmt, " at ", short_path(file), ":", line, " on cuda:",
                             device >= 0 ? std::to_string(device) : std::string("?"));
}

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  GPUNET_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) GPUNET_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_ && previous_ >= 0) {
    if (cudaSetDevice(previous_) != cudaSuccess) (void)cudaGetLastError();
  }
}

void set_device(int device) {
  int now = -1;
  GPUNET_CUDA_CHECK(cudaGetDevice(&now));
  if (now != device) GPUNET_CUDA_CHECK(cudaSetDevice(device));
}

int current_device() {
  int device = 0;
  GPUNET_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

cudaStream_t stream(int device) { return context(device).stream; }
cudaStream_t stream() { return context(current_device()).stream; }
cublasHandle_t cublas() { return context(current_device()).cublas; }
cudnnHandle_t cudnn() { return context(current_device()).cudnn; }

void* workspace(size_t bytes) {
  const int device = current_device();
  DeviceContext& c = context(device);
  if (bytes == 0) return c.workspace;
  if (bytes > c.workspace_bytes) {
    // Grow at least twofold, so few blocks are ever outgrown. The old block is not returned
    // to the cache: a CUDA graph captured earlier may replay kernels that use its address.
    const size_t grown = std::max(bytes, 2 * c.workspace_bytes);
    void* fresh = allocate(grown, device);
    if (c.workspace != nullptr) c.retired.emplace_back(c.workspace, c.workspace_bytes);
    c.workspace = fresh;
    c.workspace_bytes = grown;
  }
  return c.workspace;
}

void throw_cuda_error(cudaError_t err, const char* stmt, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so later checks do not report it again
  const std::string msg = gpunet::detail::cat("CUDA error in ", where(stmt, file, line), ": ", cudaGetErrorString(err));
  if (err == cudaErrorMemoryAllocation) throw OutOfMemoryError(msg);
  throw CudaError(msg);
}

void throw_cublas_error(cublasStatus_t st, const char* stmt, const char* file, int line) {
  const std::string msg =
      gpunet::detail::cat("cuBLAS error in ", where(stmt, file, line), ": ", cublasGetStatusString(st));
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemoryError(msg);
  throw CudaError(msg);
}

void throw_cudnn_error(cudnnStatus_t st, const char* stmt, const char* file, int line) {
  char detail_msg[512] = {0};
  cudnnGetLastErrorString(detail_msg, sizeof detail_msg);
  std::string msg = gpunet::detail::cat("cuDNN error in ", where(stmt, file, line), ": ", cudnnGetErrorString(st));
  if (detail_msg[0] != '\0') {
    // keep it one line
    for (char* p = detail_msg; *p; ++p)
      if (*p == '\n' || *p == '\r') *p = ' ';
    msg += gpunet::detail::cat(" (", detail_msg, ")");
  }
  if (st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) throw OutOfMemoryError(msg);
  throw CudaError(msg);
}

}  // namespace gpunet::cuda::detail
