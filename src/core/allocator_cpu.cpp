// Host allocator: 64-byte aligned blocks, cached by exact size so that a training step that
// allocates the same buffers every iteration reaches the system allocator only at the start.
// The cache keeps up to max(1 GiB, the largest amount ever in use) of unused blocks: a step
// whose activations alone exceed 1 GiB (airbench94 at batch 1024) frees them all at its end
// and asks for them again in the next step, and a smaller cap sent them back to the system
// each time (munmap, then a page fault per 4 KiB page and the kernel zeroing it: a quarter
// of the step's CPU time). Blocks of 16 MiB and more are 2 MiB aligned and marked for
// transparent huge pages, so their first touch faults once per 2 MiB, not per 4 KiB.
#include <sys/mman.h>

#include <algorithm>
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
  size_t high_water = 0;  // the largest in_use ever (reset_peak leaves it)
  static constexpr size_t kMinCacheCap = size_t(1) << 30;
  size_t cache_cap() const { return std::max(kMinCacheCap, high_water); }
  void note_use() {
    if (in_use > peak) peak = in_use;
    if (in_use > high_water) high_water = in_use;
  }
};
CpuPool& pool() {
  static CpuPool* p = new CpuPool();  // never destroyed: tensors may outlive static destruction
  return *p;
}
constexpr size_t kHuge = size_t(2) << 20;        // a transparent huge page
constexpr size_t kHugeFrom = size_t(16) << 20;   // blocks this large use them (rounding wastes < 1/8)
size_t round_size(size_t bytes) {
  if (bytes >= kHugeFrom) return (bytes + kHuge - 1) / kHuge * kHuge;
  return bytes ? (bytes + 63) / 64 * 64 : 64;
}

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
      P.note_use();
      return p;
    }
  }
  const bool huge = sz >= kHugeFrom;
  void* p = std::aligned_alloc(huge ? kHuge : 64, sz);
  if (!p) throw Error(detail::cat("out of host memory: asked for ", sz, " bytes"));
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, sz, MADV_HUGEPAGE);  // advice only: without THP the block works the same
#endif
  std::lock_guard<std::mutex> lock(P.mu);
  P.system_allocs++;
  P.reserved += sz;
  P.in_use += sz;
  P.note_use();
  return p;
}

void cpu_deallocate(void* p, size_t bytes) {
  if (!p) return;
  auto& P = pool();
  size_t sz = round_size(bytes);
  std::lock_guard<std::mutex> lock(P.mu);
  P.in_use -= sz;
  if (P.cached + sz <= P.cache_cap()) {
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
