// Front end of the broadcasting binary ops: shape rules, dispatch, backward node; and ops::div.
#include "ops/broadcast.h"

#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace detail {
namespace {

using kernels::BroadcastOp;

const char* op_name(BroadcastOp op) {
  switch (op) {
    case BroadcastOp::Add: return "add";
    case BroadcastOp::Sub: return "sub";
    case BroadcastOp::Mul: return "mul";
    case BroadcastOp::Div: return "div";
  }
  return "?";
}

// a op b, no autograd.
Tensor broadcast_raw(BroadcastOp op, const Tensor& a_in, const Tensor& b_in) {
  const char* name = op_name(op);
  check_float32(name, "a", a_in);
  check_float32(name, "b", b_in);
  check_same_device(name, a_in, b_in);
  const int nd = std::max(a_in.dim(), b_in.dim());
  GPUNET_CHECK(nd <= kernels::kMaxBroadcastDims, name, ": at most ", kernels::kMaxBroadcastDims,
               " dimensions are supported for broadcasting, got ", shape_str(a_in.shape()), " and ",
               shape_str(b_in.shape()));
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  kernels::BroadcastShape s{};
  s.ndim = nd;
  Shape out_shape(nd);
  int64_t sa = 1, sb = 1;
  for (int d = nd - 1; d >= 0; --d) {
    const int da = d - (nd - a.dim()), db = d - (nd - b.dim());
    const int64_t na = da >= 0 ? a.shape()[da] : 1, nb = db >= 0 ? b.shape()[db] : 1;
    GPUNET_CHECK(na == nb || na == 1 || nb == 1, name, ": shapes ", shape_str(a.shape()), " and ",
                 shape_str(b.shape()), " cannot be broadcast (dimension ", d, ": ", na, " vs ", nb, ")");
    const int64_t n = na == 1 ? nb : na;
    out_shape[d] = n;
    s.out[d] = n;
    s.a_stride[d] = na == 1 ? 0 : sa;
    s.b_stride[d] = nb == 1 ? 0 : sb;
    sa *= na;
    sb *= nb;
  }
  Tensor out = Tensor::empty(out_shape, DType::Float32, a.device());
  GPUNET_DISPATCH(name, a.device(), broadcast_binary, op, s, a.data<float>(), b.data<float>(), out.data<float>());
  return out;
}

struct BroadcastNode : autograd::Node {
  BroadcastOp op = BroadcastOp::Add;
  Shape a_shape, b_shape;
  Tensor a, b, out;  // saved (detached) where the gradient needs them
  const char* name() const override { return op_name(op); }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor da, db;
    switch (op) {
      case BroadcastOp::Add:
        if (inputs[0]) da = sum_to(g, a_shape);
        if (inputs[1]) db = sum_to(g, b_shape);
        break;
      case BroadcastOp::Sub:
        if (inputs[0]) da = sum_to(g, a_shape);
        if (inputs[1]) db = ops::neg(sum_to(g, b_shape));
        break;
      case BroadcastOp::Mul:
        if (inputs[0]) da = sum_to(broadcast_raw(BroadcastOp::Mul, g, b), a_shape);
        if (inputs[1]) db = sum_to(broadcast_raw(BroadcastOp::Mul, g, a), b_shape);
        break;
      case BroadcastOp::Div:  // d(a/b)/db = -a/b^2 = -out/b
        if (inputs[0]) da = sum_to(broadcast_raw(BroadcastOp::Div, g, b), a_shape);
        if (inputs[1])
          db = ops::neg(sum_to(broadcast_raw(BroadcastOp::Div, broadcast_raw(BroadcastOp::Mul, g, out), b), b_shape));
        break;
    }
    return {da, db};
  }
  void release() override { a = b = out = Tensor(); }
};

}  // namespace

bool needs_broadcast(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return false;
  return a.shape() != b.shape() && b.numel() != 1;
}

Tensor sum_to(const Tensor& g_in, const Shape& shape) {
  if (g_in.shape() == shape) return g_in;
  const char* op = "sum_to";
  const Tensor g = g_in.contiguous();
  const int nd = g.dim();
  GPUNET_CHECK(static_cast<int>(shape.size()) <= nd && nd <= kernels::kMaxBroadcastDims, op, ": cannot reduce ",
               shape_str(g.shape()), " to ", shape_str(shape));
  kernels::SumToShape s{};
  s.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    const int k = d - (nd - static_cast<int>(shape.size()));
    s.in[d] = g.shape()[d];
    s.out[d] = k >= 0 ? shape[k] : 1;
    GPUNET_CHECK(s.out[d] == s.in[d] || s.out[d] == 1, op, ": cannot reduce ", shape_str(g.shape()), " to ",
                 shape_str(shape));
  }
  Tensor out = Tensor::empty(shape, DType::Float32, g.device());
  GPUNET_DISPATCH(op, g.device(), sum_to, s, g.data<float>(), out.data<float>());
  return out;
}

Tensor broadcast_binary(BroadcastOp op, const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_raw(op, a, b);
  if (autograd::needs_grad({&a, &b})) {
    auto node = std::make_shared<BroadcastNode>();
    node->op = op;
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    if (op == BroadcastOp::Mul) {
      node->a = a.detach();
      node->b = b.detach();
    }
    if (op == BroadcastOp::Div) {
      node->b = b.detach();
      node->out = out.detach();
    }
    autograd::record(out, node, {&a, &b});
  }
  return out;
}

}  // namespace detail

Tensor div(const Tensor& a, const Tensor& b) { return detail::broadcast_binary(kernels::BroadcastOp::Div, a, b); }

}  // namespace gpunet::ops
