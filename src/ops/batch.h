#pragma once
// Internal: the data path's batch op, the one route from src/data/ into the batch kernels
// (kernels/batch.h documents what they compute).
//
//   ops::detail::BatchParams p = ...;   // image shape, normalisation, augmentation, seed
//   ops::detail::gather_batch(dev, p, B, images, labels, indices, x, y);
//
// Requires: every pointer addresses memory on `dev` (host memory for the CPU); images is
// (M, C, H, W) uint8, labels (M) uint8, indices (B) int64 with values in [0, M); x has room for
// (B, C, H, W) floats and y for B int64s. Guarantees: x and y are written in full; the CPU and
// the CUDA twin give bit-identical batches; on cuda:N the kernel runs on device N (the caller's
// current device is restored). Throws naming "gather_batch" for a CUDA device in a CPU-only build.
#include <cstdint>

#include "gpunet/device.h"
#include "kernels/batch.h"

namespace gpunet::ops::detail {

using BatchParams = ::gpunet::kernels::BatchParams;

void gather_batch(Device dev, const BatchParams& p, int64_t B, const uint8_t* images, const uint8_t* labels,
                  const int64_t* indices, float* x, int64_t* y);

}  // namespace gpunet::ops::detail
