#pragma once
// Optimizer update kernels over n contiguous elements (one call for a flat parameter buffer).
#include <cstdint>

namespace gpunet::kernels {

struct SgdParams {
  float lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first_step;  // momentum buffer not yet initialised: buf = d_p (PyTorch)
};
struct AdamParams {
  float lr, beta1, beta2, eps, weight_decay;
  bool decoupled;        // AdamW
  float bias_correction1, bias_correction2;  // 1 - beta^t, computed on the host per step
};

namespace cpu {
// PyTorch's torch.optim.SGD update, elementwise:
//   d = g + wd*p; if momentum: buf = first ? d : momentum*buf + (1-dampening)*d;
//   d = nesterov ? d + momentum*buf : buf;  p -= lr*d
template <typename T>
void sgd_step(int64_t n, const SgdParams& h, T* param, const T* grad, T* momentum_buf);
// PyTorch's torch.optim.Adam / AdamW update (amsgrad off).
template <typename T>
void adam_step(int64_t n, const AdamParams& h, T* param, const T* grad, T* exp_avg, T* exp_avg_sq);
}  // namespace cpu

namespace cuda {
void sgd_step(int64_t n, const SgdParams& h, float* param, const float* grad, float* momentum_buf);
void adam_step(int64_t n, const AdamParams& h, float* param, const float* grad, float* exp_avg, float* exp_avg_sq);
}  // namespace cuda

}  // namespace gpunet::kernels
