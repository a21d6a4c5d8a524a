// Front ends of log_softmax, nll_loss, the fused cross_entropy, and softmax.
#include "kernels/cross_entropy.h"
#include "ops/common.h"

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
    const Device dev = out.device();
    if (dev.is_cpu()) {
      kernels::cpu::log_softmax_backward<float>(N, C, out.data<float>(), g.data<float>(), dx.data<float>());
    } else {
#if GPUNET_HAVE_CUDA
      const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
      kernels::cuda::log_softmax_backward(N, C, out.data<float>(), g.data<float>(), dx.data<float>());
#else
      detail::no_cuda("log_softmax", dev);
#endif
    }
    return {dx};
  }
  void release() override { out = Tensor(); }
};

// Shared by nll_loss and cross_entropy: both need the target and a (N, C) saved tensor.
struct LossNode : autograd::Node {
  bool fused = false;  // cross_entropy (saved = probs) or nll_loss (saved unused)
  int N = 0, C = 0;
  Tensor probs, target;
  const char* name() const override { return fused ? "cross_entropy" : "nll_loss"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(target.defined(), name(), ": backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = target.device();
    Tensor dx = Tensor::empty({N, C}, DType::Float32, dev);
    const int64_t* t = target.data<int64_t>();
    if (dev.is_cpu()) {
      if (fused) kernels::cpu::cross_entropy_backward<float>(N, C, probs.data<float>(), t, g.data<float>(), dx.data<float>());
      else kernels::cpu::nll_backward<float>(N, C, t, g.data<float>(), dx.data<float>());
    } else {
#if GPUNET_HAVE_CUDA
      const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
      if (fused) kernels::cuda::cross_entropy_backward(N, C, probs.data<float>(), t, g.data<float>(), dx.data<float>());
      else kernels::cuda::nll_backward(N, C, t, g.data<float>(), dx.data<float>());
#else
      detail::no_cuda(name(), dev);
#endif
    }
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
  const Device dev = x.device();
  if (dev.is_cpu()) {
    kernels::cpu::log_softmax_forward<float>(N, C, x.data<float>(), out.data<float>());
  } else {
#if GPUNET_HAVE_CUDA
    const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
    kernels::cuda::log_softmax_forward(N, C, x.data<float>(), out.data<float>());
#else
    detail::no_cuda("log_softmax", dev);
#endif
  }
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
  const Device dev = x.device();
  if (dev.is_cpu()) {
    kernels::cpu::softmax_forward<float>(N, C, x.data<float>(), out.data<float>());
  } else {
#if GPUNET_HAVE_CUDA
    const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
    kernels::cuda::softmax_forward(N, C, x.data<float>(), out.data<float>());
#else
    detail::no_cuda("softmax", dev);
#endif
  }
  return out;
}

Tensor nll_loss(const Tensor& logp_in, const Tensor& target_in) {
  check_logits("nll_loss", "log-probabilities", logp_in, &target_in);
  const Tensor logp = logp_in.contiguous(), target = target_in.contiguous();
  const int N = static_cast<int>(logp.shape()[0]), C = static_cast<int>(logp.shape()[1]);
  Tensor loss = Tensor::empty({}, DType::Float32, logp.device());
  const Device dev = logp.device();
  if (dev.is_cpu()) {
    kernels::cpu::nll_forward<float>(N, C, logp.data<float>(), target.data<int64_t>(), loss.data<float>());
  } else {
#if GPUNET_HAVE_CUDA
    const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
    kernels::cuda::nll_forward(N, C, logp.data<float>(), target.data<int64_t>(), loss.data<float>());
#else
    detail::no_cuda("nll_loss", dev);
#endif
  }
  if (autograd::needs_grad({&logp_in})) {
    auto node = std::make_shared<LossNode>();
    node->N = N;
    node->C = C;
    node->target = target.detach();
    autograd::record(loss, node, {&logp_in, &target_in});
  }
  return loss;
}

Tensor cross_entropy(const Tensor& x_in, const Tensor& target_in) {
  check_logits("cross_entropy", "logits", x_in, &target_in);
  const Tensor x = x_in.contiguous(), target = target_in.contiguous();
  const int N = static_cast<int>(x.shape()[0]), C = static_cast<int>(x.shape()[1]);
  const Device dev = x.device();
  Tensor loss = Tensor::empty({}, DType::Float32, dev);
  Tensor probs = Tensor::empty({N, C}, DType::Float32, dev);
  if (dev.is_cpu()) {
    kernels::cpu::cross_entropy_forward<float>(N, C, x.data<float>(), target.data<int64_t>(), loss.data<float>(),
                                               probs.data<float>());
  } else {
#if GPUNET_HAVE_CUDA
    const ::gpunet::detail::DeviceGuard guard(dev);  // (engineer D rewrites this file onto GPUNET_DISPATCH)
    kernels::cuda::cross_entropy_forward(N, C, x.data<float>(), target.data<int64_t>(), loss.data<float>(),
                                         probs.data<float>());
#else
    detail::no_cuda("cross_entropy", dev);
#endif
  }
  if (autograd::needs_grad({&x_in})) {
    auto node = std::make_shared<LossNode>();
    node->fused = true;
    node->N = N;
    node->C = C;
    node->probs = probs;
    node->target = target.detach();
    autograd::record(loss, node, {&x_in, &target_in});
  }
  return loss;
}

}  // namespace gpunet::ops
