#pragma once
/// Tensors: an n-dimensional array of float32, int64 or uint8 on one device, with shape and
/// strides, sharing storage between views, and an autograd record.
///   auto x = gpunet::Tensor::ones({4, 3, 32, 32}, gpunet::DType::Float32, gpunet::Device::best());
///   auto y = x.reshape({4, -1});                 // a view: same storage (differentiable)
///   float v = y.sum().item();
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/device.h"
#include "gpunet/dtype.h"
#include "gpunet/error.h"
#include "gpunet/random.h"
#include "gpunet/shape.h"

namespace gpunet {

namespace autograd {
struct Node;
}

/// A block of device memory from gpunet's allocators (64-byte aligned on the CPU, the
/// caching allocator on a GPU). Freed (returned to the cache) when the last owner goes.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;             // a leaf's accumulated gradient
  std::shared_ptr<autograd::Node> grad_fn;      // the op that made this tensor (non-leaf)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------------------
  /// Uninitialised memory. Requires: every dimension >= 0.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
  /// 0, 1, ..., n-1.
  static Tensor arange(int64_t n, DType dtype = DType::Int64, Device device = Device::cpu());
  /// Uniform in [lo, hi) from `gen` (the numbers are drawn on the host, so they do not depend on the device).
  static Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen, Device device = Device::cpu());
  static Tensor normal(const Shape& shape, float mean, float std, Generator& gen, Device device = Device::cpu());
  /// Copies `numel(shape)` elements from host memory.
  static Tensor from_blob(const void* host, const Shape& shape, DType dtype, Device device = Device::cpu());
  template <typename T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device device = Device::cpu()) {
    GPUNET_CHECK(static_cast<int64_t>(v.size()) == numel_of(shape), "from_vector: ", v.size(),
                 " values do not fill shape ", shape_str(shape));
    return from_blob(v.data(), shape, dtype_of<T>::value, device);
  }

  // ---- what it is ------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int dim() const { return static_cast<int>(impl().shape.size()); }
  /// Size of dimension `d` (negative counts from the end).
  int64_t size(int d) const;
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  bool is_contiguous() const;
  int64_t storage_offset() const { return impl().offset; }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }

  /// Pointer to the first element, on the tensor's device. Requires: dtype matches T.
  template <typename T>
  T* data() const {
    GPUNET_CHECK(dtype_of<T>::value == dtype(), "Tensor::data: tensor is ", dtype_name(dtype()), ", asked for ",
                 dtype_name(dtype_of<T>::value));
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // ---- views (share storage; differentiable, as PyTorch's: see ops::view etc.) ------
  /// x's elements in `shape` (one dimension may be -1), sharing x's storage: never copies.
  /// Throws ("view: a tensor of shape [..] and strides [..] cannot be viewed as [..] ...; use
  /// .reshape(..)") when the strides allow no view, e.g. after narrow() on an inner dimension.
  ///   x.view({N, -1})
  Tensor view(const Shape& shape) const;
  /// Same elements in a new shape (one dimension may be -1): a view when the strides allow
  /// one, otherwise a contiguous copy (torch.reshape). Differentiable either way.
  Tensor reshape(const Shape& shape) const;
  /// Merges dimensions start_dim..end_dim (torch.flatten; defaults: all of them, so a 4-D
  /// activation needs flatten(1) to keep its batch). A view when possible; differentiable.
  Tensor flatten(int start_dim = 0, int end_dim = -1) const;
  /// Elements [start, start+length) of dimension `d` (a view; differentiable).
  Tensor narrow(int d, int64_t start, int64_t length) const;
  /// Rows [start, end) of dimension 0 (a view; differentiable): x[start:end].
  Tensor slice(int64_t start, int64_t end) const { return narrow(0, start, end - start); }
  /// Same storage, no autograd history.
  Tensor detach() const;

  // ---- copies ---------------------------------------------------------------------
  /// This tensor when contiguous, else a contiguous copy gathered on its own device
  /// (differentiable: the gradient passes through).
  Tensor contiguous() const;
  /// A contiguous copy on the same device (differentiable: the gradient passes through).
  Tensor clone() const;
  /// A copy on `device`; the same tensor when already there (free). Not differentiable.
  /// Host<->device copies throw inside an open CUDA graph capture (naming the call).
  Tensor to(Device device) const;
  /// A copy converted to `dtype`; the same tensor when already so. Not differentiable.
  Tensor to(DType dtype) const;
  /// to(Device::cpu()); synchronises with the tensor's GPU (throws inside a CUDA graph capture).
  Tensor cpu() const;
  /// A contiguous host copy converted to `dtype`; `call` names the caller in the error thrown
  /// when a CUDA graph capture is open on the tensor's device (used by item, to_vector, printing).
  Tensor host_copy(DType dtype, const char* call) const;
  /// Copies src's elements (row-major order) into this tensor, whatever either's strides
  /// (same numel; any devices and dtypes). Not differentiable. Host<->device copies throw
  /// inside an open CUDA graph capture; copies on one GPU are allowed there.
  Tensor& copy_(const Tensor& src);
  /// Sets every element (any strides) to `value` converted to the dtype. Not differentiable.
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  /// The value of a one-element tensor, as double (synchronises with its device; throws
  /// "Tensor::item: would synchronise cuda:N while a CUDA graph capture is open ..." in a capture).
  double item() const;
  /// The elements in row-major order on the host (synchronises; throws inside a CUDA graph capture).
  template <typename T>
  std::vector<T> to_vector() const {
    Tensor c = host_copy(dtype_of<T>::value, "Tensor::to_vector");
    const T* p = c.data<T>();
    return std::vector<T>(p, p + c.numel());
  }

  // ---- autograd -------------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  /// The accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  /// Back-propagates from this tensor. Without `grad` it must hold one element (seeded 1).
  void backward(const Tensor& grad = Tensor()) const;

  // ---- arithmetic sugar (see ops.h) -------------------------------------------------
  Tensor sum() const;
  Tensor mean() const;
  Tensor argmax(int d) const;

  std::string str() const;
  TensorImpl& impl() const {
    GPUNET_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  Tensor to_device(Device device, const char* call) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// Throws Error naming both devices when a and b are on different devices ("op: expected all
/// tensors on the same device, got cpu and cuda:0").
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

namespace memory {
struct Stats {
  size_t in_use = 0;    // bytes handed out to tensors now
  size_t peak = 0;      // most bytes in use at once since the last reset
  size_t reserved = 0;  // bytes held from the system (in use + cached)
  size_t system_allocs = 0;  // calls to the system allocator (malloc / cudaMalloc) so far
};
Stats stats(Device device);
void reset_peak(Device device);
/// Returns every cached, unused block to the system.
void empty_cache(Device device);
}  // namespace memory

}  // namespace gpunet
