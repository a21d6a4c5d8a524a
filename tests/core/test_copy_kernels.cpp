// The storage kernels of kernels/copy.h: copy_strided (gather, scatter, both; every element
// size; offsets; up to 8 dimensions; empty and 0-D walks) against an index-by-index reference,
// outputs poisoned first; the CUDA twin against the CPU one (skipped without a GPU), including a
// walk of more elements than 65,535 blocks of 256 threads cover in one pass.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/tensor.h"
#include "kernels/copy.h"
#include "support/gpu.h"

namespace gpunet {
namespace {

using kernels::StridedCopy;
constexpr uint8_t kPoison = 0xAB;

StridedCopy walk(int elem_size, const Shape& shape, const Shape& src_strides, const Shape& dst_strides) {
  StridedCopy c;
  c.elem_size = elem_size;
  c.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < c.ndim; ++d) {
    c.shape[d] = shape[d];
    c.src_strides[d] = src_strides[d];
    c.dst_strides[d] = dst_strides[d];
  }
  return c;
}

// The reference: for every row-major index, its offsets by explicit multiplication.
void reference(const StridedCopy& c, const uint8_t* src, uint8_t* dst) {
  int64_t n = 1;
  for (int d = 0; d < c.ndim; ++d) n *= c.shape[d];
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, so = 0, dof = 0;
    for (int d = c.ndim - 1; d >= 0; --d) {
      so += (rest % c.shape[d]) * c.src_strides[d];
      dof += (rest % c.shape[d]) * c.dst_strides[d];
      rest /= c.shape[d];
    }
    std::memcpy(dst + dof * c.elem_size, src + so * c.elem_size, c.elem_size);
  }
}

// Elements a walk can touch, +1 (strides are non-negative).
int64_t span(const StridedCopy& c, bool dst) {
  int64_t last = 0;
  for (int d = 0; d < c.ndim; ++d) {
    if (c.shape[d] == 0) return 0;
    last += (c.shape[d] - 1) * (dst ? c.dst_strides[d] : c.src_strides[d]);
  }
  return last + 1;
}

std::vector<uint8_t> pattern(size_t bytes) {
  std::vector<uint8_t> v(bytes);
  for (size_t i = 0; i < bytes; ++i) v[i] = static_cast<uint8_t>((i * 131 + 7) % 251);  // never kPoison
  return v;
}

// Runs the CPU kernel with src read from `src_offset` elements in and dst poisoned (8 spare
// elements after the walk's span too), and compares every byte with the reference.
void check_cpu(const StridedCopy& c, int64_t src_offset, int64_t dst_offset) {
  const size_t es = c.elem_size;
  const auto src = pattern((src_offset + span(c, false)) * es);
  std::vector<uint8_t> want((dst_offset + span(c, true) + 8) * es, kPoison), got = want;
  reference(c, src.data() + src_offset * es, want.data() + dst_offset * es);
  kernels::cpu::copy_strided(c, src.data() + src_offset * es, got.data() + dst_offset * es);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], want[i]) << "byte " << i << " (element " << i / es << ") of a copy with element size " << es;
}

TEST(CopyKernels, GatherOfATransposeEveryElementSize) {
  for (int es : {1, 2, 4, 8}) {
    SCOPED_TRACE(es);
    // A [3, 4, 5] tensor stored as its transpose [5, 4, 3]: strides (1, 3, 12), offset 7.
    check_cpu(walk(es, {3, 4, 5}, {1, 3, 12}, {20, 5, 1}), 7, 0);
  }
}

TEST(CopyKernels, GatherOfNarrowedInnerDimensions) {
  // [4, 6, 5] narrowed to [4, 3, 2] from (0, 2, 1): strides (30, 5, 1), offset 11.
  for (int es : {1, 4, 8}) check_cpu(walk(es, {4, 3, 2}, {30, 5, 1}, {6, 2, 1}), 11, 0);
}

TEST(CopyKernels, ScatterIntoAStridedDestinationLeavesTheGaps) {
  // Every other element of every other row of a [6, 8] destination, offset 3; the gaps keep the poison.
  for (int es : {1, 2, 4, 8}) check_cpu(walk(es, {3, 4}, {4, 1}, {16, 2}), 0, 3);
}

TEST(CopyKernels, BothSidesStridedAndBroadcastSource) {
  check_cpu(walk(4, {5, 7}, {1, 5}, {14, 2}), 2, 1);
  check_cpu(walk(8, {4, 6}, {0, 1}, {6, 1}), 0, 0);  // a stride of 0 repeats a row
}

TEST(CopyKernels, EightDimensionsZeroDimensionsAndEmptyWalks) {
  const Shape shape{2, 3, 2, 2, 3, 2, 2, 3};
  Shape strides(8), reversed(8);
  // The source is the same elements with the dimension order reversed (a full transpose).
  int64_t acc = 1;
  for (int d = 0; d < 8; ++d) {
    strides[d] = acc;
    acc *= shape[d];
  }
  acc = 1;
  for (int d = 7; d >= 0; --d) {
    reversed[d] = acc;
    acc *= shape[d];
  }
  check_cpu(walk(4, shape, strides, reversed), 5, 0);
  check_cpu(walk(8, {}, {}, {}), 3, 2);                     // 0-D: one element
  check_cpu(walk(4, {3, 0, 2}, {1, 3, 3}, {0, 2, 1}), 0, 0);  // nothing to copy, nothing written
}

TEST(CopyKernels, FillAndConvert) {
  for (int es : {1, 2, 4, 8}) {
    std::vector<uint8_t> out((13 + 2) * es, kPoison), value(es);
    for (int b = 0; b < es; ++b) value[b] = static_cast<uint8_t>(0x10 + b);
    kernels::cpu::fill_bytes(13, es, value.data(), out.data());
    for (int i = 0; i < 13; ++i) EXPECT_EQ(std::memcmp(out.data() + i * es, value.data(), es), 0) << es << " " << i;
    for (size_t i = 13 * es; i < out.size(); ++i) EXPECT_EQ(out[i], kPoison);
  }
  const std::vector<float> f{-2.7f, 0.0f, 3.9f, 255.0f};
  std::vector<int64_t> i64(4, -99);
  kernels::cpu::convert(4, static_cast<int>(DType::Float32), f.data(), static_cast<int>(DType::Int64), i64.data());
  EXPECT_EQ(i64, (std::vector<int64_t>{-2, 0, 3, 255}));
  std::vector<double> d(4, 0.0);
  kernels::cpu::convert(4, static_cast<int>(DType::Int64), i64.data(), static_cast<int>(DType::Float64), d.data());
  EXPECT_EQ(d, (std::vector<double>{-2.0, 0.0, 3.0, 255.0}));
}

#if GPUNET_HAVE_CUDA
// The CUDA twin on the same walk: bytes compared with the CPU twin's, dst poisoned on both.
void check_cuda(const StridedCopy& c, int64_t src_offset, int64_t dst_offset) {
  const size_t es = c.elem_size;
  const auto src = pattern((src_offset + span(c, false)) * es);
  std::vector<uint8_t> want((dst_offset + span(c, true) + 8) * es, kPoison);
  kernels::cpu::copy_strided(c, src.data() + src_offset * es, want.data() + dst_offset * es);
  const Device gpu = Device::cuda(0);
  const int64_t nsrc = static_cast<int64_t>(src.size()), ndst = static_cast<int64_t>(want.size());
  Tensor dsrc = Tensor::from_blob(src.data(), {nsrc}, DType::UInt8, gpu);
  Tensor ddst = Tensor::full({ndst}, kPoison, DType::UInt8, gpu);
  kernels::cuda::copy_strided(c, static_cast<uint8_t*>(dsrc.raw_data()) + src_offset * es,
                              static_cast<uint8_t*>(ddst.raw_data()) + dst_offset * es);
  const std::vector<uint8_t> got = ddst.to_vector<uint8_t>();
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i] && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << "first differing byte " << first << " (element " << first / es << ")";
}
#endif

TEST(CopyKernelsCuda, StridedCopyMatchesTheCpu) {
  GPUNET_REQUIRE_GPU();
#if GPUNET_HAVE_CUDA
  for (int es : {1, 2, 4, 8}) {
    check_cuda(walk(es, {3, 4, 5}, {1, 3, 12}, {20, 5, 1}), 7, 0);
    check_cuda(walk(es, {4, 3, 2}, {30, 5, 1}, {6, 2, 1}), 11, 0);
    check_cuda(walk(es, {3, 4}, {4, 1}, {16, 2}), 0, 3);
  }
  check_cuda(walk(4, {2, 3, 2, 2, 3, 2, 2, 3}, {1, 2, 6, 12, 24, 72, 144, 288}, {432, 144, 72, 36, 12, 6, 3, 1}), 5, 0);
  check_cuda(walk(8, {}, {}, {}), 3, 2);
  check_cuda(walk(4, {3, 0, 2}, {1, 3, 3}, {0, 2, 1}), 0, 0);
#endif
}

TEST(CopyKernelsCuda, StridedCopyBeyondOneGridPass) {
  GPUNET_REQUIRE_GPU();
#if GPUNET_HAVE_CUDA
  // 4,100 x 4,100 bytes = 16,810,000 elements > 65,535 blocks x 256 threads = 16,776,960: the
  // grid-stride loop must take a second pass. A transpose, so every element moves.
  check_cuda(walk(1, {4100, 4100}, {1, 4100}, {4100, 1}), 0, 0);
#endif
}

}  // namespace
}  // namespace gpunet
