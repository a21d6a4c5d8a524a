// Front ends of the elementwise ops: add, sub, mul (tensor or scalar), neg, relu.
#include "kernels/elementwise.h"
#include "ops/broadcast.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace {

using kernels::BinaryOp;

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
  }
  return "?";
}

// out = a op b, with b the same shape as a or one element. No autograd.
Tensor binary_raw(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  const char* name = binary_name(op);
  detail::check_float32(name, "a", a_in);
  detail::check_float32(name, "b", b_in);
  check_same_device(name, a_in, b_in);
  const bool b_scalar = b_in.numel() == 1 && a_in.shape() != b_in.shape();
  GPUNET_CHECK(b_scalar || a_in.shape() == b_in.shape(), name, ": shapes ", shape_str(a_in.shape()), " and ",
               shape_str(b_in.shape()), " differ (b must have a's shape or one element)");
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  Tensor out = Tensor::empty(a.shape(), DType::Float32, a.device());
  GPUNET_DISPATCH(name, a.device(), binary, op, a.numel(), a.data<float>(), b.data<float>(), b_scalar,
                  out.data<float>());
  return out;
}

// out = alpha * a + beta. No autograd.
Tensor affine_raw(const char* name, const Tensor& a_in, float alpha, float beta) {
  detail::check_float32(name, "input", a_in);
  const Tensor a = a_in.contiguous();
  Tensor out = Tensor::empty(a.shape(), DType::Float32, a.device());
  GPUNET_DISPATCH(name, a.device(), affine, a.numel(), a.data<float>(), alpha, beta, out.data<float>());
  return out;
}

// Gradient for b: the same shape as b; summed when b was broadcast as a scalar.
Tensor reduce_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  return ops::sum(g).reshape(shape);
}

struct AddSubNode : autograd::Node {
  BinaryOp op;
  Shape b_shape;
  const char* name() const override { return binary_name(op); }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor db;
    if (inputs[1]) db = reduce_to(op == BinaryOp::Sub ? ops::neg(g) : g, b_shape);
    return {inputs[0] ? g : Tensor(), db};
  }
};

struct MulNode : autograd::Node {
  Tensor a, b;  // saved inputs
  const char* name() const override { return "mul"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor da, db;
    if (inputs[0]) da = binary_raw(BinaryOp::Mul, g, b);
    if (inputs[1]) db = reduce_to(binary_raw(BinaryOp::Mul, g, a), b.shape());
    return {da, db};
  }
  void release() override { a = b = Tensor(); }
};

// d(alpha*a + beta)/da = alpha
struct AffineNode : autograd::Node {
  const char* op_name;
  float alpha;
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(const Tensor& g) override {
    return {alpha == 1.0f ? g : affine_raw(op_name, g, alpha, 0.0f)};
  }
};

struct ReluNode : autograd::Node {
  Tensor out;  // relu's output (detached: shares storage, not the output's impl)
  const char* name() const override { return "relu"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(out.shape(), DType::Float32, out.device());
    GPUNET_DISPATCH("relu", out.device(), relu_backward, out.numel(), out.data<float>(), g.data<float>(),
                    dx.data<float>());
    return {dx};
  }
  void release() override { out = Tensor(); }
};

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(op, a, b);
  if (autograd::needs_grad({&a, &b})) {
    if (op == BinaryOp::Mul) {
      auto node = std::make_shared<MulNode>();
      node->a = a.detach();
      node->b = b.detach();
      autograd::record(out, node, {&a, &b});
    } else {
      auto node = std::make_shared<AddSubNode>();
      node->op = op;
      node->b_shape = b.shape();
      autograd::record(out, node, {&a, &b});
    }
  }
  return out;
}

Tensor affine(const char* name, const Tensor& a, double alpha, double beta) {
  Tensor out = affine_raw(name, a, static_cast<float>(alpha), static_cast<float>(beta));
  if (autograd::needs_grad({&a})) {
    auto node = std::make_shared<AffineNode>();
    node->op_name = name;
    node->alpha = static_cast<float>(alpha);
    autograd::record(out, node, {&a});
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  if (detail::needs_broadcast(a, b)) return detail::broadcast_binary(kernels::BroadcastOp::Add, a, b);
  return binary(BinaryOp::Add, a, b);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  if (detail::needs_broadcast(a, b)) return detail::broadcast_binary(kernels::BroadcastOp::Sub, a, b);
  return binary(BinaryOp::Sub, a, b);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  if (detail::needs_broadcast(a, b)) return detail::broadcast_binary(kernels::BroadcastOp::Mul, a, b);
  return binary(BinaryOp::Mul, a, b);
}
Tensor mul(const Tensor& a, double s) { return affine("mul", a, s, 0.0); }
Tensor add(const Tensor& a, double s) { return affine("add", a, 1.0, s); }
Tensor neg(const Tensor& a) { return affine("neg", a, -1.0, 0.0); }

Tensor relu(const Tensor& x_in) {
  detail::check_float32("relu", "input", x_in);
  const Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  GPUNET_DISPATCH("relu", x.device(), relu_forward, x.numel(), x.data<float>(), out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<ReluNode>();
    node->out = out.detach();
    autograd::record(out, node, {&x_in});
  }
  return out;
}

}  // namespace gpunet::ops
