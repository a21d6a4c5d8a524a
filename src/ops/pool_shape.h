#pragma once
// The checks and output size shared by the pooling front ends (max_pool2d.cpp, pooling.cpp):
// PyTorch's rules for kernel, stride, padding (at most half the kernel) and ceil_mode (the
// last window must start inside the input or its left padding).
#include "kernels/max_pool2d.h"
#include "ops/common.h"

namespace gpunet::ops::detail {

inline int pool_output_size(int L, int K, int stride, int pad, bool ceil_mode) {
  const int64_t span = static_cast<int64_t>(L) + 2 * pad - K + (ceil_mode ? stride - 1 : 0);
  // floor division (span may be negative when the kernel exceeds the padded input)
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= static_cast<int64_t>(L) + pad) --out;
  return static_cast<int>(out);
}

/// stride 0 means stride = kernel (PyTorch's default). Throws naming the op and the value.
inline kernels::Pool2dShape pool2d_shape(const char* op, const Tensor& x, int kernel, int stride, int padding,
                                         bool ceil_mode) {
  check_float32(op, "input", x);
  check_dim(op, "input", x, 4, "NCHW");
  if (stride == 0) stride = kernel;
  GPUNET_INPUT_CHECK(kernel >= 1, op, ": kernel size must be >= 1, got ", kernel);
  GPUNET_INPUT_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  GPUNET_INPUT_CHECK(padding >= 0, op, ": padding must be >= 0, got ", padding);
  GPUNET_INPUT_CHECK(padding <= kernel / 2, op, ": pad should be at most half of effective kernel size, but got pad=",
                     padding, ", kernel_size=", kernel, " and dilation=1");
  kernels::Pool2dShape s{};
  s.N = to_int(op, x.shape()[0]);
  s.C = to_int(op, x.shape()[1]);
  s.H = to_int(op, x.shape()[2]);
  s.W = to_int(op, x.shape()[3]);
  s.K = kernel;
  s.stride = stride;
  s.pad = padding;
  s.OH = pool_output_size(s.H, kernel, stride, padding, ceil_mode);
  s.OW = pool_output_size(s.W, kernel, stride, padding, ceil_mode);
  // With pad <= K / 2 the output is empty only when the kernel exceeds the padded input.
  GPUNET_CHECK(s.OH >= 1 && s.OW >= 1, op, ": output size is too small: kernel ", kernel,
               " is larger than the padded input ", s.H + 2 * padding, "x", s.W + 2 * padding, " (input ",
               shape_str(x.shape()), ", padding ", padding, ")");
  return s;
}

}  // namespace gpunet::ops::detail
