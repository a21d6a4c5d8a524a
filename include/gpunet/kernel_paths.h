#pragma once
/// Which kernel path each op took (e.g. conv2d: "direct", "im2col+openblas", "cudnn"), recorded
/// while a KernelPathLog is alive. `gpunet bench` reports it as cpu_kernels / gpu_kernels.
///
/// Requires: at most one KernelPathLog alive at a time (a second one throws gpunet::Error).
/// Guarantees: outside a log the ops record nothing (one relaxed atomic load per call); inside
/// one, each distinct (op, path, shape) is kept once, on any thread.
/// Example: { KernelPathLog log; step(x, y); auto p = log.take(); p.cpu["conv2d"]["direct"]; }
#include <map>
#include <set>
#include <string>

namespace gpunet {

struct KernelPaths {
  /// op -> path -> the shapes it ran on (e.g. "conv2d" -> "direct" -> {"24->64 3x3 s1 p1 on 32x32"}).
  using Table = std::map<std::string, std::map<std::string, std::set<std::string>>>;
  Table cpu, gpu;
};

class KernelPathLog {
 public:
  KernelPathLog();
  ~KernelPathLog();
  KernelPathLog(const KernelPathLog&) = delete;
  KernelPathLog& operator=(const KernelPathLog&) = delete;
  /// What was recorded since the log started (or since the last take), and clears it.
  KernelPaths take();
};

}  // namespace gpunet
