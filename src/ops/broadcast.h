#pragma once
// Broadcasting (numpy's rules) for the binary ops: ops::add/sub/mul (src/ops/elementwise.cpp)
// call detail::broadcast_binary when the operands' shapes need it; ops::div always does.
#include "gpunet/tensor.h"
#include "kernels/broadcast.h"

namespace gpunet::ops::detail {

/// True when a op b is neither same-shape nor "b one element": the broadcasting path's case.
bool needs_broadcast(const Tensor& a, const Tensor& b);
/// a op b with numpy broadcasting, recorded for autograd (the gradient of a broadcast operand is
/// summed over its broadcast dimensions). Throws naming the op and both shapes when they do not broadcast.
Tensor broadcast_binary(kernels::BroadcastOp op, const Tensor& a, const Tensor& b);
/// g summed down to `shape` (which g's shape broadcasts from); g itself when the shapes match.
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace gpunet::ops::detail
