// Copies between host and device on the device's stream. Host->device goes through two
// pinned staging buffers used in turn (chunks of at most 16 MiB): the source is copied into a
// staging buffer, an async copy is queued from it, and an event marks when the buffer may be
// overwritten. The host source may be reused as soon as the call returns, and the host waits
// only when it needs a staging buffer whose previous copy has not finished yet.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/cuda/context.h"
#include "core/device_api.h"

namespace gpunet::cuda::detail {
namespace {

constexpr size_t kChunkBytes = size_t(16) << 20;

struct Staging {
  void* host = nullptr;      // pinned (cudaMallocHost), grow-only
  size_t capacity = 0;
  cudaEvent_t done = nullptr;  // recorded after the copy that reads `host`
  bool pending = false;
};

struct CopyState {
  std::mutex mutex;
  Staging buffers[2];
  int next = 0;
};

// Kept for the whole process (never freed, see allocator.cpp).
std::mutex g_mutex;
std::vector<CopyState*>* g_states = new std::vector<CopyState*>();

CopyState& copy_state(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (static_cast<size_t>(device) >= g_states->size()) g_states->resize(device + 1, nullptr);
  CopyState*& s = (*g_states)[device];
  if (s == nullptr) s = new CopyState();
  return *s;
}

// Waits until `st` is no longer read by a queued copy and holds at least `bytes`.
void prepare(Staging& st, size_t bytes) {
  if (st.done == nullptr) GPUNET_CUDA_CHECK(cudaEventCreateWithFlags(&st.done, cudaEventDisableTiming));
  if (st.pending) {
    GPUNET_CUDA_CHECK(cudaEventSynchronize(st.done));
    st.pending = false;
  }
  if (st.capacity < bytes) {
    if (st.host != nullptr) GPUNET_CUDA_CHECK(cudaFreeHost(st.host));
    st.host = nullptr;
    st.capacity = 0;
    const size_t want = std::min(kChunkBytes, (bytes + (size_t(1) << 20) - 1) / (size_t(1) << 20) * (size_t(1) << 20));
    GPUNET_CUDA_CHECK(cudaMallocHost(&st.host, std::max(want, bytes)));
    st.capacity = std::max(want, bytes);
  }
}

}  // namespace

void check_not_capturing(const char* call, const char* action, int device) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  {
    DeviceGuard guard(device);
    GPUNET_CUDA_CHECK(cudaStreamIsCapturing(stream(device), &status));
  }
  if (status == cudaStreamCaptureStatusNone) return;
  throw Error(gpunet::detail::cat(
      call, ": would ", action, " cuda:", device, " while a CUDA graph capture is ",
      status == cudaStreamCaptureStatusActive ? "open" : "open (and already invalidated)",
      " on its stream; a captured copy would replay stale host data and a synchronisation cannot be captured. "
      "Move the call out of the captured region (copy inputs into device buffers before the capture, read "
      "results after it)"));
}

void copy_host_to_device(void* dst, const void* src, size_t bytes, int device, const char* call) {
  if (bytes == 0) return;
  check_not_capturing(call, "copy host memory to", device);
  DeviceGuard guard(device);
  cudaStream_t s = stream(device);
  CopyState& cs = copy_state(device);
  std::lock_guard<std::mutex> lock(cs.mutex);
  for (size_t off = 0; off < bytes; off += kChunkBytes) {
    const size_t n = std::min(kChunkBytes, bytes - off);
    Staging& st = cs.buffers[cs.next];
    cs.next ^= 1;
    prepare(st, n);
    std::memcpy(st.host, static_cast<const char*>(src) + off, n);
    GPUNET_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, st.host, n, cudaMemcpyHostToDevice, s));
    GPUNET_CUDA_CHECK(cudaEventRecord(st.done, s));
    st.pending = true;
  }
}

void copy_device_to_host(void* dst, const void* src, size_t bytes, int device, const char* call) {
  if (bytes == 0) return;
  check_not_capturing(call, "synchronise", device);
  DeviceGuard guard(device);
  cudaStream_t s = stream(device);
  GPUNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  GPUNET_CUDA_CHECK(cudaStreamSynchronize(s));  // the host reads dst next
}

void copy_device_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  DeviceGuard guard(device);
  GPUNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream(device)));
}

}  // namespace gpunet::cuda::detail
