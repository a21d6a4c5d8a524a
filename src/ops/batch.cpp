// The data path's batch op: checks, then GPUNET_DISPATCH into kernels/batch.h.
#include "ops/batch.h"

#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops::detail {

void gather_batch(Device dev, const BatchParams& p, int64_t B, const uint8_t* images, const uint8_t* labels,
                  const int64_t* indices, float* x, int64_t* y) {
  const char* op = "gather_batch";
  GPUNET_CHECK(p.C >= 1 && p.C <= 4 && p.H >= 1 && p.W >= 1, op, ": image shape (", p.C, ", ", p.H, ", ", p.W,
               ") needs 1-4 channels and a non-empty plane");
  GPUNET_CHECK(p.crop_pad >= 0 && (!p.reflect || (p.crop_pad < p.H && p.crop_pad < p.W)), op, ": crop padding ",
               p.crop_pad, (p.reflect ? " by reflection needs 0 <= padding < the image side " : " must be >= 0 "),
               "(image ", p.H, "x", p.W, ")");
  const int b = to_int(op, B);
  check_numel(op, "an image", static_cast<int64_t>(p.C) * p.H * p.W);
  if (b == 0) return;
  GPUNET_CHECK(images && labels && indices && x && y, op, ": a buffer of a ", b, "-sample batch is null");
  GPUNET_DISPATCH(op, dev, gather_batch, p, b, images, labels, indices, x, y);
}

}  // namespace gpunet::ops::detail
