#pragma once
// Internal, CUDA build only: one CUDA graph captured from the work queued on a device's stream,
// and replayed. No CUDA headers here (the handles are opaque), so portable code may include it
// under `#if GPUNET_HAVE_CUDA`.
//   cuda::detail::Graph g(device);
//   g.capture([&] { step_body(); });   // queued work is recorded, not executed
//   g.launch();                          // runs it (each call queues one replay on the stream)
// The memory the captured work touched through the caching allocator is kept for the graph
// until it is destroyed (allocator.h: begin_capture/release_capture), so a replay never writes
// memory that was handed to someone else. Memory from before the capture (parameters, inputs)
// is the caller's business: replay only while it is still the same.
#include <functional>

namespace gpunet::cuda::detail {

class Graph {
 public:
  explicit Graph(int device);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Captures what `body` queues on the device's stream (relaxed capture mode; nothing runs).
  /// Requires: no capture yet. On any failure (body throws, capture invalidated, instantiation
  /// fails) the capture is ended, the partial graph destroyed, its memory released, and a
  /// CudaError (or the body's exception) is thrown; the Graph stays empty.
  void capture(const std::function<void()>& body);
  /// Queues one replay of the captured work on the device's stream. Requires a capture.
  void launch();
  bool captured() const { return exec_ != nullptr; }

 private:
  void reset() noexcept;
  int device_;
  unsigned long long pool_id_ = 0;
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

}  // namespace gpunet::cuda::detail
