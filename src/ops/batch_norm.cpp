// Front end of batch_norm2d: checks, output and saved-statistics allocation, dispatch, backward node.
#include "kernels/batch_norm.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace {

struct BatchNormNode : autograd::Node {
  kernels::BatchNormShape s{};
  Tensor x, weight, save_mean, save_invstd;  // saved (contiguous, detached)
  bool use_batch_stats = true;
  const char* name() const override { return "batch_norm2d"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "batch_norm2d: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = x.device();
    Tensor dx, dw, db;
    if (inputs[0]) dx = Tensor::empty(x.shape(), DType::Float32, dev);
    if (inputs[1]) dw = Tensor::empty({s.C}, DType::Float32, dev);
    if (inputs[2]) db = Tensor::empty({s.C}, DType::Float32, dev);
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
    GPUNET_DISPATCH("batch_norm2d", dev, batch_norm_backward, s, x.data<float>(), ptr(weight),
                    save_mean.data<float>(), save_invstd.data<float>(), use_batch_stats, g.data<float>(), ptr(dx),
                    ptr(dw), ptr(db));
    return {dx, dw, db};
  }
  void release() override { x = weight = save_mean = save_invstd = Tensor(); }
};

// A per-channel tensor: undefined, or float32 [C] on x's device.
void check_channel_tensor(const char* op, const char* what, const Tensor& x, const Tensor& t) {
  if (!t.defined()) return;
  detail::check_float32(op, what, t);
  check_same_device(op, x, t);
  GPUNET_CHECK(t.dim() == 1 && t.shape()[0] == x.shape()[1], op, ": input has ", x.shape()[1], " channels but ",
               what, " has shape ", shape_str(t.shape()), " (input ", shape_str(x.shape()), ")");
}

}  // namespace

Tensor batch_norm2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm2d";
  detail::check_float32(op, "input", x_in);
  detail::check_dim(op, "input", x_in, 4, "NCHW");
  check_channel_tensor(op, "weight", x_in, weight_in);
  check_channel_tensor(op, "bias", x_in, bias_in);
  check_channel_tensor(op, "running_mean", x_in, running_mean);
  check_channel_tensor(op, "running_var", x_in, running_var);
  GPUNET_CHECK(running_mean.defined() == running_var.defined(), op,
               ": running_mean and running_var must be given together");
  GPUNET_CHECK(!running_mean.defined() || (running_mean.is_contiguous() && running_var.is_contiguous()), op,
               ": running statistics must be contiguous (they are updated in place)");
  GPUNET_INPUT_CHECK(eps > 0.0, op, ": eps must be > 0, got ", eps);
  GPUNET_INPUT_CHECK(momentum >= 0.0 && momentum <= 1.0, op, ": momentum must be in [0, 1], got ", momentum);
  // Without running statistics the batch statistics are used in eval mode too (PyTorch's
  // track_running_stats=False).
  const bool use_batch_stats = training || !running_mean.defined();
  kernels::BatchNormShape s{};
  s.N = detail::to_int(op, x_in.shape()[0]);
  s.C = detail::to_int(op, x_in.shape()[1]);
  s.HW = x_in.shape()[2] * x_in.shape()[3];
  if (use_batch_stats)
    GPUNET_CHECK(static_cast<int64_t>(s.N) * s.HW > 1, op,
                 ": Expected more than 1 value per channel when training, got input size ", shape_str(x_in.shape()));

  const Tensor x = x_in.contiguous();
  const Tensor w = weight_in.defined() ? weight_in.contiguous() : Tensor();
  const Tensor b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  const Device dev = x.device();
  Tensor out = Tensor::empty(x.shape(), DType::Float32, dev);
  Tensor save_mean = Tensor::empty({s.C}, DType::Float32, dev);
  Tensor save_invstd = Tensor::empty({s.C}, DType::Float32, dev);
  auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
  // Running statistics are only written in training mode.
  float* rm = ptr(running_mean);
  float* rv = ptr(running_var);
  GPUNET_DISPATCH(op, dev, batch_norm_forward, s, x.data<float>(), ptr(w), ptr(b), rm, rv, use_batch_stats, momentum,
                  eps, out.data<float>(), save_mean.data<float>(), save_invstd.data<float>());
  if (autograd::needs_grad({&x_in, &weight_in, &bias_in})) {
    auto node = std::make_shared<BatchNormNode>();
    node->s = s;
    node->x = x.detach();
    node->weight = w.defined() ? w.detach() : Tensor();
    node->save_mean = save_mean;
    node->save_invstd = save_invstd;
    node->use_batch_stats = use_batch_stats;
    autograd::record(out, node, {&x_in, &weight_in, &bias_in});
  }
  return out;
}

}  // namespace gpunet::ops
