// Front end of dropout: checks, dispatch, and a backward node that regenerates the mask from
// (seed, offset) instead of saving it.
#include <cmath>

#include "kernels/dropout.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace {

struct DropoutNode : autograd::Node {
  double p = 0.0;
  uint64_t seed = 0, offset = 0;
  Device dev = Device::cpu();
  const char* name() const override { return "dropout"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(g.shape(), DType::Float32, dev);
    GPUNET_DISPATCH("dropout", dev, dropout_apply, g.numel(), g.data<float>(), p, seed, offset, dx.data<float>());
    return {dx};
  }
};

}  // namespace

Tensor dropout(const Tensor& x_in, double p, bool training, uint64_t seed, uint64_t offset) {
  const char* op = "dropout";
  detail::check_float32(op, "input", x_in);
  GPUNET_INPUT_CHECK(std::isfinite(p) && p >= 0.0 && p <= 1.0, op,
                     ": dropout probability has to be between 0 and 1, but got p=", p);
  if (!training || p == 0.0) return x_in;  // the identity (PyTorch returns the input too)
  const Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  GPUNET_DISPATCH(op, x.device(), dropout_apply, x.numel(), x.data<float>(), p, seed, offset, out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<DropoutNode>();
    node->p = p;
    node->seed = seed;
    node->offset = offset;
    node->dev = x.device();
    autograd::record(out, node, {&x_in});
  }
  return out;
}

}  // namespace gpunet::ops
