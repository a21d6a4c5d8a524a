#pragma once
// Internal: the host allocator's home for large blocks (src/core/allocator_cpu.cpp).
//
// One reservation of virtual address space (mmap, MAP_NORESERVE: no memory is committed until a
// page is touched), handed out in 2 MiB granules by best fit, with a free range split on use and
// merged with its free neighbours on release. Freed ranges stay resident (a training step that
// frees its activations gets the same pages back in the next step without page faults), but
// unlike a cache by exact size any free range serves any request that fits it: a step whose
// forward and backward passes use different buffer sizes reuses one set of pages for both.
// The exact-size cache it replaces held every size's blocks at once (airbench94 at batch 1024:
// 0.64 GB of free blocks at the step's peak).
//
// Not thread-safe: the caller (CpuPool) holds its mutex around every call.
#include <cstddef>
#include <map>
#include <set>
#include <utility>

namespace gpunet::detail {

class CpuArena {
 public:
  static constexpr size_t kGranule = size_t(2) << 20;  // a transparent huge page

  /// Reserves up to `bytes` of address space (less when the system refuses that much; none at
  /// all leaves the arena unusable: allocate() then returns nullptr).
  explicit CpuArena(size_t bytes);
  ~CpuArena();
  CpuArena(const CpuArena&) = delete;
  CpuArena& operator=(const CpuArena&) = delete;

  /// A block of `bytes` (a multiple of kGranule), 2 MiB aligned; nullptr when the reservation is
  /// full. `grew` is set when the block reaches past every earlier block (new pages).
  void* allocate(size_t bytes, bool& grew);
  /// Gives back a block from allocate() of the same size.
  void deallocate(void* p, size_t bytes);
  bool owns(const void* p) const { return base_ && p >= base_ && p < base_ + size_; }
  /// Returns the pages of every free range to the system (madvise DONTNEED).
  void release_free();

  size_t resident() const { return resident_; }  // bytes of pages that may be resident
  size_t free_bytes() const { return free_; }     // bytes in free ranges below the top

 private:
  struct Range {
    size_t len = 0;
    size_t resident = 0;  // bytes of it that may still be resident (0 after release_free)
  };
  void insert_free(size_t off, Range r);
  void erase_free(std::map<size_t, Range>::iterator it);

  char* base_ = nullptr;
  void* mapping_ = nullptr;
  size_t mapped_ = 0, size_ = 0;
  size_t top_ = 0;  // [0, top_) has been handed out at some time
  size_t resident_ = 0, free_ = 0;
  std::map<size_t, Range> free_by_offset_;
  std::set<std::pair<size_t, size_t>> free_by_size_;  // (len, offset)
};

}  // namespace gpunet::detail
