// Differentiable views: view, reshape, flatten, narrow (and the Tensor methods of the same names,
// which call these). A view shares the input's storage; reshape copies only when the strides
// allow no view (then it gathers into a contiguous tensor first, as torch.reshape). The backward
// of view/reshape/flatten reshapes the gradient back to the input's shape; narrow's scatters it
// into zeros of the input's shape.
#include <optional>

#include "ops/common.h"
#include "ops/copy.h"

namespace gpunet::ops {
namespace {

// A tensor on x's storage with the given geometry; no autograd history.
Tensor make_view(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  auto im = std::make_shared<TensorImpl>();
  im->storage = x.storage();
  im->offset = offset;
  im->shape = std::move(shape);
  im->strides = std::move(strides);
  im->dtype = x.dtype();
  return Tensor(im);
}

// new_shape with its one -1 (if any) resolved for `numel` elements.
Shape infer_shape(const char* op, const Tensor& x, const Shape& new_shape) {
  Shape s = new_shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      GPUNET_CHECK(infer < 0, op, ": only one dimension can be -1, got ", shape_str(new_shape));
      infer = static_cast<int>(i);
    } else {
      GPUNET_CHECK(s[i] >= 0, op, ": invalid shape ", shape_str(new_shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    GPUNET_CHECK(known > 0 && x.numel() % known == 0, op, ": shape ", shape_str(new_shape), " is invalid for input of size ",
                 x.numel(), " (shape ", shape_str(x.shape()), ")");
    s[infer] = x.numel() / known;
  }
  GPUNET_CHECK(numel_of(s) == x.numel(), op, ": shape ", shape_str(new_shape), " is invalid for input of size ",
               x.numel(), " (shape ", shape_str(x.shape()), ")");
  return s;
}

// Strides that give `shape` over the same elements as (old_shape, old_strides) in row-major
// order, or nothing when no strides can (the elements are not evenly spaced within some
// group of new dimensions). Works group by group: the old dimensions split into runs that
// are contiguous with each other; each run must be covered exactly by a run of new dimensions.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  if (numel_of(old_shape) == 0) return contiguous_strides(shape);
  Shape out(shape.size(), 1);
  int nd = static_cast<int>(shape.size()) - 1;  // next new dimension to place, from the back
  int64_t run_numel = 1, placed = 1;
  int64_t base = old_shape.empty() ? 1 : old_strides.back();  // the stride of the run's innermost element
  for (int od = static_cast<int>(old_shape.size()) - 1; od >= 0; --od) {
    run_numel *= old_shape[od];
    const bool run_ends = od == 0 || (old_shape[od - 1] != 1 && old_strides[od - 1] != run_numel * base);
    if (!run_ends) continue;
    while (nd >= 0 && (placed < run_numel || shape[nd] == 1)) {
      out[nd] = placed * base;
      placed *= shape[nd];
      --nd;
    }
    if (placed != run_numel) return std::nullopt;
    if (od > 0) {
      base = old_strides[od - 1];
      run_numel = placed = 1;
    }
  }
  for (; nd >= 0; --nd) {  // trailing size-1 dimensions of the new shape
    if (shape[nd] != 1) return std::nullopt;
    out[nd] = 1;
  }
  return out;
}

struct ReshapeNode : autograd::Node {
  const char* op_name = "reshape";
  Shape in_shape;
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g.reshape(in_shape)}; }
};

struct NarrowNode : autograd::Node {
  Shape in_shape;
  int d = 0;
  int64_t start = 0;
  const char* name() const override { return "narrow"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor dx = Tensor::zeros(in_shape, g.dtype(), g.device());
    Shape sub = in_shape;
    sub[d] = g.shape()[d];
    const Tensor part =
        make_view(dx, sub, dx.strides(), dx.storage_offset() + start * dx.strides()[d]);
    detail::copy_strided("narrow (backward)", part, g);
    return {dx};
  }
};

Tensor record_reshape(const char* name, const Tensor& x, Tensor out) {
  if (autograd::needs_grad({&x})) {
    auto node = std::make_shared<ReshapeNode>();
    node->op_name = name;
    node->in_shape = x.shape();
    autograd::record(out, node, {&x});
  }
  return out;
}

// reshape without autograd: a view when the strides allow, else a contiguous copy viewed.
Tensor reshape_raw(const char* op, const Tensor& x, const Shape& new_shape) {
  const Shape s = infer_shape(op, x, new_shape);
  if (auto st = view_strides(x.shape(), x.strides(), s)) return make_view(x, s, *st, x.storage_offset());
  const Tensor c = Tensor::empty(x.shape(), x.dtype(), x.device());
  detail::copy_strided(op, c, x);
  return make_view(c, s, contiguous_strides(s), c.storage_offset());
}

}  // namespace

Tensor view(const Tensor& x, const Shape& new_shape) {
  detail::check_defined("view", "input", x);
  const Shape s = infer_shape("view", x, new_shape);
  const auto st = view_strides(x.shape(), x.strides(), s);
  GPUNET_CHECK(st.has_value(), "view: a tensor of shape ", shape_str(x.shape()), " and strides ",
               shape_str(x.strides()), " cannot be viewed as ", shape_str(new_shape),
               " (its elements are not evenly spaced across the merged dimensions); use .reshape(",
               shape_str(new_shape), "), which copies when it must");
  return record_reshape("view", x, make_view(x, s, *st, x.storage_offset()));
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::check_defined("reshape", "input", x);
  return record_reshape("reshape", x, reshape_raw("reshape", x, shape));
}

Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
  detail::check_defined("flatten", "input", x);
  const int nd = x.dim();
  if (nd == 0) return record_reshape("flatten", x, reshape_raw("flatten", x, {1}));
  const int s0 = start_dim < 0 ? start_dim + nd : start_dim;
  const int e0 = end_dim < 0 ? end_dim + nd : end_dim;
  GPUNET_CHECK(s0 >= 0 && s0 < nd && e0 >= s0 && e0 < nd, "flatten: start_dim ", start_dim, " and end_dim ", end_dim,
               " are out of range or out of order for shape ", shape_str(x.shape()));
  Shape s;
  for (int i = 0; i < s0; ++i) s.push_back(x.shape()[i]);
  int64_t m = 1;
  for (int i = s0; i <= e0; ++i) m *= x.shape()[i];
  s.push_back(m);
  for (int i = e0 + 1; i < nd; ++i) s.push_back(x.shape()[i]);
  return record_reshape("flatten", x, reshape_raw("flatten", x, s));
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  detail::check_defined("narrow", "input", x);
  const int nd = x.dim();
  const int d = dim < 0 ? dim + nd : dim;
  GPUNET_CHECK(d >= 0 && d < nd, "narrow: dimension ", dim, " out of range for shape ", shape_str(x.shape()));
  GPUNET_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[d], "narrow: range [", start, ", ",
               start + length, ") out of bounds for dimension ", d, " of size ", x.shape()[d], " (shape ",
               shape_str(x.shape()), ")");
  Shape s = x.shape();
  s[d] = length;
  Tensor out = make_view(x, s, x.strides(), x.storage_offset() + start * x.strides()[d]);
  if (autograd::needs_grad({&x})) {
    auto node = std::make_shared<NarrowNode>();
    node->in_shape = x.shape();
    node->d = d;
    node->start = start;
    autograd::record(out, node, {&x});
  }
  return out;
}

}  // namespace gpunet::ops
