// The caching device allocator: one pool per device. Freed blocks go to a free list keyed
// by size and are handed out again (best fit, at most twice the size asked for), so a
// training step does no cudaMalloc/cudaFree once the first step has run. All work runs on
// the device's one stream, so a block freed on the host may be reused by later work at once:
// the stream orders the old user's kernels before the new user's. While a CUDA graph is being
// captured, blocks are marked for it and, once freed, held until the graph is destroyed (see
// allocator.h): a replay must never write memory that someone else was given meanwhile.
#include "core/cuda/allocator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cuda/context.h"
#include "core/device_api.h"

namespace gpunet::cuda::detail {
namespace {

constexpr size_t kSmallQuantum = 512;
constexpr size_t kLargeThreshold = size_t(1) << 20;  // 1 MiB
constexpr size_t kLargeQuantum = size_t(2) << 20;    // 2 MiB

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // block size -> pointer, cached for reuse
  std::unordered_map<void*, size_t> live;    // handed out: pointer -> block size
  memory::Stats stats;
  // CUDA-graph capture: the open capture (0: none), the captures that may use each marked block,
  // and the freed marked blocks (pointer -> block size) kept out of free_blocks.
  unsigned long long capturing = 0, next_capture = 1;
  std::unordered_map<void*, std::vector<unsigned long long>> marks;
  std::unordered_map<void*, size_t> held;
  size_t held_bytes = 0;
};

void mark(Pool& p, void* ptr, unsigned long long id) {
  auto& ids = p.marks[ptr];
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

// Pools live for the whole process (never destroyed): tensors freed during static
// destruction still find their pool, and no cudaFree runs after the driver shut down.
std::mutex g_pools_mutex;
std::vector<Pool*>* g_pools = new std::vector<Pool*>();

Pool& pool(int device) {
  GPUNET_CHECK(device >= 0, "cuda allocator: bad device index ", device);
  std::lock_guard<std::mutex> lock(g_pools_mutex);
  if (static_cast<size_t>(device) >= g_pools->size()) g_pools->resize(device + 1, nullptr);
  Pool*& p = (*g_pools)[device];
  if (p == nullptr) p = new Pool();
  return *p;
}

// Frees every cached block of the pool; the caller holds pool.mutex and a DeviceGuard.
void release_cached_locked(Pool& p) {
  while (!p.free_blocks.empty()) {
    auto it = p.free_blocks.begin();
    const size_t size = it->first;
    void* ptr = it->second;
    p.free_blocks.erase(it);
    p.stats.reserved -= size;
    GPUNET_CUDA_CHECK(cudaFree(ptr));
  }
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// cudaMalloc with one retry after emptying the cache; the caller holds pool.mutex.
void* system_allocate_locked(Pool& p, size_t size, size_t asked, int device) {
  DeviceGuard guard(device);
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, size);
  if (err == cudaErrorMemoryAllocation && p.capturing == 0) {  // no cudaFree during a capture
    (void)cudaGetLastError();  // clear the (non-sticky) error before retrying
    release_cached_locked(p);
    err = cudaMalloc(&ptr, size);
  }
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    throw OutOfMemoryError(gpunet::detail::cat("out of memory on cuda:", device, ": asked for ", mib(asked), " MiB, ",
                                               mib(free_b), " MiB free of ", mib(total_b),
                                               " MiB; try a smaller --batch-size or --data-on-host"));
  }
  if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc(&ptr, size)", __FILE__, __LINE__);
  p.stats.system_allocs += 1;
  p.stats.reserved += size;
  return ptr;
}

}  // namespace

size_t round_size(size_t bytes) {
  if (bytes < kSmallQuantum) return kSmallQuantum;
  if (bytes < kLargeThreshold) return (bytes + kSmallQuantum - 1) / kSmallQuantum * kSmallQuantum;
  return (bytes + kLargeQuantum - 1) / kLargeQuantum * kLargeQuantum;
}

void* allocate(size_t bytes, int device) {
  const size_t size = round_size(bytes);
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  void* ptr = nullptr;
  size_t block = 0;
  auto it = p.free_blocks.lower_bound(size);  // smallest cached block that fits
  if (it != p.free_blocks.end() && it->first <= 2 * size) {
    block = it->first;
    ptr = it->second;
    p.free_blocks.erase(it);
  } else {
    ptr = system_allocate_locked(p, size, bytes, device);
    block = size;
  }
  p.live.emplace(ptr, block);
  if (p.capturing != 0) mark(p, ptr, p.capturing);
  p.stats.in_use += block;
  p.stats.peak = std::max(p.stats.peak, p.stats.in_use);
  return ptr;
}

void deallocate(void* ptr, size_t /*bytes*/, int device) {
  if (ptr == nullptr || device < 0) return;
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;  // not ours: nothing sane to do in a destructor path
  const size_t block = it->second;
  p.live.erase(it);
  p.stats.in_use -= block;
  if (p.capturing != 0) mark(p, ptr, p.capturing);
  if (p.marks.count(ptr) != 0) {  // a live graph may still write it: hold it
    p.held.emplace(ptr, block);
    p.held_bytes += block;
  } else {
    p.free_blocks.emplace(block, ptr);
  }
}

unsigned long long begin_capture(int device) {
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  GPUNET_CHECK(p.capturing == 0, "cuda allocator: a CUDA graph capture is already open on cuda:", device);
  p.capturing = p.next_capture++;
  return p.capturing;
}

void end_capture(int device, unsigned long long id) {
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.capturing == id) p.capturing = 0;
}

void release_capture(int device, unsigned long long id) {
  if (id == 0 || device < 0) return;
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.capturing == id) p.capturing = 0;
  for (auto it = p.marks.begin(); it != p.marks.end();) {
    auto& ids = it->second;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (!ids.empty()) {
      ++it;
      continue;
    }
    auto h = p.held.find(it->first);
    if (h != p.held.end()) {  // freed and no longer used by any graph: back to the cache
      p.free_blocks.emplace(h->second, h->first);
      p.held_bytes -= h->second;
      p.held.erase(h);
    }
    it = p.marks.erase(it);
  }
}

size_t held_bytes(int device) {
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.held_bytes;
}

memory::Stats memory_stats(int device) {
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void reset_peak(int device) {
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.peak = p.stats.in_use;
}

void empty_cache(int device) {
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.free_blocks.empty() || p.capturing != 0) return;  // cudaFree would break an open capture
  DeviceGuard guard(device);
  release_cached_locked(p);
}

}  // namespace gpunet::cuda::detail
