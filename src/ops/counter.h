#pragma once
// Internal: in-place increment of a one-element int64 counter on its own device (no sync).
//   ops::detail::increment_(num_batches_tracked);    // += 1, in stream order
#include "gpunet/tensor.h"

namespace gpunet::ops::detail {
void increment_(const Tensor& counter, int64_t delta = 1);
}  // namespace gpunet::ops::detail
