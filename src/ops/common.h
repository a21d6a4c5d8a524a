#pragma once
// Internal helpers shared by the op front ends in src/ops/: the checks every op makes once.
// The device switch into kernels is GPUNET_DISPATCH (src/ops/dispatch.h), which also declares
// no_cuda, the one place that reports a CPU-only build.
#include <cstdint>
#include <string>

#include "gpunet/autograd.h"
#include "gpunet/config.h"
#include "gpunet/ops.h"
#include "gpunet/tensor.h"
#include "ops/dispatch.h"

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
/// Throws "<op>: dimension <v> is out of the supported range [0, 2^31)" unless v fits a
/// kernel's 32-bit int dimension.
int to_int(const char* op, int64_t v);
/// True when op runs in bf16 now (gpunet::Autocast BF16 on this thread) on `device`; throws
/// gpunet::Error naming op when that device is a GPU (no GPU bf16 path yet).
bool autocast_bf16(const char* op, Device device);
/// Throws "<op>: <what> has <n> elements, more than the <limit> its kernels can index" when
/// n > limit (for kernels that index a product of int dimensions in 32 bits).
void check_numel(const char* op, const char* what, int64_t n, int64_t limit = INT32_MAX);
/// On the CPU: throws naming the op when any target is outside [0, C). (On a GPU the
/// check would cost a synchronisation; the kernels there treat targets as valid.)
void check_targets_cpu(const char* op, const Tensor& target, int64_t C);

}  // namespace gpunet::ops::detail
