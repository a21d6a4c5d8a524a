// Front ends of avg_pool2d and adaptive_avg_pool2d: checks, dispatch, backward nodes.
#include "kernels/pooling.h"
#include "ops/common.h"
#include "ops/dispatch.h"
#include "ops/pool_shape.h"

namespace gpunet::ops {
namespace {

struct AvgPool2dNode : autograd::Node {
  kernels::Pool2dShape s{};
  bool count_include_pad = true;
  Device dev = Device::cpu();
  const char* name() const override { return "avg_pool2d"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, DType::Float32, dev);
    GPUNET_DISPATCH("avg_pool2d", dev, avg_pool2d_backward, s, count_include_pad, g.data<float>(), dx.data<float>());
    return {dx};
  }
};

struct AdaptiveAvgPool2dNode : autograd::Node {
  kernels::AdaptivePool2dShape s{};
  Device dev = Device::cpu();
  const char* name() const override { return "adaptive_avg_pool2d"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, DType::Float32, dev);
    GPUNET_DISPATCH("adaptive_avg_pool2d", dev, adaptive_avg_pool2d_backward, s, g.data<float>(), dx.data<float>());
    return {dx};
  }
};

}  // namespace

Tensor avg_pool2d(const Tensor& x_in, int kernel, int stride, int padding, bool ceil_mode, bool count_include_pad) {
  const char* op = "avg_pool2d";
  const kernels::Pool2dShape s = detail::pool2d_shape(op, x_in, kernel, stride, padding, ceil_mode);
  const Tensor x = x_in.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Float32, dev);
  GPUNET_DISPATCH(op, dev, avg_pool2d_forward, s, count_include_pad, x.data<float>(), out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<AvgPool2dNode>();
    node->s = s;
    node->count_include_pad = count_include_pad;
    node->dev = dev;
    autograd::record(out, node, {&x_in});
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x_in, int output_h, int output_w) {
  const char* op = "adaptive_avg_pool2d";
  detail::check_float32(op, "input", x_in);
  detail::check_dim(op, "input", x_in, 4, "NCHW");
  GPUNET_INPUT_CHECK(output_h >= 1 && output_w >= 1, op, ": output size must be >= 1, got ", output_h, "x", output_w);
  kernels::AdaptivePool2dShape s{};
  s.N = detail::to_int(op, x_in.shape()[0]);
  s.C = detail::to_int(op, x_in.shape()[1]);
  s.H = detail::to_int(op, x_in.shape()[2]);
  s.W = detail::to_int(op, x_in.shape()[3]);
  GPUNET_CHECK(s.H >= 1 && s.W >= 1, op, ": empty input plane ", shape_str(x_in.shape()));
  s.OH = output_h;
  s.OW = output_w;
  const Tensor x = x_in.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Float32, dev);
  GPUNET_DISPATCH(op, dev, adaptive_avg_pool2d_forward, s, x.data<float>(), out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<AdaptiveAvgPool2dNode>();
    node->s = s;
    node->dev = dev;
    autograd::record(out, node, {&x_in});
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int output_size) { return adaptive_avg_pool2d(x, output_size, output_size); }

}  // namespace gpunet::ops
