#pragma once
// Internal: the front ends of the Tensor's own storage kernels (kernels/copy.h) and of the
// autograd engine's accumulation. src/core/ and src/autograd/ call these instead of kernels, so
// only src/ops/ (and src/optim/) reach kernels, through GPUNET_DISPATCH.
#include "gpunet/tensor.h"

namespace gpunet::ops::detail {

/// dst[i] = src[i] for every index of their (equal) shape, on their (common) device, whatever
/// either's strides: a gather into a contiguous tensor, a scatter into a strided one, or both.
/// Requires: same dtype, shape and device; dst does not overlap src. No autograd.
void copy_strided(const char* op, const Tensor& dst, const Tensor& src);
/// Every element of t = value (converted to t's dtype); any strides. No autograd.
void fill(const char* op, const Tensor& t, double value);
/// A new contiguous tensor of dtype `dt` on x's device with x's values converted. No autograd.
Tensor convert(const char* op, const Tensor& x, DType dt);
/// Records on `out` (a fresh copy of x with x's shape, e.g. from contiguous() or clone()) a
/// backward that passes the gradient through unchanged, when x requires grad; returns out.
Tensor record_copy(const char* op, const Tensor& x, Tensor out);
/// dst += src in place (the autograd engine's accumulation into .grad). Requires: same device,
/// dtype (float32; float64 on the CPU) and number of elements; dst contiguous. No autograd.
void accumulate_(const Tensor& dst, const Tensor& src);

}  // namespace gpunet::ops::detail
