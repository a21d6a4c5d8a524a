// Capture and replay of one CUDA graph on gpunet's per-device stream (see graph.h).
#include "core/cuda/graph.h"

#include <cuda_runtime.h>

#include <exception>
#include <string>

#include "core/cuda/allocator.h"
#include "core/cuda/context.h"

namespace gpunet::cuda::detail {

Graph::Graph(int device) : device_(device) {}

Graph::~Graph() { reset(); }

void Graph::reset() noexcept {
  // Destroying an executable graph that is still running is allowed: it is freed when it
  // completes. Blocks released to the cache are then reused only by work queued later on the
  // same stream, which runs after the replay.
  if (exec_ != nullptr && cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)) != cudaSuccess)
    (void)cudaGetLastError();
  if (graph_ != nullptr && cudaGraphDestroy(static_cast<cudaGraph_t>(graph_)) != cudaSuccess)
    (void)cudaGetLastError();
  exec_ = graph_ = nullptr;
  if (pool_id_ != 0) {
    try {
      release_capture(device_, pool_id_);
    } catch (...) {  // only a bad device index can throw; nothing to undo
    }
    pool_id_ = 0;
  }
}

void Graph::capture(const std::function<void()>& body) {
  GPUNET_CHECK(exec_ == nullptr && pool_id_ == 0, "cuda graph: already captured");
  DeviceGuard guard(device_);
  cudaStream_t s = stream(device_);
  // Everything queued before the capture must not be mistaken for part of it; it is not
  // (capture only records work queued after BeginCapture), but a pending error would make
  // the capture fail later with a misleading message, so surface it now.
  GPUNET_CUDA_CHECK(cudaGetLastError());
  pool_id_ = begin_capture(device_);
  cudaError_t began = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (began != cudaSuccess) {
    end_capture(device_, pool_id_);
    reset();
    throw_cuda_error(began, "cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed)", __FILE__, __LINE__);
  }
  std::exception_ptr failure;
  try {
    body();
  } catch (...) {
    failure = std::current_exception();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  end_capture(device_, pool_id_);
  graph_ = graph;
  if (failure) {
    (void)cudaGetLastError();
    reset();
    std::rethrow_exception(failure);
  }
  if (ended != cudaSuccess) {
    reset();
    throw_cuda_error(ended, "cudaStreamEndCapture(stream, &graph)", __FILE__, __LINE__);
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  if (inst != cudaSuccess) {
    reset();
    throw_cuda_error(inst, "cudaGraphInstantiate(&exec, graph, 0)", __FILE__, __LINE__);
  }
  exec_ = exec;
}

void Graph::launch() {
  GPUNET_CHECK(exec_ != nullptr, "cuda graph: launch before a successful capture");
  DeviceGuard guard(device_);
  GPUNET_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream(device_)));
}

}  // namespace gpunet::cuda::detail
