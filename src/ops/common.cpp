// Shared checks for the op front ends.
#include "ops/common.h"

#include <cstdint>

#include "core/device_api.h"

namespace gpunet::ops::detail {

void check_defined(const char* op, const char* what, const Tensor& t) {
  GPUNET_CHECK(t.defined(), op, ": ", what, " is undefined");
}

void check_float32(const char* op, const char* what, const Tensor& t) {
  check_defined(op, what, t);
  GPUNET_CHECK(t.dtype() == DType::Float32, op, ": expected ", what, " to be float32, got ", dtype_name(t.dtype()));
}

void check_int64(const char* op, const char* what, const Tensor& t) {
  check_defined(op, what, t);
  GPUNET_CHECK(t.dtype() == DType::Int64, op, ": expected ", what, " to be int64, got ", dtype_name(t.dtype()));
}

void check_dim(const char* op, const char* what, const Tensor& t, int d, const char* layout) {
  GPUNET_CHECK(t.dim() == d, op, ": expected a ", d, "-D ", layout, (*layout ? " " : ""), what, ", got ",
               shape_str(t.shape()));
}

int to_int(const char* op, int64_t v) {
  GPUNET_CHECK(v >= 0 && v <= INT32_MAX, op, ": dimension ", v, " is out of the supported range [0, 2^31)");
  return static_cast<int>(v);
}

void use_device(Device dev) {
#if GPUNET_HAVE_CUDA
  if (dev.is_cuda()) gpunet::cuda::detail::set_device(dev.index());
#else
  (void)dev;
#endif
}

void no_cuda(const char* op, Device dev) {
  throw Error(gpunet::detail::cat(op, ": tensor on ", dev.str(), ", but this is a CPU-only build of gpunet"));
}

void check_targets_cpu(const char* op, const Tensor& target, int64_t C) {
  if (!target.device().is_cpu()) return;
  const Tensor t = target.contiguous();
  const int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    GPUNET_CHECK(p[i] >= 0 && p[i] < C, op, ": target ", p[i], " at index ", i, " is out of bounds for ", C,
                 " classes");
}


void check_bias(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!bias.defined()) return;
  check_float32(op, "bias", bias);
  check_same_device(op, x, bias);
  GPUNET_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], op, ": expected a bias of shape [",
               weight.shape()[0], "], got ", shape_str(bias.shape()));
}
}  // namespace gpunet::ops::detail
