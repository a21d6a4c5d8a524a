// Front ends of gelu and silu: checks, dispatch, backward nodes (which save the input).
#include <string>

#include "kernels/activation.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace {

struct GeluNode : autograd::Node {
  Tensor x;
  bool tanh_approx = false;
  const char* name() const override { return "gelu"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "gelu: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
    GPUNET_DISPATCH("gelu", x.device(), gelu_backward, x.numel(), x.data<float>(), g.data<float>(), tanh_approx,
                    dx.data<float>());
    return {dx};
  }
  void release() override { x = Tensor(); }
};

struct SiluNode : autograd::Node {
  Tensor x;
  const char* name() const override { return "silu"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "silu: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
    GPUNET_DISPATCH("silu", x.device(), silu_backward, x.numel(), x.data<float>(), g.data<float>(), dx.data<float>());
    return {dx};
  }
  void release() override { x = Tensor(); }
};

}  // namespace

Tensor gelu(const Tensor& x_in, const std::string& approximate) {
  const char* op = "gelu";
  detail::check_float32(op, "input", x_in);
  GPUNET_INPUT_CHECK(approximate == "none" || approximate == "tanh", op,
                     ": approximate must be 'none' or 'tanh', got '", approximate, "'");
  const bool tanh_approx = approximate == "tanh";
  const Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  GPUNET_DISPATCH(op, x.device(), gelu_forward, x.numel(), x.data<float>(), tanh_approx, out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<GeluNode>();
    node->x = x.detach();
    node->tanh_approx = tanh_approx;
    autograd::record(out, node, {&x_in});
  }
  return out;
}

Tensor silu(const Tensor& x_in) {
  const char* op = "silu";
  detail::check_float32(op, "input", x_in);
  const Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  GPUNET_DISPATCH(op, x.device(), silu_forward, x.numel(), x.data<float>(), out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<SiluNode>();
    node->x = x.detach();
    autograd::record(out, node, {&x_in});
  }
  return out;
}

}  // namespace gpunet::ops
