// Copy kernels on the CPU (see kernels/copy.h): plain loops, the reference for the CUDA twins.
#include "kernels/copy.h"

#include <cstring>

#include "gpunet/dtype.h"
#include "gpunet/error.h"

namespace gpunet::kernels::cpu {
namespace {

// The strided walk for one element type U (a plain unsigned integer of the element's size):
// the innermost dimension is a loop; the outer ones are an odometer.
template <typename U>
void copy_strided_as(const StridedCopy& c, const U* src, U* dst) {
  if (c.ndim == 0) {
    dst[0] = src[0];
    return;
  }
  const int last = c.ndim - 1;
  int64_t outer = 1;
  for (int d = 0; d < last; ++d) outer *= c.shape[d];
  const int64_t inner = c.shape[last], ss = c.src_strides[last], ds = c.dst_strides[last];
  if (outer == 0 || inner == 0) return;
  int64_t idx[kCopyMaxDims] = {};
  for (int64_t o = 0; o < outer; ++o) {
    int64_t so = 0, dof = 0;
    for (int d = 0; d < last; ++d) {
      so += idx[d] * c.src_strides[d];
      dof += idx[d] * c.dst_strides[d];
    }
    const U* s = src + so;
    U* t = dst + dof;
    for (int64_t i = 0; i < inner; ++i) t[i * ds] = s[i * ss];
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < c.shape[d]) break;
      idx[d] = 0;
    }
  }
}

template <typename U>
void fill_as(int64_t n, const void* value, void* out) {
  U v;
  std::memcpy(&v, value, sizeof(U));
  U* o = static_cast<U*>(out);
  for (int64_t i = 0; i < n; ++i) o[i] = v;
}

template <typename S, typename D>
void convert_loop(int64_t n, const void* src, void* dst) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(s[i]);
}

template <typename S>
void convert_from(int64_t n, const void* src, DType dst_dtype, void* dst) {
  switch (dst_dtype) {
    case DType::Float32: return convert_loop<S, float>(n, src, dst);
    case DType::Float64: return convert_loop<S, double>(n, src, dst);
    case DType::Int64: return convert_loop<S, int64_t>(n, src, dst);
    case DType::Int32: return convert_loop<S, int32_t>(n, src, dst);
    case DType::UInt8: return convert_loop<S, uint8_t>(n, src, dst);
  }
  throw Error(detail::cat("convert: unknown destination dtype id ", static_cast<int>(dst_dtype)));
}

}  // namespace

void copy_strided(const StridedCopy& c, const void* src, void* dst) {
  GPUNET_CHECK(c.ndim >= 0 && c.ndim <= kCopyMaxDims, "copy_strided: ", c.ndim, " dimensions (at most ",
               kCopyMaxDims, ")");
  switch (c.elem_size) {
    case 1: return copy_strided_as(c, static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst));
    case 2: return copy_strided_as(c, static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst));
    case 4: return copy_strided_as(c, static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst));
    case 8: return copy_strided_as(c, static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst));
  }
  throw Error(detail::cat("copy_strided: unsupported element size ", c.elem_size));
}

void fill_bytes(int64_t n, int elem_size, const void* value, void* out) {
  if (n <= 0) return;
  switch (elem_size) {
    case 1: return fill_as<uint8_t>(n, value, out);
    case 2: return fill_as<uint16_t>(n, value, out);
    case 4: return fill_as<uint32_t>(n, value, out);
    case 8: return fill_as<uint64_t>(n, value, out);
  }
  throw Error(detail::cat("fill_bytes: unsupported element size ", elem_size));
}

void convert(int64_t n, int src_dtype, const void* src, int dst_dtype, void* dst) {
  if (n <= 0) return;
  const auto sd = static_cast<DType>(src_dtype);
  const auto dd = static_cast<DType>(dst_dtype);
  if (sd == dd) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(sd));
    return;
  }
  switch (sd) {
    case DType::Float32: return convert_from<float>(n, src, dd, dst);
    case DType::Float64: return convert_from<double>(n, src, dd, dst);
    case DType::Int64: return convert_from<int64_t>(n, src, dd, dst);
    case DType::Int32: return convert_from<int32_t>(n, src, dd, dst);
    case DType::UInt8: return convert_from<uint8_t>(n, src, dd, dst);
  }
  throw Error(detail::cat("convert: unknown source dtype id ", src_dtype));
}

}  // namespace gpunet::kernels::cpu
