#pragma once
/// Host memory figures beyond memory::stats (gpunet/tensor.h), for reports such as `gpunet bench`.
///   size_t rss = gpunet::memory::peak_rss_bytes();   // the process's peak resident set so far
#include <cstddef>

namespace gpunet::memory {

/// The most bytes the host (CPU) allocator has held from the system at once since the process
/// started: tensors in use plus the pages it keeps for reuse (stats(cpu).reserved at its highest).
/// Guarantees: never decreases; at least stats(Device::cpu()).peak.
size_t host_peak_reserved();

/// The process's peak resident set size so far, in bytes (getrusage's ru_maxrss): everything,
/// tensors, datasets, libraries and their buffers. 0 where the system does not report it.
/// Guarantees: never decreases.
size_t peak_rss_bytes();

}  // namespace gpunet::memory
