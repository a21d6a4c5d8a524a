// Front ends of the reductions: sum, mean, argmax, eq, all_finite, and Tensor's sugar for them.
#include "kernels/elementwise.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet {
namespace ops {
namespace {

// out[] = scale * sum(x). Integer inputs are summed as float32 (exact for counts below 2^24).
Tensor sum_raw(const char* name, const Tensor& x_in, bool mean) {
  detail::check_defined(name, "input", x_in);
  const Tensor x = (x_in.dtype() == DType::Float32 ? x_in : x_in.to(DType::Float32)).contiguous();
  const int64_t n = x.numel();
  Tensor out = Tensor::empty({}, DType::Float32, x.device());
  const Device dev = x.device();
  // mean of nothing is NaN (as torch): 0 * (1/0).
  const float scale = mean ? static_cast<float>(1.0 / static_cast<double>(n)) : 1.0f;
  float* o = out.data<float>();
  GPUNET_DISPATCH(name, dev, sum, n, x.data<float>(), o);
  if (mean) GPUNET_DISPATCH(name, dev, affine, int64_t{1}, o, scale, 0.0f, o);
  return out;
}

// d(scale * sum x)/dx = scale everywhere.
struct SumNode : autograd::Node {
  const char* op_name;
  Shape x_shape;
  float scale;
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    const Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(x_shape, DType::Float32, g.device());
    GPUNET_DISPATCH(op_name, g.device(), broadcast_scalar, dx.numel(), g.data<float>(), scale, dx.data<float>());
    return {dx};
  }
};

Tensor reduce(const char* name, const Tensor& x, bool mean) {
  Tensor out = sum_raw(name, x, mean);
  if (autograd::needs_grad({&x})) {
    GPUNET_CHECK(x.dtype() == DType::Float32, name, ": gradients need a float32 input, got ", dtype_name(x.dtype()));
    auto node = std::make_shared<SumNode>();
    node->op_name = name;
    node->x_shape = x.shape();
    node->scale = mean ? static_cast<float>(1.0 / static_cast<double>(x.numel())) : 1.0f;
    autograd::record(out, node, {&x});
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce("sum", x, false); }
Tensor mean(const Tensor& x) { return reduce("mean", x, true); }

Tensor argmax(const Tensor& x_in, int dim) {
  detail::check_float32("argmax", "input", x_in);
  const int nd = x_in.dim();
  GPUNET_CHECK(nd >= 1, "argmax: expected at least a 1-D input, got a scalar");
  const int d = dim < 0 ? dim + nd : dim;
  GPUNET_CHECK(d >= 0 && d < nd, "argmax: dim ", dim, " out of range for shape ", shape_str(x_in.shape()));
  int64_t inner = 1;
  for (int i = d + 1; i < nd; ++i) inner *= x_in.shape()[i];
  GPUNET_CHECK(inner == 1, "argmax: only the last dimension (or one followed by size-1 dimensions) is supported, got dim ",
               dim, " of ", shape_str(x_in.shape()));
  const int64_t cols = x_in.shape()[d];
  GPUNET_CHECK(cols > 0, "argmax: dimension ", dim, " has size 0");
  const Tensor x = x_in.contiguous();
  const int64_t rows = x.numel() / cols;
  Shape out_shape;
  for (int i = 0; i < nd; ++i)
    if (i != d) out_shape.push_back(x.shape()[i]);
  Tensor out = Tensor::empty(out_shape, DType::Int64, x.device());
  GPUNET_DISPATCH("argmax", x.device(), argmax_rows, rows, cols, x.data<float>(), out.data<int64_t>());
  return out;
}

Tensor eq(const Tensor& a_in, const Tensor& b_in) {
  detail::check_int64("eq", "a", a_in);
  detail::check_int64("eq", "b", b_in);
  check_same_device("eq", a_in, b_in);
  GPUNET_CHECK(a_in.shape() == b_in.shape(), "eq: shapes ", shape_str(a_in.shape()), " and ",
               shape_str(b_in.shape()), " differ");
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  Tensor out = Tensor::empty(a.shape(), DType::Int64, a.device());
  GPUNET_DISPATCH("eq", a.device(), eq_i64, a.numel(), a.data<int64_t>(), b.data<int64_t>(), out.data<int64_t>());
  return out;
}

bool all_finite(const Tensor& x_in) {
  detail::check_float32("all_finite", "input", x_in);
  const Tensor x = x_in.contiguous();
  const Device dev = x.device();
  Tensor flag = Tensor::zeros({1}, DType::Int32, dev);
  GPUNET_DISPATCH("all_finite", dev, nonfinite_flag, x.numel(), x.data<float>(), flag.data<int32_t>());
  return flag.item() < 0.5;  // item() synchronises
}

}  // namespace ops

Tensor Tensor::sum() const { return ops::sum(*this); }
Tensor Tensor::mean() const { return ops::mean(*this); }
Tensor Tensor::argmax(int d) const { return ops::argmax(*this, d); }

}  // namespace gpunet
