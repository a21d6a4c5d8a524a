// Front ends of the storage kernels (kernels/copy.h): strided copy, fill and dtype conversion,
// used by the Tensor's contiguous/clone/copy_/fill_/to(dtype); and the engine's accumulate_.
#include "ops/copy.h"

#include <cstring>

#include "kernels/copy.h"
#include "kernels/elementwise.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops::detail {
namespace {

// The walk of copy_strided with size-1 dimensions dropped and neighbours merged where both
// tensors step through them as one (stride[d] == stride[d+1] * shape[d+1] on both sides).
kernels::StridedCopy plan_copy(const char* op, const Tensor& dst, const Tensor& src) {
  kernels::StridedCopy c;
  c.elem_size = static_cast<int>(dtype_size(dst.dtype()));
  Shape sh, ss, ds;
  for (int d = 0; d < dst.dim(); ++d) {
    if (dst.shape()[d] == 1) continue;
    if (!sh.empty() && ss.back() == src.strides()[d] * dst.shape()[d] &&
        ds.back() == dst.strides()[d] * dst.shape()[d]) {
      sh.back() *= dst.shape()[d];
      ss.back() = src.strides()[d];
      ds.back() = dst.strides()[d];
      continue;
    }
    sh.push_back(dst.shape()[d]);
    ss.push_back(src.strides()[d]);
    ds.push_back(dst.strides()[d]);
  }
  GPUNET_CHECK(sh.size() <= static_cast<size_t>(kernels::kCopyMaxDims), op, ": a strided copy of shape ",
               shape_str(dst.shape()), " (source strides ", shape_str(src.strides()), ", destination strides ",
               shape_str(dst.strides()), ") needs ", sh.size(), " dimensions; at most ", kernels::kCopyMaxDims,
               " are supported");
  c.ndim = static_cast<int>(sh.size());
  for (int d = 0; d < c.ndim; ++d) {
    c.shape[d] = sh[d];
    c.src_strides[d] = ss[d];
    c.dst_strides[d] = ds[d];
  }
  return c;
}

struct CopyNode : autograd::Node {
  const char* op_name = "copy";
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g}; }
};

}  // namespace

void copy_strided(const char* op, const Tensor& dst, const Tensor& src) {
  check_defined(op, "destination", dst);
  check_defined(op, "source", src);
  check_same_device(op, dst, src);
  GPUNET_CHECK(dst.dtype() == src.dtype(), op, ": copy from ", dtype_name(src.dtype()), " to ",
               dtype_name(dst.dtype()), " (convert first)");
  GPUNET_CHECK(dst.shape() == src.shape(), op, ": copy from shape ", shape_str(src.shape()), " to shape ",
               shape_str(dst.shape()));
  if (dst.numel() == 0) return;
  const kernels::StridedCopy c = plan_copy(op, dst, src);
  GPUNET_DISPATCH(op, dst.device(), copy_strided, c, src.raw_data(), dst.raw_data());
}

void fill(const char* op, const Tensor& t, double value) {
  check_defined(op, "tensor", t);
  if (t.numel() == 0) return;
  if (!t.is_contiguous()) {  // fill a contiguous tensor, then scatter it
    Tensor tmp = Tensor::empty(t.shape(), t.dtype(), t.device());
    fill(op, tmp, value);
    copy_strided(op, t, tmp);
    return;
  }
  uint8_t bytes[8] = {};
  switch (t.dtype()) {
    case DType::Float32: { const float v = static_cast<float>(value); std::memcpy(bytes, &v, 4); break; }
    case DType::Float64: { const double v = value; std::memcpy(bytes, &v, 8); break; }
    case DType::Int64: { const int64_t v = static_cast<int64_t>(value); std::memcpy(bytes, &v, 8); break; }
    case DType::Int32: { const int32_t v = static_cast<int32_t>(value); std::memcpy(bytes, &v, 4); break; }
    case DType::UInt8: { bytes[0] = static_cast<uint8_t>(value); break; }
  }
  const int es = static_cast<int>(dtype_size(t.dtype()));
  GPUNET_DISPATCH(op, t.device(), fill_bytes, t.numel(), es, bytes, t.raw_data());
}

Tensor convert(const char* op, const Tensor& x, DType dt) {
  check_defined(op, "input", x);
  const Tensor src = x.is_contiguous() ? x : Tensor::empty(x.shape(), x.dtype(), x.device());
  if (!x.is_contiguous()) copy_strided(op, src, x);
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  GPUNET_DISPATCH(op, x.device(), convert, x.numel(), static_cast<int>(x.dtype()), src.raw_data(),
                  static_cast<int>(dt), out.raw_data());
  return out;
}

Tensor record_copy(const char* op, const Tensor& x, Tensor out) {
  if (autograd::needs_grad({&x})) {
    auto node = std::make_shared<CopyNode>();
    node->op_name = op;
    autograd::record(out, node, {&x});
  }
  return out;
}

void accumulate_(const Tensor& dst, const Tensor& src_in) {
  const char* op = "backward (gradient accumulation)";
  check_defined(op, "gradient", dst);
  check_defined(op, "new gradient", src_in);
  check_same_device(op, dst, src_in);
  GPUNET_CHECK(dst.numel() == src_in.numel(), op, ": gradient of shape ", shape_str(src_in.shape()),
               " for a tensor of shape ", shape_str(dst.shape()));
  GPUNET_CHECK(dst.dtype() == src_in.dtype(), op, ": gradient of dtype ", dtype_name(src_in.dtype()),
               " for a ", dtype_name(dst.dtype()), " gradient");
  GPUNET_CHECK(dst.is_contiguous(), op, ": the accumulated gradient ", shape_str(dst.shape()),
               " is not contiguous (strides ", shape_str(dst.strides()), ")");
  const Tensor src = src_in.contiguous();
  if (dst.dtype() == DType::Float64) {
    // float64 gradients (reachable through the dtype-neutral view ops) have a CPU twin only:
    // kernels::cuda::axpy is float32, so the dispatch cannot name axpy<double>.
    GPUNET_CHECK(dst.device().is_cpu(), op, ": float64 gradients on ", dst.device().str(),
                 " are not supported (float32 only on a GPU)");
    kernels::cpu::axpy<double>(dst.numel(), 1.0, src.data<double>(), dst.data<double>());
    return;
  }
  check_float32(op, "gradient", dst);
  GPUNET_DISPATCH(op, dst.device(), axpy, dst.numel(), 1.0f, src.data<float>(), dst.data<float>());
}

}  // namespace gpunet::ops::detail
