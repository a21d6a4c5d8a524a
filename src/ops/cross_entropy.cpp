// Front ends of log_softmax, nll_loss, cross_entropy (label smoothing, mean | sum | none) and softmax.
#include <cmath>

#include "kernels/cross_entropy.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace {

// Checks logits (N, C) float32 and, when given, target (N) int64 on the same device.
void check_logits(const char* op, const char* what, const Tensor& x, const Tensor* target) {
  detail::check_float32(op, what, x);
  detail::check_dim(op, what, x, 2, "(N, C)");
  GPUNET_CHECK(x.shape()[1] > 0, op, ": expected at least one class, got ", shape_str(x.shape()));
  detail::to_int(op, x.shape()[0]);
  detail::to_int(op, x.shape()[1]);
  if (!target) return;
  detail::check_int64(op, "target", *target);
  check_same_device(op, x, *target);
  GPUNET_CHECK(target->dim() == 1 && target->shape()[0] == x.shape()[0], op, ": expected a target of shape [",
               x.shape()[0], "], got ", shape_str(target->shape()));
  GPUNET_CHECK(x.shape()[0] > 0, op, ": empty batch (mean over zero samples)");
  detail::check_targets_cpu(op, *target, x.shape()[1]);
}

struct LogSoftmaxNode : autograd::Node {
  Tensor out;  // log_softmax's output, detached
  const char* name() const override { return "log_softmax"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(out.defined(), "log_softmax: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const int N = static_cast<int>(out.shape()[0]), C = static_cast<int>(out.shape()[1]);
    Tensor dx = Tensor::empty(out.shape(), DType::Float32, out.device());
    GPUNET_DISPATCH("log_softmax", out.device(), log_softmax_backward, N, C, out.data<float>(), g.data<float>(),
                    dx.data<float>());
    return {dx};
  }
  void release() override { out = Tensor(); }
};

struct NllNode : autograd::Node {
  int N = 0, C = 0;
  Tensor target;
  const char* name() const override { return "nll_loss"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(target.defined(), "nll_loss: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty({N, C}, DType::Float32, target.device());
    GPUNET_DISPATCH("nll_loss", target.device(), nll_backward, N, C, target.data<int64_t>(), g.data<float>(),
                    dx.data<float>());
    return {dx, Tensor()};
  }
  void release() override { target = Tensor(); }
};

struct CrossEntropyNode : autograd::Node {
  int N = 0, C = 0;
  double smoothing = 0.0;
  Reduction reduction = Reduction::Mean;
  Tensor probs, target;
  const char* name() const override { return "cross_entropy"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(target.defined(), "cross_entropy: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty({N, C}, DType::Float32, target.device());
    const bool per_row = reduction == Reduction::None;
    const double scale = reduction == Reduction::Mean ? 1.0 / N : 1.0;
    GPUNET_DISPATCH("cross_entropy", target.device(), cross_entropy_backward, N, C, probs.data<float>(),
                    target.data<int64_t>(), smoothing, g.data<float>(), per_row, scale, dx.data<float>());
    return {dx, Tensor()};
  }
  void release() override { probs = target = Tensor(); }
};

}  // namespace

Tensor log_softmax(const Tensor& x_in) {
  check_logits("log_softmax", "logits", x_in, nullptr);
  const Tensor x = x_in.contiguous();
  const int N = static_cast<int>(x.shape()[0]), C = static_cast<int>(x.shape()[1]);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  GPUNET_DISPATCH("log_softmax", x.device(), log_softmax_forward, N, C, x.data<float>(), out.data<float>());
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<LogSoftmaxNode>();
    node->out = out.detach();
    autograd::record(out, node, {&x_in});
  }
  return out;
}

Tensor softmax(const Tensor& x_in) {
  check_logits("softmax", "logits", x_in, nullptr);
  const Tensor x = x_in.contiguous();
  const int N = static_cast<int>(x.shape()[0]), C = static_cast<int>(x.shape()[1]);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  GPUNET_DISPATCH("softmax", x.device(), softmax_forward, N, C, x.data<float>(), out.data<float>());
  return out;
}

Tensor nll_loss(const Tensor& logp_in, const Tensor& target_in) {
  check_logits("nll_loss", "log-probabilities", logp_in, &target_in);
  const Tensor logp = logp_in.contiguous(), target = target_in.contiguous();
  const int N = static_cast<int>(logp.shape()[0]), C = static_cast<int>(logp.shape()[1]);
  Tensor loss = Tensor::empty({}, DType::Float32, logp.device());
  GPUNET_DISPATCH("nll_loss", logp.device(), nll_forward, N, C, logp.data<float>(), target.data<int64_t>(),
                  loss.data<float>());
  if (autograd::needs_grad({&logp_in})) {
    auto node = std::make_shared<NllNode>();
    node->N = N;
    node->C = C;
    node->target = target.detach();
    autograd::record(loss, node, {&logp_in, &target_in});
  }
  return loss;
}

Tensor cross_entropy(const Tensor& x_in, const Tensor& target_in, double label_smoothing, Reduction reduction) {
  const char* op = "cross_entropy";
  check_logits(op, "logits", x_in, &target_in);
  GPUNET_INPUT_CHECK(std::isfinite(label_smoothing) && label_smoothing >= 0.0 && label_smoothing < 1.0, op,
                     ": label_smoothing must be in [0, 1), got ", label_smoothing);
  const Tensor x = x_in.contiguous(), target = target_in.contiguous();
  const int N = static_cast<int>(x.shape()[0]), C = static_cast<int>(x.shape()[1]);
  const Device dev = x.device();
  Tensor row_loss = Tensor::empty({N}, DType::Float32, dev);
  Tensor probs = Tensor::empty({N, C}, DType::Float32, dev);
  GPUNET_DISPATCH(op, dev, cross_entropy_forward, N, C, x.data<float>(), target.data<int64_t>(), label_smoothing,
                  row_loss.data<float>(), probs.data<float>());
  Tensor loss = row_loss;
  if (reduction != Reduction::None) {
    loss = Tensor::empty({}, DType::Float32, dev);
    const double scale = reduction == Reduction::Mean ? 1.0 / N : 1.0;
    GPUNET_DISPATCH(op, dev, cross_entropy_reduce, N, row_loss.data<float>(), scale, loss.data<float>());
  }
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<CrossEntropyNode>();
    node->N = N;
    node->C = C;
    node->smoothing = label_smoothing;
    node->reduction = reduction;
    node->probs = probs;
    node->target = target.detach();
    autograd::record(loss, node, {&x_in, &target_in});
  }
  return loss;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  return cross_entropy(logits, target, 0.0, Reduction::Mean);
}

}  // namespace gpunet::ops
