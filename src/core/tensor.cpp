#include "gpunet/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/device_api.h"
#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "ops/copy.h"

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

// Throws when a CUDA graph capture is open on dev's stream (nothing to check on the CPU).
void check_not_capturing(const char* call, const char* action, Device dev) {
#if GPUNET_HAVE_CUDA
  if (dev.is_cuda()) cuda::detail::check_not_capturing(call, action, dev.index());
#else
  (void)call, (void)action, (void)dev;
#endif
}

// Copies raw bytes between any two devices; `call` names the caller in the capture guard's error.
void copy_bytes(void* dst, Device dd, const void* src, Device sd, size_t bytes, const char* call) {
  if (bytes == 0) return;
  if (dd.is_cpu() && sd.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if GPUNET_HAVE_CUDA
  if (dd.is_cuda() && sd.is_cpu()) return cuda::detail::copy_host_to_device(dst, src, bytes, dd.index(), call);
  if (dd.is_cpu() && sd.is_cuda()) return cuda::detail::copy_device_to_host(dst, src, bytes, sd.index(), call);
  if (dd == sd) return cuda::detail::copy_device_to_device(dst, src, bytes, dd.index());
  // Across two GPUs: through the host (rare; not on a hot path).
  std::vector<uint8_t> tmp(bytes);
  cuda::detail::copy_device_to_host(tmp.data(), src, bytes, sd.index(), call);
  cuda::detail::copy_host_to_device(dst, tmp.data(), bytes, dd.index(), call);
#else
  (void)call;
  throw Error(detail::cat(call, ": copy between ", sd.str(), " and ", dd.str(), " in a CPU-only build"));
#endif
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
  copy_bytes(t.raw_data(), device, host, Device::cpu(), t.nbytes(), "Tensor::from_blob");
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

// ---- views (differentiable: src/ops/shape.cpp) --------------------------------------
Tensor Tensor::view(const Shape& shape) const { return ops::view(*this, shape); }
Tensor Tensor::reshape(const Shape& shape) const { return ops::reshape(*this, shape); }
Tensor Tensor::flatten(int start_dim, int end_dim) const { return ops::flatten(*this, start_dim, end_dim); }
Tensor Tensor::narrow(int d, int64_t start, int64_t length) const { return ops::narrow(*this, d, start, length); }
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
  ops::detail::copy_strided("contiguous", out, *this);  // on the tensor's device
  return ops::detail::record_copy("contiguous", *this, out);
}
Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  ops::detail::copy_strided("clone", out, *this);
  return ops::detail::record_copy("clone", *this, out);
}
Tensor Tensor::to(Device dev) const { return to_device(dev, "Tensor::to"); }
Tensor Tensor::cpu() const { return to_device(Device::cpu(), "Tensor::cpu"); }
Tensor Tensor::to_device(Device dev, const char* call) const {
  if (dev == device()) return *this;
  const Tensor src = detach().contiguous();
  Tensor out = empty(shape(), dtype(), dev);
  copy_bytes(out.raw_data(), dev, src.raw_data(), src.device(), nbytes(), call);
  return out;
}
Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  return ops::detail::convert("Tensor::to", *this, dt);
}
Tensor Tensor::host_copy(DType dt, const char* call) const {
  // Checked before anything is queued, so a refused call leaves nothing in an open capture.
  check_not_capturing(call, "synchronise", device());
  Tensor h = detach().to_device(Device::cpu(), call);
  return h.to(dt).contiguous();
}
Tensor& Tensor::copy_(const Tensor& src) {
  const char* op = "Tensor::copy_";
  GPUNET_CHECK(src.defined(), op, ": source is undefined");
  GPUNET_CHECK(src.numel() == numel(), op, ": source has ", src.numel(), " elements ", shape_str(src.shape()),
               ", destination ", numel(), " ", shape_str(shape()));
  if (numel() == 0) return *this;
  if (src.device() != device()) check_not_capturing(op, src.device().is_cpu() ? "copy host memory to" : "synchronise",
                                                     src.device().is_cpu() ? device() : src.device());
  // Converted on the source's device; then one copy: a strided one on this device when the
  // shapes agree, else a byte copy from a contiguous source (across devices too) into a
  // contiguous destination, else a strided one from the source brought here in our shape.
  Tensor s = src.detach().to(dtype());
  if (s.device() == device() && s.shape() == shape() && !(is_contiguous() && s.is_contiguous())) {
    ops::detail::copy_strided(op, *this, s);
  } else if (is_contiguous()) {
    s = s.contiguous();  // gathered on the source's device
    copy_bytes(raw_data(), device(), s.raw_data(), s.device(), nbytes(), op);
  } else {
    if (s.device() != device()) s = s.to_device(device(), op);
    ops::detail::copy_strided(op, *this, s.reshape(shape()));
  }
  return *this;
}
Tensor& Tensor::fill_(double value) {
  ops::detail::fill("Tensor::fill_", *this, value);
  return *this;
}
double Tensor::item() const {
  GPUNET_CHECK(numel() == 1, "item: tensor has ", numel(), " elements ", shape_str(shape()), ", expected 1");
  return *host_copy(DType::Float64, "Tensor::item").data<double>();
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
  Tensor h = t.host_copy(DType::Float64, "Tensor printing");
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
