// Differentiable views: flatten and reshape. The output shares the input's storage; the
// backward reshapes the gradient back to the input's shape.
#include "ops/common.h"

namespace gpunet::ops {
namespace {

struct ReshapeNode : autograd::Node {
  const char* op_name;
  Shape in_shape;
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g.reshape(in_shape)}; }
};

Tensor record_view(const char* name, const Tensor& x, Tensor out) {
  if (autograd::needs_grad({&x})) {
    auto node = std::make_shared<ReshapeNode>();
    node->op_name = name;
    node->in_shape = x.shape();
    autograd::record(out, node, {&x});
  }
  return out;
}

}  // namespace

Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
  detail::check_defined("flatten", "input", x);
  // detach(): the view gets its own impl, so recording on it never touches x's history.
  return record_view("flatten", x, x.detach().flatten(start_dim, end_dim));
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::check_defined("reshape", "input", x);
  return record_view("reshape", x, x.detach().reshape(shape));
}

}  // namespace gpunet::ops
