// The host allocator's arena for large blocks: best fit over coalesced free ranges in one
// reservation of address space (see cpu_arena.h).
#include "core/cpu_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

namespace gpunet::detail {

CpuArena::CpuArena(size_t bytes) {
  // MAP_NORESERVE: nothing is committed until touched. A system that refuses the reservation
  // (a strict overcommit policy, a small address-space limit) gets a smaller one, then none.
  for (size_t want = bytes / kGranule * kGranule; want >= (size_t(1) << 30); want /= 2) {
    void* m = mmap(nullptr, want + kGranule, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) continue;
    mapping_ = m;
    mapped_ = want + kGranule;
    const auto a = reinterpret_cast<uintptr_t>(m);
    base_ = reinterpret_cast<char*>((a + kGranule - 1) / kGranule * kGranule);
    size_ = want;
#ifdef MADV_HUGEPAGE
    madvise(base_, size_, MADV_HUGEPAGE);  // advice only: without THP the arena works the same
#endif
    return;
  }
}

CpuArena::~CpuArena() {
  if (mapping_) munmap(mapping_, mapped_);
}

void CpuArena::erase_free(std::map<size_t, Range>::iterator it) {
  free_by_size_.erase({it->second.len, it->first});
  free_ -= it->second.len;
  free_by_offset_.erase(it);
}

void CpuArena::insert_free(size_t off, Range r) {
  // Merge with the free neighbours on both sides.
  auto next = free_by_offset_.lower_bound(off);
  if (next != free_by_offset_.end() && next->first == off + r.len) {
    r.len += next->second.len;
    r.resident += next->second.resident;
    auto gone = next++;
    erase_free(gone);
  }
  if (next != free_by_offset_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len == off) {
      off = prev->first;
      r.len += prev->second.len;
      r.resident += prev->second.resident;
      erase_free(prev);
    }
  }
  free_by_offset_.emplace(off, r);
  free_by_size_.insert({r.len, off});
  free_ += r.len;
}

void* CpuArena::allocate(size_t bytes, bool& grew) {
  grew = false;
  if (!base_ || bytes == 0 || bytes % kGranule != 0) return nullptr;
  auto best = free_by_size_.lower_bound({bytes, 0});
  if (best != free_by_size_.end()) {  // the smallest free range that fits: split it
    const size_t off = best->second;
    auto it = free_by_offset_.find(off);
    const Range r = it->second;
    erase_free(it);
    const size_t reused = std::min(bytes, r.resident);
    resident_ += bytes - reused;
    if (r.len > bytes) insert_free(off + bytes, Range{r.len - bytes, r.resident - reused});
    return base_ + off;
  }
  // None fits: extend a free range that ends at the top, or start a block at the top.
  size_t off = top_, resident_part = 0;
  if (!free_by_offset_.empty()) {
    auto last = std::prev(free_by_offset_.end());
    if (last->first + last->second.len == top_) off = last->first;
  }
  if (off + bytes > size_) return nullptr;
  if (off < top_) {
    auto last = free_by_offset_.find(off);
    resident_part = last->second.resident;
    erase_free(last);
  }
  resident_ += bytes - resident_part;
  top_ = off + bytes;
  grew = true;
  return base_ + off;
}

void CpuArena::deallocate(void* p, size_t bytes) {
  const size_t off = static_cast<size_t>(static_cast<char*>(p) - base_);
  insert_free(off, Range{bytes, bytes});
}

void CpuArena::release_free() {
  for (auto& [off, r] : free_by_offset_) {
    if (r.resident == 0) continue;
    madvise(base_ + off, r.len, MADV_DONTNEED);
    resident_ -= r.resident;
    r.resident = 0;
  }
  // A free range at the top goes back to being unused address space.
  if (!free_by_offset_.empty()) {
    auto last = std::prev(free_by_offset_.end());
    if (last->first + last->second.len == top_) {
      top_ = last->first;
      erase_free(last);
    }
  }
}

}  // namespace gpunet::detail
