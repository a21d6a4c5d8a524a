// Host allocator: 64-byte aligned blocks, cached by exact size so that a training step that
// allocates the same buffers every iteration reaches the system allocator only at the start.
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include "core/device_api.h"
#include "gpunet/tensor.h"

namespace gpunet::detail {
namespace {

struct CpuPool {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  size_t in_use = 0, peak = 0, reserved = 0, system_allocs = 0;
  size_t cached = 0;
  static constexpr size_t kMaxCached = size_t(1) << 30;  // keep at most 1 GiB of unused blocks
};
CpuPool& pool() {
  static CpuPool* p = new CpuPool();  // never destroyed: tensors may outlive static destruction
  return *p;
}
size_t round_size(size_t bytes) { return bytes ? (bytes + 63) / 64 * 64 : 64; }

}  // namespace

void* cpu_allocate(size_t bytes) {
  auto& P = pool();
  size_t sz = round_size(bytes);
  {
    std::lock_guard<std::mutex> lock(P.mu);
    auto it = P.free_blocks.find(sz);
    if (it != P.free_blocks.end()) {
      void* p = it->second;
      P.free_blocks.erase(it);
      P.cached -= sz;
      P.in_use += sz;
      if (P.in_use > P.peak) P.peak = P.in_use;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, sz);
  if (!p) throw Error(detail::cat("out of host memory: asked for ", sz, " bytes"));
  std::lock_guard<std::mutex> lock(P.mu);
  P.system_allocs++;
  P.reserved += sz;
  P.in_use += sz;
  if (P.in_use > P.peak) P.peak = P.in_use;
  return p;
}

void cpu_deallocate(void* p, size_t bytes) {
  if (!p) return;
  auto& P = pool();
  size_t sz = round_size(bytes);
  std::lock_guard<std::mutex> lock(P.mu);
  P.in_use -= sz;
  if (P.cached + sz <= CpuPool::kMaxCached) {
    P.free_blocks.emplace(sz, p);
    P.cached += sz;
  } else {
    P.reserved -= sz;
    std::free(p);
  }
}

memory::Stats cpu_stats() {
  auto& P = pool();
  std::lock_guard<std::mutex> lock(P.mu);
  return memory::Stats{P.in_use, P.peak, P.reserved, P.system_allocs};
}
void cpu_reset_peak() {
  auto& P = pool();
  std::lock_guard<std::mutex> lock(P.mu);
  P.peak = P.in_use;
}
void cpu_empty_cache() {
  auto& P = pool();
  std::lock_guard<std::mutex> lock(P.mu);
  for (auto& [sz, p] : P.free_blocks) {
    std::free(p);
    P.reserved -= sz;
  }
  P.free_blocks.clear();
  P.cached = 0;
}

}  // namespace gpunet::detail
