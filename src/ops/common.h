#pragma once
// Internal helpers shared by the op front ends in src/ops/: the checks every op makes once,
// and the device switch's CUDA side.
#include <string>

#include "gpunet/autograd.h"
#include "gpunet/config.h"
#include "gpunet/ops.h"
#include "gpunet/tensor.h"

namespace gpunet::ops::detail {

/// Throws "<op>: <what> is undefined" when t has no value.
void check_defined(const char* op, const char* what, const Tensor& t);
/// Throws "<op>: expected <what> to be float32, got int64" unless t is a defined float32 tensor.
void check_float32(const char* op, const char* what, const Tensor& t);
/// Throws unless t is a defined int64 tensor.
void check_int64(const char* op, const char* what, const Tensor& t);
/// Throws "<op>: expected a <d>-D <layout> <what>, got [..]" unless t has d dimensions.
void check_dim(const char* op, const char* what, const Tensor& t, int d, const char* layout = "");
// When `bias` is defined: float32, on x's device, of shape [weight.shape()[0]].
void check_bias(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias);
/// Throws unless v fits a kernel's 32-bit int dimension.
int to_int(const char* op, int64_t v);
/// Makes `dev` current on this thread before CUDA kernels run (a no-op for the CPU).
void use_device(Device dev);
/// Throws "<op>: tensor on <dev>, but this is a CPU-only build".
[[noreturn]] void no_cuda(const char* op, Device dev);
/// On the CPU: throws naming the op when any target is outside [0, C). (On a GPU the
/// check would cost a synchronisation; the kernels there treat targets as valid.)
void check_targets_cpu(const char* op, const Tensor& target, int64_t C);

}  // namespace gpunet::ops::detail
