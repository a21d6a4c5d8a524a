// Front end of max_pool2d: checks, output and argmax allocation, dispatch, backward node.
#include "kernels/max_pool2d.h"
#include "ops/common.h"
#include "ops/dispatch.h"
#include "ops/pool_shape.h"

namespace gpunet::ops {
namespace {

struct MaxPool2dNode : autograd::Node {
  kernels::Pool2dShape s{};
  Tensor argmax;  // (N, C, OH, OW) int32, index of the maximum in each H*W plane
  const char* name() const override { return "max_pool2d"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(argmax.defined(), "max_pool2d: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = argmax.device();
    Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, DType::Float32, dev);
    GPUNET_DISPATCH("max_pool2d", dev, max_pool2d_backward, s, g.data<float>(), argmax.data<int32_t>(),
                    dx.data<float>());
    return {dx};
  }
  void release() override { argmax = Tensor(); }
};

}  // namespace

Tensor max_pool2d(const Tensor& x_in, int kernel, int stride, int padding, bool ceil_mode) {
  const char* op = "max_pool2d";
  const kernels::Pool2dShape s = detail::pool2d_shape(op, x_in, kernel, stride, padding, ceil_mode);
  const Tensor x = x_in.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Float32, dev);
  Tensor argmax = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Int32, dev);
  GPUNET_DISPATCH(op, dev, max_pool2d_forward, s, x.data<float>(), out.data<float>(), argmax.data<int32_t>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<MaxPool2dNode>();
    node->s = s;
    node->argmax = argmax;
    autograd::record(out, node, {&x_in});
  }
  return out;
}

}  // namespace gpunet::ops
