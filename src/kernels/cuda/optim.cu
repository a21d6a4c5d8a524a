// Optimizer updates on the GPU: one kernel over a parameter group's run of the flat buffers, the
// CPU twin's operation order (PyTorch's single-tensor SGD / Adam / AdamW). The per-step scalars
// (lr, step count, bias corrections) are read from device memory, so a replayed CUDA graph sees
// the values of the step it replays; the tiny kernels that advance them (the step count, the
// scheduled lr read from its table) run in stream order.
#include "kernels/optim.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void sgd_kernel(int64_t n, SgdParams h, const double* group, const double* step, float* param,
                           const float* grad, float* momentum_buf) {
  const float lr = static_cast<float>(group[0]);
  const bool first_step = *step == 0.0;
  const float one_minus_damp = static_cast<float>(__dadd_rn(1.0, -static_cast<double>(h.dampening)));
  GPUNET_GRID_STRIDE(i, n) {
    float d = grad[i];
    if (h.weight_decay != 0.0f) d = d + h.weight_decay * param[i];
    if (h.momentum != 0.0f) {
      const float buf = first_step ? d : momentum_buf[i] * h.momentum + one_minus_damp * d;
      momentum_buf[i] = buf;
      d = h.nesterov ? d + h.momentum * buf : buf;
    }
    param[i] = param[i] + (-lr) * d;
  }
}

// The per-step constants, computed once per block in double exactly as the CPU twin does.
struct AdamConsts {
  float decay, lerp_w, one_minus_b2, step_size, bc2_sqrt;
};

__global__ void adam_kernel(int64_t n, AdamParams h, const double* group, float* param, const float* grad,
                            float* exp_avg, float* exp_avg_sq) {
  __shared__ AdamConsts k;
  if (threadIdx.x == 0) {
    const double lr = group[0];
    k.decay = static_cast<float>(__dadd_rn(1.0, -__dmul_rn(lr, static_cast<double>(h.weight_decay))));
    k.lerp_w = static_cast<float>(__dadd_rn(1.0, -static_cast<double>(h.beta1)));
    k.one_minus_b2 = static_cast<float>(__dadd_rn(1.0, -static_cast<double>(h.beta2)));
    k.step_size = static_cast<float>(__ddiv_rn(lr, group[1]));
    k.bc2_sqrt = static_cast<float>(__dsqrt_rn(group[2]));
  }
  __syncthreads();
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

__global__ void adam_bias_corrections_kernel(double beta1, double beta2, const double* step, double* group) {
  const double t = *step + 1.0;
  group[1] = 1.0 - pow(beta1, t);
  group[2] = 1.0 - pow(beta2, t);
}

__global__ void optim_count_step_kernel(double* step) { *step += 1.0; }

__global__ void optim_schedule_lr_kernel(const double* table, int64_t rows, int64_t groups, double* scalars) {
  const double last = static_cast<double>(rows - 1);
  const int64_t row = static_cast<int64_t>(scalars[0] < last ? scalars[0] : last);
  for (int64_t g = threadIdx.x; g < groups; g += blockDim.x)
    scalars[1 + kGroupScalars * g] = table[row * groups + g];
}

}  // namespace

void sgd_step(int64_t n, const SgdParams& h, const double* group, const double* step, float* param, const float* grad,
              float* momentum_buf) {
  if (n <= 0) return;
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, h, group, step, param, grad, momentum_buf);
  GPUNET_KERNEL_CHECK();
}

void adam_step(int64_t n, const AdamParams& h, const double* group, float* param, const float* grad, float* exp_avg,
               float* exp_avg_sq) {
  if (n <= 0) return;
  adam_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, h, group, param, grad, exp_avg, exp_avg_sq);
  GPUNET_KERNEL_CHECK();
}

void adam_bias_corrections(double beta1, double beta2, const double* step, double* group) {
  adam_bias_corrections_kernel<<<1, 1, 0, stream()>>>(beta1, beta2, step, group);
  GPUNET_KERNEL_CHECK();
}

void optim_count_step(double* step) {
  optim_count_step_kernel<<<1, 1, 0, stream()>>>(step);
  GPUNET_KERNEL_CHECK();
}

void optim_schedule_lr(const double* table, int64_t rows, int64_t groups, double* scalars) {
  if (rows <= 0 || groups <= 0) return;
  optim_schedule_lr_kernel<<<1, 32, 0, stream()>>>(table, rows, groups, scalars);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
