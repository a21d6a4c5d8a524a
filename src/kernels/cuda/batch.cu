// The batch kernel on the GPU: gather + augment + normalise, one thread per output value,
// with the augmentation and normalisation functions shared with the CPU twin (batch.h), so
// the two give bit-identical batches. Labels are written by the threads of pixel 0.
#include "kernels/batch.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void gather_batch_kernel(BatchParams p, int B, const uint8_t* images, const uint8_t* labels,
                                    const int64_t* indices, float* x, int64_t* y) {
  const int64_t plane = static_cast<int64_t>(p.H) * p.W;
  const int64_t record = plane * p.C;
  const int64_t total = record * B;
  GPUNET_GRID_STRIDE(i, total) {
    const int j = static_cast<int>(i / record);
    const int64_t rest = i % record;
    const int c = static_cast<int>(rest / plane);
    const int oy = static_cast<int>((rest % plane) / p.W);
    const int ox = static_cast<int>(rest % p.W);
    const int64_t m = indices[j];
    const BatchChoice ch = batch_sample_choice(p, p.position + j, m);
    const int iy = batch_source_index(oy, ch.dy, p.crop_pad, p.H, p.reflect);
    int ix = batch_source_index(ch.post ? p.W - 1 - ox : ox, ch.dx, p.crop_pad, p.W, p.reflect);
    if (ix >= 0 && ch.pre) ix = p.W - 1 - ix;
    const bool inside = iy >= 0 && ix >= 0;
    const uint8_t v = inside ? images[m * record + c * plane + static_cast<int64_t>(iy) * p.W + ix] : uint8_t(0);
    x[i] = batch_normalize(v, p.mean[c], p.std[c]);
    if (rest == 0) y[j] = labels[m];
  }
}

}  // namespace

void gather_batch(const BatchParams& p, int B, const uint8_t* images, const uint8_t* labels, const int64_t* indices,
                  float* x, int64_t* y) {
  const int64_t total = static_cast<int64_t>(p.C) * p.H * p.W * B;
  if (total <= 0) return;
  gather_batch_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(p, B, images, labels, indices, x, y);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
