// Front end of conv2d: checks, output allocation, dispatch, backward node.
#include "gpunet/autocast.h"
#include "kernels/conv2d.h"
#include "ops/common.h"
#include "ops/dispatch.h"
#include "ops/kernel_paths.h"

namespace gpunet::ops {
namespace {

struct Conv2dNode : autograd::Node {
  kernels::Conv2dShape s{};
  Tensor x, w;  // saved inputs (contiguous)
  bool has_bias = false;
  bool bf16 = false;  // autocast bf16 at forward time: backward in bf16 too (CPU only)
  const char* name() const override { return "conv2d"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "conv2d: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = x.device();
    Tensor dx, dw, db;
    if (inputs[0]) dx = Tensor::empty(x.shape(), DType::Float32, dev);
    if (inputs[1]) dw = Tensor::empty(w.shape(), DType::Float32, dev);
    if (has_bias && inputs[2]) db = Tensor::empty({s.OC}, DType::Float32, dev);
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
    if (bf16)
      kernels::cpu::conv2d_backward_bf16(s, x.data<float>(), w.data<float>(), g.data<float>(), ptr(dx), ptr(dw),
                                         ptr(db));
    else
      GPUNET_DISPATCH("conv2d", dev, conv2d_backward, s, x.data<float>(), w.data<float>(), g.data<float>(), ptr(dx),
                      ptr(dw), ptr(db));
    return {dx, dw, db};
  }
  void release() override { x = w = Tensor(); }
};

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, int stride, int padding) {
  const char* op = "conv2d";
  detail::check_float32(op, "input", x_in);
  detail::check_float32(op, "weight", w_in);
  detail::check_dim(op, "input", x_in, 4, "NCHW");
  detail::check_dim(op, "weight", w_in, 4, "(OC, IC, KH, KW)");
  check_same_device(op, x_in, w_in);
  GPUNET_CHECK(x_in.shape()[1] == w_in.shape()[1], op, ": input has ", x_in.shape()[1],
               " channels but the weight expects ", w_in.shape()[1], " (input ", shape_str(x_in.shape()),
               ", weight ", shape_str(w_in.shape()), ")");
  detail::check_bias(op, x_in, w_in, b_in);
  GPUNET_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  GPUNET_CHECK(padding >= 0, op, ": padding must be >= 0, got ", padding);

  kernels::Conv2dShape s{};
  s.N = detail::to_int(op, x_in.shape()[0]);
  s.IC = detail::to_int(op, x_in.shape()[1]);
  s.H = detail::to_int(op, x_in.shape()[2]);
  s.W = detail::to_int(op, x_in.shape()[3]);
  s.OC = detail::to_int(op, w_in.shape()[0]);
  s.KH = detail::to_int(op, w_in.shape()[2]);
  s.KW = detail::to_int(op, w_in.shape()[3]);
  s.stride = stride;
  s.pad = padding;
  GPUNET_CHECK(s.H + 2 * padding >= s.KH && s.W + 2 * padding >= s.KW, op, ": kernel ", s.KH, "x", s.KW,
               " is larger than the padded input ", s.H + 2 * padding, "x", s.W + 2 * padding, " (input ",
               shape_str(x_in.shape()), ")");
  s.OH = (s.H + 2 * padding - s.KH) / stride + 1;
  s.OW = (s.W + 2 * padding - s.KW) / stride + 1;
  // cuDNN's NCHW descriptors (and the CPU kernels' per-image offsets) index in 32 bits.
  detail::check_numel(op, "input", x_in.numel());
  detail::check_numel(op, "weight", w_in.numel());
  detail::check_numel(op, "output", static_cast<int64_t>(s.N) * s.OC * s.OH * s.OW);

  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
  Tensor out = Tensor::empty({s.N, s.OC, s.OH, s.OW}, DType::Float32, x.device());
  const float* bp = b.defined() ? b.data<float>() : nullptr;
  const bool bf16 = detail::autocast_bf16(op, x.device());
  detail::note_conv2d_path(s, x.device(), bf16);  // for gpunet::KernelPathLog (gpunet bench)
  if (bf16)  // CPU only (checked): no CUDA twin to dispatch to
    kernels::cpu::conv2d_forward_bf16(s, x.data<float>(), w.data<float>(), bp, out.data<float>());
  else
    GPUNET_DISPATCH(op, x.device(), conv2d_forward, s, x.data<float>(), w.data<float>(), bp, out.data<float>());
  if (autograd::needs_grad({&x_in, &w_in, &b_in})) {
    auto node = std::make_shared<Conv2dNode>();
    node->s = s;
    node->x = x.detach();
    node->w = w.detach();
    node->has_bias = b.defined();
    node->bf16 = bf16;
    autograd::record(out, node, {&x_in, &w_in, &b_in});
  }
  return out;
}

}  // namespace gpunet::ops
