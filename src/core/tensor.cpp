#include "gpunet/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/device_api.h"
#include "gpunet/autograd.h"
#include "kernels/elementwise.h"

namespace gpunet {
namespace {

std::shared_ptr<TensorImpl> make_impl(std::shared_ptr<Storage> st, int64_t offset, Shape shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(st);
  impl->offset = offset;
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  impl->dtype = dtype;
  return impl;
}

void check_shape(const Shape& shape, const char* what) {
  for (auto d : shape) GPUNET_CHECK(d >= 0, what, ": negative dimension in shape ", shape_str(shape));
}

// Copies raw bytes between any two devices.
void copy_bytes(void* dst, Device dd, const void* src, Device sd, size_t bytes) {
  if (bytes == 0) return;
  if (dd.is_cpu() && sd.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if GPUNET_HAVE_CUDA
  if (dd.is_cuda() && sd.is_cpu()) return cuda::detail::copy_host_to_device(dst, src, bytes, dd.index());
  if (dd.is_cpu() && sd.is_cuda()) return cuda::detail::copy_device_to_host(dst, src, bytes, sd.index());
  if (dd == sd) return cuda::detail::copy_device_to_device(dst, src, bytes, dd.index());
  // Across two GPUs: through the host (rare; not on a hot path).
  std::vector<uint8_t> tmp(bytes);
  cuda::detail::copy_device_to_host(tmp.data(), src, bytes, sd.index());
  cuda::detail::copy_host_to_device(dst, tmp.data(), bytes, dd.index());
#else
  throw Error("copy to or from a GPU in a CPU-only build");
#endif
}

// Strided -> contiguous copy on the host (element size es).
void strided_gather(const uint8_t* base, const Shape& shape, const Shape& strides, size_t es, uint8_t* out) {
  const int64_t n = numel_of(shape);
  const int nd = static_cast<int>(shape.size());
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < nd; ++d) off += idx[d] * strides[d];
    std::memcpy(out + i * es, base + off * es, es);
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

// ---- factories ----------------------------------------------------------------------
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, "Tensor::empty");
  auto st = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype), device);
  return Tensor(make_impl(std::move(st), 0, shape, dtype));
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_blob(v.data(), {n}, DType::Float64, Device::cpu()).to(dtype).to(device);
}
Tensor Tensor::uniform(const Shape& shape, float lo, float hi, Generator& gen, Device device) {
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (auto& x : v) x = gen.uniform(lo, hi);
  return from_blob(v.data(), shape, DType::Float32, device);
}
Tensor Tensor::normal(const Shape& shape, float mean, float std, Generator& gen, Device device) {
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (auto& x : v) x = gen.normal(mean, std);
  return from_blob(v.data(), shape, DType::Float32, device);
}
Tensor Tensor::from_blob(const void* host, const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  copy_bytes(t.raw_data(), device, host, Device::cpu(), t.nbytes());
  return t;
}

// ---- what it is ---------------------------------------------------------------------
int64_t Tensor::size(int d) const {
  const int nd = dim();
  if (d < 0) d += nd;
  GPUNET_CHECK(d >= 0 && d < nd, "Tensor::size: dimension ", d, " out of range for shape ", shape_str(shape()));
  return shape()[d];
}
bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  Shape expect = contiguous_strides(sh);
  for (size_t i = 0; i < sh.size(); ++i)
    if (sh[i] != 1 && strides()[i] != expect[i]) return false;
  return true;
}
void* Tensor::raw_data() const {
  auto& im = impl();
  return static_cast<uint8_t*>(im.storage->data()) + im.offset * static_cast<int64_t>(dtype_size(im.dtype));
}

// ---- views --------------------------------------------------------------------------
Tensor Tensor::reshape(const Shape& new_shape) const {
  Shape s = new_shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      GPUNET_CHECK(infer < 0, "reshape: only one dimension can be -1, got ", shape_str(new_shape));
      infer = static_cast<int>(i);
    } else {
      GPUNET_CHECK(s[i] >= 0, "reshape: invalid shape ", shape_str(new_shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    GPUNET_CHECK(known > 0 && numel() % known == 0, "reshape: shape ", shape_str(new_shape), " is invalid for ",
                 numel(), " elements");
    s[infer] = numel() / known;
  }
  GPUNET_CHECK(numel_of(s) == numel(), "reshape: shape ", shape_str(new_shape), " is invalid for input of size ",
               numel(), " (shape ", shape_str(shape()), ")");
  Tensor src = is_contiguous() ? *this : contiguous();
  Tensor out(make_impl(src.storage(), src.storage_offset(), s, dtype()));
  return out;
}
Tensor Tensor::flatten(int start_dim, int end_dim) const {
  const int nd = dim();
  if (nd == 0) return reshape({1});
  if (start_dim < 0) start_dim += nd;
  if (end_dim < 0) end_dim += nd;
  GPUNET_CHECK(start_dim >= 0 && start_dim < nd && end_dim >= start_dim && end_dim < nd, "flatten: dims (", start_dim,
               ", ", end_dim, ") out of range for shape ", shape_str(shape()));
  Shape s;
  for (int i = 0; i < start_dim; ++i) s.push_back(shape()[i]);
  int64_t m = 1;
  for (int i = start_dim; i <= end_dim; ++i) m *= shape()[i];
  s.push_back(m);
  for (int i = end_dim + 1; i < nd; ++i) s.push_back(shape()[i]);
  return reshape(s);
}
Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  const int nd = dim();
  if (d < 0) d += nd;
  GPUNET_CHECK(d >= 0 && d < nd, "narrow: dimension ", d, " out of range for shape ", shape_str(shape()));
  GPUNET_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d], "narrow: range [", start, ", ",
               start + length, ") out of bounds for dimension ", d, " of size ", shape()[d]);
  auto im = std::make_shared<TensorImpl>();
  im->storage = storage();
  im->dtype = dtype();
  im->shape = shape();
  im->strides = strides();
  im->shape[d] = length;
  im->offset = storage_offset() + start * strides()[d];
  return Tensor(im);
}
Tensor Tensor::detach() const {
  auto im = std::make_shared<TensorImpl>();
  im->storage = storage();
  im->offset = storage_offset();
  im->shape = shape();
  im->strides = strides();
  im->dtype = dtype();
  return Tensor(im);
}

// ---- copies -------------------------------------------------------------------------
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape(), dtype(), device());
  const size_t es = dtype_size(dtype());
  if (device().is_cpu()) {
    const uint8_t* base = static_cast<const uint8_t*>(raw_data());
    strided_gather(base, shape(), strides(), es, static_cast<uint8_t*>(out.raw_data()));
    return out;
  }
  // A strided view on a GPU: gather through the host (views made by gpunet are contiguous
  // except narrow() on an inner dimension, which no hot path uses).
  Tensor whole = Tensor(make_impl(storage(), 0, {static_cast<int64_t>(storage()->bytes() / es)}, dtype())).cpu();
  auto im = std::make_shared<TensorImpl>(*whole.impl_ptr());
  im->shape = shape();
  im->strides = strides();
  im->offset = storage_offset();
  return Tensor(im).contiguous().to(device());
}
Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}
Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), dev);
  copy_bytes(out.raw_data(), dev, src.raw_data(), src.device(), nbytes());
  return out;
}
Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape(), dt, device());
  if (device().is_cpu()) {
    kernels::cpu::convert(numel(), static_cast<int>(dtype()), src.raw_data(), static_cast<int>(dt), out.raw_data());
  } else {
#if GPUNET_HAVE_CUDA
    cuda::detail::set_device(device().index());
    kernels::cuda::convert(numel(), static_cast<int>(dtype()), src.raw_data(), static_cast<int>(dt), out.raw_data());
#endif
  }
  return out;
}
Tensor& Tensor::copy_(const Tensor& src) {
  GPUNET_CHECK(src.numel() == numel(), "copy_: source has ", src.numel(), " elements ", shape_str(src.shape()),
               ", destination ", numel(), " ", shape_str(shape()));
  Tensor s = src.to(dtype()).contiguous();
  if (is_contiguous()) {
    copy_bytes(raw_data(), device(), s.raw_data(), s.device(), nbytes());
  } else {
    GPUNET_CHECK(device().is_cpu(), "copy_ into a non-contiguous GPU tensor is not supported");
    Tensor h = s.cpu();
    const size_t es = dtype_size(dtype());
    const int nd = dim();
    std::vector<int64_t> idx(nd, 0);
    auto* base = static_cast<uint8_t*>(raw_data());
    const auto* from = static_cast<const uint8_t*>(h.raw_data());
    for (int64_t i = 0; i < numel(); ++i) {
      int64_t off = 0;
      for (int d = 0; d < nd; ++d) off += idx[d] * strides()[d];
      std::memcpy(base + off * es, from + i * es, es);
      for (int d = nd - 1; d >= 0; --d) {
        if (++idx[d] < shape()[d]) break;
        idx[d] = 0;
      }
    }
  }
  return *this;
}
Tensor& Tensor::fill_(double value) {
  GPUNET_CHECK(is_contiguous(), "fill_: tensor must be contiguous");
  const int64_t n = numel();
  uint8_t bytes[8];
  switch (dtype()) {
    case DType::Float32: { float v = static_cast<float>(value); std::memcpy(bytes, &v, 4); break; }
    case DType::Float64: { double v = value; std::memcpy(bytes, &v, 8); break; }
    case DType::Int64: { int64_t v = static_cast<int64_t>(value); std::memcpy(bytes, &v, 8); break; }
    case DType::Int32: { int32_t v = static_cast<int32_t>(value); std::memcpy(bytes, &v, 4); break; }
    case DType::UInt8: { uint8_t v = static_cast<uint8_t>(value); bytes[0] = v; break; }
  }
  const size_t es = dtype_size(dtype());
  if (device().is_cpu()) {
    auto* p = static_cast<uint8_t*>(raw_data());
    if (value == 0.0) {
      std::memset(p, 0, n * es);
    } else {
      for (int64_t i = 0; i < n; ++i) std::memcpy(p + i * es, bytes, es);
    }
  } else {
#if GPUNET_HAVE_CUDA
    cuda::detail::set_device(device().index());
    kernels::cuda::fill_bytes(n, static_cast<int>(es), bytes, raw_data());
#endif
  }
  return *this;
}
double Tensor::item() const {
  GPUNET_CHECK(numel() == 1, "item: tensor has ", numel(), " elements ", shape_str(shape()), ", expected 1");
  Tensor h = cpu().to(DType::Float64);
  return *h.data<double>();
}

// ---- autograd -----------------------------------------------------------------------
Tensor& Tensor::requires_grad_(bool on) {
  GPUNET_CHECK(!on || dtype() == DType::Float32 || dtype() == DType::Float64,
               "requires_grad_: only floating-point tensors can require gradients, this one is ", dtype_name(dtype()));
  GPUNET_CHECK(is_leaf() || on, "requires_grad_(false) on a non-leaf tensor; use detach()");
  impl().requires_grad = on;
  return *this;
}
Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    impl().grad.reset();
    return;
  }
  GPUNET_CHECK(g.shape() == shape(), "set_grad: gradient shape ", shape_str(g.shape()), " does not match ",
               shape_str(shape()));
  impl().grad = g.impl_ptr();
}
void Tensor::backward(const Tensor& grad) const { autograd::backward(*this, grad); }

// ---- printing -----------------------------------------------------------------------
std::string Tensor::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  const std::ios::fmtflags flags = os.flags();  // restored below: printing a tensor leaves the stream as it was
  const std::streamsize precision = os.precision();
  Tensor h = t.cpu().contiguous().to(DType::Float64);
  const double* p = h.data<double>();
  const int64_t n = h.numel();
  const bool integral = t.dtype() == DType::Int64 || t.dtype() == DType::Int32 || t.dtype() == DType::UInt8;
  os << "tensor(";
  const int nd = t.dim();
  if (nd == 0) {
    os << p[0];
  } else {
    // Rows of the last dimension; at most 6 rows and 8 values a row, with "..." elided.
    const int64_t cols = t.shape()[nd - 1];
    const int64_t rows = cols ? n / cols : 0;
    os << (nd > 1 ? "[" : "");
    for (int64_t r = 0; r < rows; ++r) {
      if (rows > 6 && r == 3) {
        os << "\n        ...,";
        r = rows - 3;
      }
      if (nd > 1) os << (r ? "\n        " : "");
      os << "[";
      for (int64_t c = 0; c < cols; ++c) {
        if (cols > 8 && c == 4) {
          os << "..., ";
          c = cols - 3;
        }
        const double v = p[r * cols + c];
        if (integral) os << static_cast<long long>(v);
        else os << std::setprecision(4) << std::fixed << v;
        if (c + 1 < cols) os << ", ";
      }
      os << "]" << (r + 1 < rows ? "," : "");
    }
    os << (nd > 1 ? "]" : "");
  }
  os << ", shape=" << shape_str(t.shape()) << ", dtype=" << dtype_name(t.dtype()) << ", device=" << t.device().str();
  if (t.requires_grad()) os << ", requires_grad=true";
  os << ")";
  os.flags(flags);
  os.precision(precision);
  return os;
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    throw Error(detail::cat(op, ": expected all tensors to be on the same device, but found at least two devices, ",
                            a.device().str(), " and ", b.device().str()));
}

}  // namespace gpunet
