// Front end of the device-side counter increment.
#include "ops/counter.h"

#include "kernels/counter.h"
#include "ops/dispatch.h"

namespace gpunet::ops::detail {

void increment_(const Tensor& counter, int64_t delta) {
  const char* op = "increment_";
  GPUNET_CHECK(counter.defined() && counter.dtype() == DType::Int64 && counter.numel() == 1, op,
               ": expected a one-element int64 counter, got ",
               counter.defined() ? dtype_name(counter.dtype()) + std::string(" ") + shape_str(counter.shape())
                                 : std::string("an undefined tensor"));
  GPUNET_DISPATCH(op, counter.device(), add_i64, delta, counter.data<int64_t>());
}

}  // namespace gpunet::ops::detail
