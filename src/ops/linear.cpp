// Front end of linear: out = x·Wᵀ + b.
#include "kernels/linear.h"
#include "ops/common.h"
#include "ops/dispatch.h"
#include "ops/kernel_paths.h"

namespace gpunet::ops {
namespace {

struct LinearNode : autograd::Node {
  int N = 0, IN = 0, OUT = 0;
  Tensor x, w;  // saved inputs (contiguous)
  bool has_bias = false;
  bool bf16 = false;  // autocast bf16 at forward time: backward in bf16 too (CPU only)
  const char* name() const override { return "linear"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "linear: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = x.device();
    Tensor dx, dw, db;
    if (inputs[0]) dx = Tensor::empty(x.shape(), DType::Float32, dev);
    if (inputs[1]) dw = Tensor::empty(w.shape(), DType::Float32, dev);
    if (has_bias && inputs[2]) db = Tensor::empty({OUT}, DType::Float32, dev);
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
    if (bf16)
      kernels::cpu::linear_backward_bf16(N, IN, OUT, x.data<float>(), w.data<float>(), g.data<float>(), ptr(dx),
                                         ptr(dw), ptr(db));
    else
      GPUNET_DISPATCH("linear", dev, linear_backward, N, IN, OUT, x.data<float>(), w.data<float>(),
                      g.data<float>(), ptr(dx), ptr(dw), ptr(db));
    return {dx, dw, db};
  }
  void release() override { x = w = Tensor(); }
};

}  // namespace

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  const char* op = "linear";
  detail::check_float32(op, "input", x_in);
  detail::check_float32(op, "weight", w_in);
  detail::check_dim(op, "input", x_in, 2, "(N, in)");
  detail::check_dim(op, "weight", w_in, 2, "(out, in)");
  check_same_device(op, x_in, w_in);
  GPUNET_CHECK(x_in.shape()[1] == w_in.shape()[1], op, ": input has ", x_in.shape()[1],
               " features but the weight expects ", w_in.shape()[1], " (input ", shape_str(x_in.shape()),
               ", weight ", shape_str(w_in.shape()), ")");
  detail::check_bias(op, x_in, w_in, b_in);
  const int N = detail::to_int(op, x_in.shape()[0]);
  const int IN = detail::to_int(op, x_in.shape()[1]);
  const int OUT = detail::to_int(op, w_in.shape()[0]);

  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
  const Device dev = x.device();
  Tensor out = Tensor::empty({N, OUT}, DType::Float32, dev);
  const float* bp = b.defined() ? b.data<float>() : nullptr;
  const bool bf16 = detail::autocast_bf16(op, dev);
  if (detail::kernel_paths_recording())
    detail::note_kernel_path(op, dev.is_cuda() ? "cublas" : bf16 ? "openblas(bf16-rounded)" : "openblas",
                             std::to_string(IN) + "->" + std::to_string(OUT), dev);
  if (bf16)  // CPU only (checked): no CUDA twin to dispatch to
    kernels::cpu::linear_forward_bf16(N, IN, OUT, x.data<float>(), w.data<float>(), bp, out.data<float>());
  else
    GPUNET_DISPATCH(op, dev, linear_forward, N, IN, OUT, x.data<float>(), w.data<float>(), bp, out.data<float>());
  if (autograd::needs_grad({&x_in, &w_in, &b_in})) {
    auto node = std::make_shared<LinearNode>();
    node->N = N;
    node->IN = IN;
    node->OUT = OUT;
    node->x = x.detach();
    node->w = w.detach();
    node->has_bias = b.defined();
    node->bf16 = bf16;
    autograd::record(out, node, {&x_in, &w_in, &b_in});
  }
  return out;
}

}  // namespace gpunet::ops
