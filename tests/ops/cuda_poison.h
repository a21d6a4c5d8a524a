#pragma once
// Poisoning for the GPU parity tests: a kernel that leaves an output element unwritten must
// fail, not pass on whatever the memory held (often the right answer from a previous run).
//
// Kernel-level tests allocate their outputs poisoned (poisoned_on_gpu). Op-level tests cannot
// reach the outputs an op allocates, so poison_gpu_cache() fills the caching allocator's free
// lists with NaN blocks of the sizes the op is about to ask for: the allocator hands freed blocks
// of the same size class back first, so the op's outputs start as NaN. The test
// CudaPoison.CacheHandsOutPoisonedBlocks checks that this holds.
#include <cmath>
#include <cstdint>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet::test {

// A float32 GPU tensor of `n` NaNs.
inline Tensor poisoned_on_gpu(int64_t n, Device dev = Device::cuda(0)) {
  return Tensor::full({n}, std::nan(""), DType::Float32, dev);
}

// Empties `dev`'s cache, then leaves `copies` freed NaN blocks of each size in `numels` (float32
// elements) in it. Call after uploading the inputs and right before the op under test.
inline void poison_gpu_cache(const std::vector<int64_t>& numels, int copies = 3, Device dev = Device::cuda(0)) {
  memory::empty_cache(dev);
  std::vector<Tensor> hold;
  for (int64_t n : numels)
    for (int c = 0; c < copies; ++c) hold.push_back(poisoned_on_gpu(n > 0 ? n : 1, dev));
  // `hold` is freed here: its NaN blocks go back to the free lists.
}

}  // namespace gpunet::test
