// Optimizer updates on the GPU: one kernel over a flat parameter buffer, the CPU twin's
// operation order (PyTorch's single-tensor SGD / Adam / AdamW); first_step handled in-kernel.
#include "kernels/optim.h"

#include <cmath>

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void sgd_kernel(int64_t n, SgdParams h, float one_minus_damp, float* param, const float* grad,
                           float* momentum_buf) {
  GPUNET_GRID_STRIDE(i, n) {
    float d = grad[i];
    if (h.weight_decay != 0.0f) d = d + h.weight_decay * param[i];
    if (h.momentum != 0.0f) {
      const float buf = h.first_step ? d : momentum_buf[i] * h.momentum + one_minus_damp * d;
      momentum_buf[i] = buf;
      d = h.nesterov ? d + h.momentum * buf : buf;
    }
    param[i] = param[i] + (-h.lr) * d;
  }
}

struct AdamConsts {
  float decay, lerp_w, one_minus_b2, step_size, bc2_sqrt;
};

__global__ void adam_kernel(int64_t n, AdamParams h, AdamConsts k, float* param, const float* grad, float* exp_avg,
                            float* exp_avg_sq) {
  GPUNET_GRID_STRIDE(i, n) {
    float g = grad[i];
    if (h.weight_decay != 0.0f) {
      if (h.decoupled) param[i] = param[i] * k.decay;
      else g = g + h.weight_decay * param[i];
    }
    const float m = exp_avg[i];
    const float m_new = k.lerp_w < 0.5f ? m + k.lerp_w * (g - m) : g - (g - m) * (1.0f - k.lerp_w);
    exp_avg[i] = m_new;
    const float v_new = exp_avg_sq[i] * h.beta2 + k.one_minus_b2 * g * g;
    exp_avg_sq[i] = v_new;
    const float denom = sqrtf(v_new) / k.bc2_sqrt + h.eps;
    param[i] = param[i] + (-k.step_size) * m_new / denom;
  }
}

}  // namespace

void sgd_step(int64_t n, const SgdParams& h, float* param, const float* grad, float* momentum_buf) {
  if (n <= 0) return;
  const float one_minus_damp = static_cast<float>(1.0 - static_cast<double>(h.dampening));
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, h, one_minus_damp, param, grad, momentum_buf);
  GPUNET_KERNEL_CHECK();
}

void adam_step(int64_t n, const AdamParams& h, float* param, const float* grad, float* exp_avg, float* exp_avg_sq) {
  if (n <= 0) return;
  // The per-step constants, computed on the host exactly as the CPU twin does.
  AdamConsts k;
  k.decay = static_cast<float>(1.0 - static_cast<double>(h.lr) * h.weight_decay);
  k.lerp_w = static_cast<float>(1.0 - static_cast<double>(h.beta1));
  k.one_minus_b2 = static_cast<float>(1.0 - static_cast<double>(h.beta2));
  k.step_size = static_cast<float>(static_cast<double>(h.lr) / h.bias_correction1);
  k.bc2_sqrt = static_cast<float>(std::sqrt(static_cast<double>(h.bias_correction2)));
  adam_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, h, k, param, grad, exp_avg, exp_avg_sq);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
