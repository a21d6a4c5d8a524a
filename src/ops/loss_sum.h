#pragma once
// Internal op: the running loss of a training loop, summed in double on the device (as the seed's
// `running_loss += loss.item()` sums in double on the host), read only at log lines.
//   ops::add_to_running_loss(loss, running);   // running[0] += loss[0], no synchronisation
#include "gpunet/tensor.h"

namespace gpunet::ops {

/// running[0] += (double)loss[0]. Requires: loss float32 with one element, running float64
/// with one element, both contiguous on one device. Queued on that device's stream.
void add_to_running_loss(const Tensor& loss, const Tensor& running);

}  // namespace gpunet::ops
