// Front end of max_pool2d: checks, output and argmax allocation, device switch, backward node.
#include "kernels/max_pool2d.h"
#include "ops/common.h"

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
    if (dev.is_cpu()) {
      kernels::cpu::max_pool2d_backward<float>(s, g.data<float>(), argmax.data<int32_t>(), dx.data<float>());
    } else {
#if GPUNET_HAVE_CUDA
      const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
      kernels::cuda::max_pool2d_backward(s, g.data<float>(), argmax.data<int32_t>(), dx.data<float>());
#else
      detail::no_cuda("max_pool2d", dev);
#endif
    }
    return {dx};
  }
  void release() override { argmax = Tensor(); }
};

}  // namespace

Tensor max_pool2d(const Tensor& x_in, int kernel, int stride) {
  const char* op = "max_pool2d";
  detail::check_float32(op, "input", x_in);
  detail::check_dim(op, "input", x_in, 4, "NCHW");
  if (stride == 0) stride = kernel;
  GPUNET_CHECK(kernel >= 1, op, ": kernel size must be >= 1, got ", kernel);
  GPUNET_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  kernels::Pool2dShape s{};
  s.N = detail::to_int(op, x_in.shape()[0]);
  s.C = detail::to_int(op, x_in.shape()[1]);
  s.H = detail::to_int(op, x_in.shape()[2]);
  s.W = detail::to_int(op, x_in.shape()[3]);
  s.K = kernel;
  s.stride = stride;
  GPUNET_CHECK(s.H >= kernel && s.W >= kernel, op, ": kernel ", kernel, " is larger than the input plane ", s.H, "x",
               s.W, " (input ", shape_str(x_in.shape()), ")");
  s.OH = (s.H - kernel) / stride + 1;
  s.OW = (s.W - kernel) / stride + 1;

  const Tensor x = x_in.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Float32, dev);
  Tensor argmax = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Int32, dev);
  if (dev.is_cpu()) {
    kernels::cpu::max_pool2d_forward<float>(s, x.data<float>(), out.data<float>(), argmax.data<int32_t>());
  } else {
#if GPUNET_HAVE_CUDA
    const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
    kernels::cuda::max_pool2d_forward(s, x.data<float>(), out.data<float>(), argmax.data<int32_t>());
#else
    detail::no_cuda(op, dev);
#endif
  }
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<MaxPool2dNode>();
    node->s = s;
    node->argmax = argmax;
    autograd::record(out, node, {&x_in});
  }
  return out;
}

}  // namespace gpunet::ops
