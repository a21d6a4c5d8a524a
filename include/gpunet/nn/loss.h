#pragma once
/// Loss modules. CrossEntropyLoss: mean cross-entropy of (N, C) logits against (N) int64
/// class indices, computed on the inputs' device (one fused kernel on a GPU).
///   auto criterion = gpunet::nn::CrossEntropyLoss().to(device);   // as in the seed
///   auto loss = criterion(outputs, labels);
#include "gpunet/ops.h"

namespace gpunet::nn {

class CrossEntropyLoss {
 public:
  /// A loss has no state: moving it is free and returns itself (the seed's `.to(device)`).
  CrossEntropyLoss& to(Device) { return *this; }
  Tensor operator()(const Tensor& logits, const Tensor& target) const { return ops::cross_entropy(logits, target); }
};

}  // namespace gpunet::nn
