// The host allocator's arena for large blocks (src/core/cpu_arena.h): best fit, splitting,
// merging of free neighbours, the resident count, and through memory::stats the reuse a cache
// by exact size could not do (one freed block serving requests of other sizes).
#include <gtest/gtest.h>

#include "core/cpu_arena.h"
#include "gpunet/host_memory.h"
#include "gpunet/tensor.h"

namespace gpunet {
namespace {

using detail::CpuArena;
constexpr size_t G = CpuArena::kGranule;

TEST(CpuArena, BestFitSplitsAFreeRangeAndMergesItBack) {
  CpuArena a(size_t(1) << 30);
  bool grew = false;
  char* big = static_cast<char*>(a.allocate(8 * G, grew));
  ASSERT_NE(big, nullptr) << "no address space for the arena";
  EXPECT_TRUE(grew);
  char* guard = static_cast<char*>(a.allocate(G, grew));  // keeps big's range off the top
  a.deallocate(big, 8 * G);
  EXPECT_EQ(a.free_bytes(), 8 * G);
  // Two smaller blocks come out of the freed range, without new pages.
  char* b = static_cast<char*>(a.allocate(3 * G, grew));
  EXPECT_FALSE(grew);
  char* c = static_cast<char*>(a.allocate(2 * G, grew));
  EXPECT_FALSE(grew);
  EXPECT_EQ(b, big);
  EXPECT_EQ(c, big + 3 * G);
  EXPECT_EQ(a.resident(), 9 * G);
  // Freed in either order, the pieces merge into one range that serves the whole size again.
  a.deallocate(b, 3 * G);
  a.deallocate(c, 2 * G);
  EXPECT_EQ(a.free_bytes(), 8 * G);
  EXPECT_EQ(a.allocate(8 * G, grew), big);
  EXPECT_FALSE(grew);
  a.deallocate(big, 8 * G);
  a.deallocate(guard, G);
}

TEST(CpuArena, TheSmallestFreeRangeThatFitsIsTaken) {
  CpuArena a(size_t(1) << 30);
  bool grew = false;
  char* r4 = static_cast<char*>(a.allocate(4 * G, grew));
  ASSERT_NE(r4, nullptr);
  char* sep1 = static_cast<char*>(a.allocate(G, grew));
  char* r2 = static_cast<char*>(a.allocate(2 * G, grew));
  char* sep2 = static_cast<char*>(a.allocate(G, grew));
  a.deallocate(r4, 4 * G);
  a.deallocate(r2, 2 * G);
  EXPECT_EQ(a.allocate(2 * G, grew), r2);  // not the first range, the best one
  EXPECT_EQ(a.allocate(3 * G, grew), r4);
  EXPECT_FALSE(grew);
  // Too big for every free range: the free range at the top is extended, or the top grows.
  char* top = static_cast<char*>(a.allocate(5 * G, grew));
  EXPECT_TRUE(grew);
  EXPECT_EQ(top, sep2 + G);
  (void)sep1;
}

TEST(CpuArena, ReleasingTheFreeRangesDropsThemFromTheResidentCount) {
  CpuArena a(size_t(1) << 30);
  bool grew = false;
  void* x = a.allocate(4 * G, grew);
  void* y = a.allocate(2 * G, grew);
  ASSERT_NE(y, nullptr);
  static_cast<char*>(x)[0] = 1;
  a.deallocate(x, 4 * G);
  EXPECT_EQ(a.resident(), 6 * G);
  a.release_free();
  EXPECT_EQ(a.resident(), 2 * G);
  // Reusing a released range counts its pages again (they fault back in as zeros).
  void* z = a.allocate(3 * G, grew);
  EXPECT_EQ(z, x);
  EXPECT_EQ(a.resident(), 5 * G);
  EXPECT_EQ(static_cast<char*>(z)[0], 0);
}

// Through the public allocator: a freed 64 MiB activation serves two 24 MiB ones (a backward
// pass's gradients of other shapes) without taking more memory from the system. The exact-size
// cache this replaced kept the 64 MiB block and reserved 48 MiB more.
TEST(HostAllocator, AFreedLargeBlockServesSmallerRequests) {
  const Shape big{16, 1024, 1024};   // 64 MiB of float32
  const Shape part{6, 1024, 1024};   // 24 MiB
  memory::empty_cache(Device::cpu());
  const size_t base = memory::stats(Device::cpu()).reserved;
  { Tensor t = Tensor::empty(big); }
  const size_t after_big = memory::stats(Device::cpu()).reserved;
  EXPECT_GE(after_big, base + (size_t(64) << 20));
  {
    Tensor a = Tensor::empty(part), b = Tensor::empty(part);
    EXPECT_EQ(memory::stats(Device::cpu()).reserved, after_big) << "the two blocks took new memory";
  }
  EXPECT_GE(memory::host_peak_reserved(), after_big);
  memory::empty_cache(Device::cpu());
  EXPECT_EQ(memory::stats(Device::cpu()).reserved, base);
}

}  // namespace
}  // namespace gpunet
