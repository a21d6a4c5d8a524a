// Front end of batch_norm2d: checks, output and saved-statistics allocation, dispatch, backward node.
#include <string>

#include "kernels/activation.h"
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

// gelu(batch_norm2d(x)) with batch statistics, saving what the batch norm saves (x, its
// parameters, the statistics) and not the normalised tensor y that gelu's backward reads: the
// backward recomputes y with the forward's own kernel from the same x and parameters, so it is
// the same y, value for value (CPU; on CUDA up to the forward kernel's reduction order).
struct BatchNormGeluNode : autograd::Node {
  kernels::BatchNormShape s{};
  Tensor x, weight, bias, save_mean, save_invstd;  // saved (contiguous, detached)
  double eps = 1e-5;
  bool tanh_approx = false;
  const char* name() const override { return "batch_norm2d_gelu"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "batch_norm2d_gelu: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = x.device();
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
    Tensor dy = Tensor::empty(x.shape(), DType::Float32, dev);
    {
      Tensor y = Tensor::empty(x.shape(), DType::Float32, dev);
      Tensor mean = Tensor::empty({s.C}, DType::Float32, dev), invstd = Tensor::empty({s.C}, DType::Float32, dev);
      GPUNET_DISPATCH("batch_norm2d_gelu", dev, batch_norm_forward, s, x.data<float>(), ptr(weight), ptr(bias),
                      static_cast<float*>(nullptr), static_cast<float*>(nullptr), true, 0.0, eps, y.data<float>(),
                      mean.data<float>(), invstd.data<float>());
      GPUNET_DISPATCH("batch_norm2d_gelu", dev, gelu_backward, y.numel(), y.data<float>(), g.data<float>(),
                      tanh_approx, dy.data<float>());
    }  // y freed before dx is allocated
    Tensor dx, dw, db;
    if (inputs[0]) dx = Tensor::empty(x.shape(), DType::Float32, dev);
    if (inputs[1]) dw = Tensor::empty({s.C}, DType::Float32, dev);
    if (inputs[2]) db = Tensor::empty({s.C}, DType::Float32, dev);
    GPUNET_DISPATCH("batch_norm2d_gelu", dev, batch_norm_backward, s, x.data<float>(), ptr(weight),
                    save_mean.data<float>(), save_invstd.data<float>(), true, dy.data<float>(), ptr(dx), ptr(dw),
                    ptr(db));
    return {dx, dw, db};
  }
  void release() override { x = weight = bias = save_mean = save_invstd = Tensor(); }
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

namespace {

// batch_norm2d's checks and forward; the statistics it used go to save_mean/save_invstd.
struct BnForward {
  kernels::BatchNormShape s{};
  Tensor x, w, b, out, save_mean, save_invstd;
  bool use_batch_stats = true;
};

BnForward batch_norm_forward_checked(const char* op, const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                                     const Tensor& running_mean, const Tensor& running_var, bool training,
                                     double momentum, double eps) {
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
  BnForward f;
  // Without running statistics the batch statistics are used in eval mode too (PyTorch's
  // track_running_stats=False).
  f.use_batch_stats = training || !running_mean.defined();
  kernels::BatchNormShape& s = f.s;
  s.N = detail::to_int(op, x_in.shape()[0]);
  s.C = detail::to_int(op, x_in.shape()[1]);
  s.HW = x_in.shape()[2] * x_in.shape()[3];
  if (f.use_batch_stats)
    GPUNET_CHECK(static_cast<int64_t>(s.N) * s.HW > 1, op,
                 ": Expected more than 1 value per channel when training, got input size ", shape_str(x_in.shape()));

  f.x = x_in.contiguous();
  f.w = weight_in.defined() ? weight_in.contiguous() : Tensor();
  f.b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  const Device dev = f.x.device();
  f.out = Tensor::empty(f.x.shape(), DType::Float32, dev);
  f.save_mean = Tensor::empty({s.C}, DType::Float32, dev);
  f.save_invstd = Tensor::empty({s.C}, DType::Float32, dev);
  auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
  // Running statistics are only written in training mode.
  float* rm = ptr(running_mean);
  float* rv = ptr(running_var);
  GPUNET_DISPATCH(op, dev, batch_norm_forward, s, f.x.data<float>(), ptr(f.w), ptr(f.b), rm, rv, f.use_batch_stats,
                  momentum, eps, f.out.data<float>(), f.save_mean.data<float>(), f.save_invstd.data<float>());
  return f;
}

}  // namespace

Tensor batch_norm2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps) {
  BnForward f = batch_norm_forward_checked("batch_norm2d", x_in, weight_in, bias_in, running_mean, running_var,
                                           training, momentum, eps);
  if (autograd::needs_grad({&x_in, &weight_in, &bias_in})) {
    auto node = std::make_shared<BatchNormNode>();
    node->s = f.s;
    node->x = f.x.detach();
    node->weight = f.w.defined() ? f.w.detach() : Tensor();
    node->save_mean = f.save_mean;
    node->save_invstd = f.save_invstd;
    node->use_batch_stats = f.use_batch_stats;
    autograd::record(f.out, node, {&x_in, &weight_in, &bias_in});
  }
  return f.out;
}

Tensor batch_norm2d_gelu(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                         const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                         double eps, const std::string& approximate) {
  const char* op = "batch_norm2d_gelu";
  GPUNET_INPUT_CHECK(approximate == "none" || approximate == "tanh", op,
                     ": approximate must be 'none' or 'tanh', got '", approximate, "'");
  const bool grad = autograd::needs_grad({&x_in, &weight_in, &bias_in});
  // Running statistics (eval mode): the two ops, autograd through both (y is not recomputable
  // from the saved statistics alone once the running ones move).
  if (!grad || (!training && running_mean.defined()))
    return gelu(batch_norm2d(x_in, weight_in, bias_in, running_mean, running_var, training, momentum, eps),
                approximate);
  BnForward f =
      batch_norm_forward_checked(op, x_in, weight_in, bias_in, running_mean, running_var, training, momentum, eps);
  const bool tanh_approx = approximate == "tanh";
  Tensor out = Tensor::empty(f.x.shape(), DType::Float32, f.x.device());
  GPUNET_DISPATCH(op, f.x.device(), gelu_forward, f.out.numel(), f.out.data<float>(), tanh_approx,
                  out.data<float>());
  f.out = Tensor();  // y is not kept
  auto node = std::make_shared<BatchNormGeluNode>();
  node->s = f.s;
  node->x = f.x.detach();
  node->weight = f.w.defined() ? f.w.detach() : Tensor();
  node->bias = f.b.defined() ? f.b.detach() : Tensor();
  node->save_mean = f.save_mean;
  node->save_invstd = f.save_invstd;
  node->eps = eps;
  node->tanh_approx = tanh_approx;
  autograd::record(out, node, {&x_in, &weight_in, &bias_in});
  return out;
}

}  // namespace gpunet::ops
