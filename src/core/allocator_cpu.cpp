// Host allocator: 64-byte aligned blocks that a training step reuses, so that a step which
// allocates the same buffers every iteration reaches the system only at the start.
// - Blocks of 16 MiB and more (activations) come from CpuArena (core/cpu_arena.h): one
//   reservation of address space, 2 MiB granules marked for transparent huge pages (one fault
//   per 2 MiB on first touch, not per 4 KiB), best fit over coalesced free ranges. Freed ranges
//   stay resident: sending them back to the system each step (munmap, then a page fault per page
//   and the kernel zeroing it) cost a quarter of a step's CPU time. Any free range serves any
//   request that fits, so the forward and the backward pass share pages although their buffer
//   sizes differ (the exact-size cache this replaced held 0.64 GB of free blocks at airbench94's
//   peak at batch 1024).
// - Smaller blocks are cached by exact size, up to max(1 GiB, the most ever in use) in all.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include "core/cpu_arena.h"
#include "core/device_api.h"
#include "core/host_stats.h"
#include "gpunet/tensor.h"

namespace gpunet::detail {
namespace {

constexpr size_t kArenaFrom = size_t(16) << 20;  // blocks this large use the arena (rounding wastes < 1/8)

// The arena's reservation: twice the physical memory, at most 1 TiB (address space only).
size_t arena_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t phys = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : size_t(8) << 30;
  return std::min(2 * phys, size_t(1) << 40);
}

struct CpuPool {
  std::mutex mu;
  CpuArena arena{arena_bytes()};
  std::multimap<size_t, void*> free_blocks;  // small blocks (and large ones the arena had no room for)
  size_t in_use = 0, peak = 0, system_allocs = 0;
  size_t held = 0;    // bytes of blocks held outside the arena (in use + cached)
  size_t cached = 0;  // bytes of free_blocks
  size_t high_water = 0;      // the largest in_use ever (reset_peak leaves it)
  size_t reserved_peak = 0;   // the largest reserved() ever
  static constexpr size_t kMinCacheCap = size_t(1) << 30;
  size_t cache_cap() const { return std::max(kMinCacheCap, high_water); }
  size_t reserved() const { return held + arena.resident(); }
  void note_use(size_t sz) {
    in_use += sz;
    peak = std::max(peak, in_use);
    high_water = std::max(high_water, in_use);
    reserved_peak = std::max(reserved_peak, reserved());
  }
};
CpuPool& pool() {
  static CpuPool* p = new CpuPool();  // never destroyed: tensors may outlive static destruction
  return *p;
}
size_t round_size(size_t bytes) {
  if (bytes >= kArenaFrom) return (bytes + CpuArena::kGranule - 1) / CpuArena::kGranule * CpuArena::kGranule;
  return bytes ? (bytes + 63) / 64 * 64 : 64;
}

}  // namespace

void* cpu_allocate(size_t bytes) {
  auto& P = pool();
  const size_t sz = round_size(bytes);
  {
    std::lock_guard<std::mutex> lock(P.mu);
    if (sz >= kArenaFrom) {
      bool grew = false;
      if (void* p = P.arena.allocate(sz, grew)) {
        if (grew) P.system_allocs++;
        P.note_use(sz);
        return p;
      }
    }
    auto it = P.free_blocks.find(sz);
    if (it != P.free_blocks.end()) {
      void* p = it->second;
      P.free_blocks.erase(it);
      P.cached -= sz;
      P.note_use(sz);
      return p;
    }
  }
  void* p = std::aligned_alloc(sz >= kArenaFrom ? CpuArena::kGranule : 64, sz);
  if (!p) throw Error(detail::cat("out of host memory: asked for ", sz, " bytes"));
  std::lock_guard<std::mutex> lock(P.mu);
  P.system_allocs++;
  P.held += sz;
  P.note_use(sz);
  return p;
}

void cpu_deallocate(void* p, size_t bytes) {
  if (!p) return;
  auto& P = pool();
  const size_t sz = round_size(bytes);
  std::lock_guard<std::mutex> lock(P.mu);
  P.in_use -= sz;
  if (P.arena.owns(p)) {
    P.arena.deallocate(p, sz);
  } else if (P.cached + sz <= P.cache_cap()) {
    P.free_blocks.emplace(sz, p);
    P.cached += sz;
  } else {
    P.held -= sz;
    std::free(p);
  }
}

memory::Stats cpu_stats() {
  auto& P = pool();
  std::lock_guard<std::mutex> lock(P.mu);
  return memory::Stats{P.in_use, P.peak, P.reserved(), P.system_allocs};
}
size_t cpu_peak_reserved() {
  auto& P = pool();
  std::lock_guard<std::mutex> lock(P.mu);
  return P.reserved_peak;
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
    P.held -= sz;
  }
  P.free_blocks.clear();
  P.cached = 0;
  P.arena.release_free();
}

size_t peak_rss_bytes() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<size_t>(ru.ru_maxrss) * 1024;  // Linux reports kilobytes
}

}  // namespace gpunet::detail
