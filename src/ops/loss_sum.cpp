// Front end of the running-loss add (TrainStep's on-device loss sum).
#include "ops/loss_sum.h"

#include "kernels/loss_sum.h"
#include "ops/dispatch.h"

namespace gpunet::ops {

void add_to_running_loss(const Tensor& loss, const Tensor& running) {
  const char* op = "add_to_running_loss";
  GPUNET_CHECK(loss.dtype() == DType::Float32 && loss.numel() == 1, op, ": expected a one-element float32 loss, got ",
               dtype_name(loss.dtype()), " ", shape_str(loss.shape()));
  GPUNET_CHECK(running.dtype() == DType::Float64 && running.numel() == 1, op,
               ": expected a one-element float64 sum, got ", dtype_name(running.dtype()), " ",
               shape_str(running.shape()));
  check_same_device(op, loss, running);
  GPUNET_DISPATCH(op, loss.device(), add_to_double, loss.data<float>(), running.data<double>());
}

}  // namespace gpunet::ops
