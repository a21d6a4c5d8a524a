#pragma once
// Internal: host memory figures for gpunet/host_memory.h (defined in src/core/allocator_cpu.cpp).
#include <cstddef>

namespace gpunet::detail {
// The most bytes the host allocator held from the system at once (in use + cached), ever.
size_t cpu_peak_reserved();
// The process's peak resident set size so far (getrusage ru_maxrss), in bytes; 0 if unknown.
size_t peak_rss_bytes();
}  // namespace gpunet::detail
