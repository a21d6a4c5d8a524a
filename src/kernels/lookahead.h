#pragma once
// The lookahead EMA's one kernel (the airbench recipe's lookahead; optim::Lookahead calls it over
// the parameter store's flat buffer and over each floating-point buffer), n contiguous elements:
//   w = (float)(1 - *decay);  ema <- lerp(ema, net, w);  net <- ema
// with PyTorch's lerp (weight-dependent form, one fused multiply-add):
//   |w| < 0.5:  fma(w, net - ema, ema)        else:  fma(w - 1, net - ema, net)
// decay is read from memory on the tensors' device, so a CUDA graph replay sees a new value.
#include <cstdint>

namespace gpunet::kernels {

namespace cpu {
template <typename T>
void lookahead_update(int64_t n, const double* decay, T* ema, T* net);
}  // namespace cpu

namespace cuda {
void lookahead_update(int64_t n, const double* decay, float* ema, float* net);
}  // namespace cuda

}  // namespace gpunet::kernels
