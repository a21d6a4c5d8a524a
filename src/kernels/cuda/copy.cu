// Copy kernels on a GPU (see kernels/copy.h): grid-stride loops with int64 index math, so any
// element count works with at most kMaxBlocks blocks.
#include <cstring>

#include "gpunet/dtype.h"
#include "gpunet/error.h"
#include "kernels/copy.h"
#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {

using cuda_detail::blocks_for;
using cuda_detail::kThreads;
using cuda_detail::stream;

// Element i (row-major over c.shape) -> its source and destination offsets. The walk
// descriptor is passed by value (kernel parameter memory), so nothing is copied to the device.
template <typename U>
__global__ void copy_strided_kernel(StridedCopy c, int64_t n, const U* src, U* dst) {
  GPUNET_GRID_STRIDE(i, n) {
    int64_t rest = i, so = 0, dof = 0;
    for (int d = c.ndim - 1; d >= 0; --d) {
      const int64_t k = rest % c.shape[d];
      rest /= c.shape[d];
      so += k * c.src_strides[d];
      dof += k * c.dst_strides[d];
    }
    dst[dof] = src[so];
  }
}

template <typename U>
void copy_strided_launch(const StridedCopy& c, int64_t n, const void* src, void* dst) {
  copy_strided_kernel<U><<<blocks_for(n), kThreads, 0, stream()>>>(c, n, static_cast<const U*>(src),
                                                                   static_cast<U*>(dst));
  GPUNET_KERNEL_CHECK();
}

template <typename U>
__global__ void fill_kernel(int64_t n, U value, U* out) {
  GPUNET_GRID_STRIDE(i, n) { out[i] = value; }
}

template <typename U>
void fill_launch(int64_t n, const void* value, void* out) {
  U v;
  std::memcpy(&v, value, sizeof(U));
  fill_kernel<U><<<blocks_for(n), kThreads, 0, stream()>>>(n, v, static_cast<U*>(out));
  GPUNET_KERNEL_CHECK();
}

template <typename S, typename D>
__global__ void convert_kernel(int64_t n, const S* src, D* dst) {
  GPUNET_GRID_STRIDE(i, n) { dst[i] = static_cast<D>(src[i]); }
}

template <typename S, typename D>
void convert_launch(int64_t n, const void* src, void* dst) {
  convert_kernel<S, D><<<blocks_for(n), kThreads, 0, stream()>>>(n, static_cast<const S*>(src), static_cast<D*>(dst));
  GPUNET_KERNEL_CHECK();
}

template <typename S>
void convert_from(int64_t n, const void* src, DType dd, void* dst) {
  switch (dd) {
    case DType::Float32: return convert_launch<S, float>(n, src, dst);
    case DType::Float64: return convert_launch<S, double>(n, src, dst);
    case DType::Int64: return convert_launch<S, int64_t>(n, src, dst);
    case DType::Int32: return convert_launch<S, int32_t>(n, src, dst);
    case DType::UInt8: return convert_launch<S, uint8_t>(n, src, dst);
  }
  throw Error(::gpunet::detail::cat("convert: unknown destination dtype id ", static_cast<int>(dd)));
}

}  // namespace

void copy_strided(const StridedCopy& c, const void* src, void* dst) {
  GPUNET_CHECK(c.ndim >= 0 && c.ndim <= kCopyMaxDims, "copy_strided: ", c.ndim, " dimensions (at most ",
               kCopyMaxDims, ")");
  int64_t n = 1;
  for (int d = 0; d < c.ndim; ++d) n *= c.shape[d];
  if (n <= 0) return;
  switch (c.elem_size) {
    case 1: return copy_strided_launch<uint8_t>(c, n, src, dst);
    case 2: return copy_strided_launch<uint16_t>(c, n, src, dst);
    case 4: return copy_strided_launch<uint32_t>(c, n, src, dst);
    case 8: return copy_strided_launch<unsigned long long>(c, n, src, dst);
  }
  throw Error(::gpunet::detail::cat("copy_strided: unsupported element size ", c.elem_size));
}

void fill_bytes(int64_t n, int elem_size, const void* value, void* out) {
  if (n <= 0) return;
  switch (elem_size) {
    case 1: return fill_launch<uint8_t>(n, value, out);
    case 2: return fill_launch<uint16_t>(n, value, out);
    case 4: return fill_launch<uint32_t>(n, value, out);
    case 8: return fill_launch<unsigned long long>(n, value, out);
  }
  throw Error(::gpunet::detail::cat("fill_bytes: unsupported element size ", elem_size));
}

void convert(int64_t n, int src_dtype, const void* src, int dst_dtype, void* dst) {
  if (n <= 0) return;
  const auto sd = static_cast<DType>(src_dtype);
  const auto dd = static_cast<DType>(dst_dtype);
  if (sd == dd) {
    GPUNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * dtype_size(sd), cudaMemcpyDeviceToDevice,
                                      stream()));
    return;
  }
  switch (sd) {
    case DType::Float32: return convert_from<float>(n, src, dd, dst);
    case DType::Float64: return convert_from<double>(n, src, dd, dst);
    case DType::Int64: return convert_from<int64_t>(n, src, dd, dst);
    case DType::Int32: return convert_from<int32_t>(n, src, dd, dst);
    case DType::UInt8: return convert_from<uint8_t>(n, src, dd, dst);
  }
  throw Error(::gpunet::detail::cat("convert: unknown source dtype id ", src_dtype));
}

}  // namespace gpunet::kernels::cuda
