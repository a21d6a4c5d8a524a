#pragma once
// Copy kernels of the Tensor's storage, for any dtype (by element size): a strided copy
// (gather into a contiguous tensor, scatter into a strided one, or both), fill with one value,
// and dtype conversion. Called only from src/ops/copy.cpp, through GPUNET_DISPATCH.
#include <cstdint>

namespace gpunet::kernels {

/// The most dimensions copy_strided handles (a front end collapses or rejects more).
constexpr int kCopyMaxDims = 8;

/// The element walk of copy_strided: `ndim` (0..kCopyMaxDims) dimensions of `shape`, visited
/// in row-major order; strides and offsets are in elements (may be 0; never negative).
struct StridedCopy {
  int ndim = 0;
  int elem_size = 4;  // bytes: 1, 2, 4 or 8
  int64_t shape[kCopyMaxDims] = {};
  int64_t src_strides[kCopyMaxDims] = {};
  int64_t dst_strides[kCopyMaxDims] = {};
};

namespace cpu {
// dst[sum_d i_d * dst_strides[d]] = src[sum_d i_d * src_strides[d]] for every index (i_0..i_{ndim-1})
// of shape; src and dst point at element 0 (the storage offset applied) and do not overlap.
void copy_strided(const StridedCopy& c, const void* src, void* dst);
// out[0..n) = the element whose elem_size (1, 2, 4 or 8) bytes are `value` (a host pointer).
void fill_bytes(int64_t n, int elem_size, const void* value, void* out);
// converts n contiguous elements between dtypes (float32, float64, int64, int32, uint8) by DType id
void convert(int64_t n, int src_dtype, const void* src, int dst_dtype, void* dst);
}  // namespace cpu

namespace cuda {
// The same contracts on the current device's stream (asynchronous; value is read before return).
// copy_strided is a grid-stride loop with int64 index math, so any element count works.
void copy_strided(const StridedCopy& c, const void* src, void* dst);
void fill_bytes(int64_t n, int elem_size, const void* value, void* out);
void convert(int64_t n, int src_dtype, const void* src, int dst_dtype, void* dst);
}  // namespace cuda

}  // namespace gpunet::kernels
