// Optimizer updates on the CPU, elementwise, in PyTorch's exact operation order
// (torch.optim.SGD / Adam / AdamW, single-tensor path, float32 arithmetic). The per-step
// scalars (lr, step count, bias corrections) are read from memory, as the CUDA twins read them.
#include <cmath>

#include "kernels/optim.h"

namespace gpunet::kernels::cpu {

template <typename T>
void sgd_step(int64_t n, const SgdParams& h, const double* group, const double* step, T* param, const T* grad,
              T* momentum_buf) {
  const T lr = static_cast<T>(static_cast<float>(group[0]));
  const bool first_step = *step == 0.0;  // momentum buffer not yet initialised: buf = d_p (PyTorch)
  const T mom = h.momentum, wd = h.weight_decay;
  const T one_minus_damp = static_cast<T>(1.0 - static_cast<double>(h.dampening));
  if (h.momentum != 0 && h.weight_decay == 0 && !h.nesterov && !first_step) {
    // The seed's case (momentum, after the first step), branch-free so that it vectorises;
    // the same operations in the same order as the general loop below.
    T* __restrict p = param;
    const T* __restrict g = grad;
    T* __restrict b = momentum_buf;
    for (int64_t i = 0; i < n; ++i) {
      const T buf = b[i] * mom + one_minus_damp * g[i];
      b[i] = buf;
      p[i] = p[i] + (-lr) * buf;
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    T d = grad[i];
    if (h.weight_decay != 0) d = d + wd * param[i];  // d_p = d_p.add(param, alpha=wd)
    if (h.momentum != 0) {
      T buf;
      if (first_step) buf = d;                                // buf = clone(d_p)
      else buf = momentum_buf[i] * mom + one_minus_damp * d;  // buf.mul_(m).add_(d_p, alpha=1-damp)
      momentum_buf[i] = buf;
      d = h.nesterov ? d + mom * buf : buf;  // d_p.add(buf, alpha=momentum) or buf
    }
    param[i] = param[i] + (-lr) * d;  // param.add_(d_p, alpha=-lr)
  }
}

template <typename T>
void adam_step(int64_t n, const AdamParams& h, const double* group, T* param, const T* grad, T* exp_avg,
               T* exp_avg_sq) {
  const double lr = group[0], bias_correction1 = group[1], bias_correction2 = group[2];
  const T wd = h.weight_decay, b2 = h.beta2, eps = h.eps;
  const T decay = static_cast<T>(1.0 - lr * h.weight_decay);                  // AdamW: 1 - lr*wd
  const T lerp_w = static_cast<T>(1.0 - static_cast<double>(h.beta1));       // 1 - beta1
  const T one_minus_b2 = static_cast<T>(1.0 - static_cast<double>(h.beta2));
  const T step_size = static_cast<T>(lr / bias_correction1);                  // lr / bc1
  const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (h.weight_decay != 0) {
      if (h.decoupled) param[i] = param[i] * decay;  // param.mul_(1 - lr*wd)
      else g = g + wd * param[i];                    // grad = grad.add(param, alpha=wd)
    }
    // exp_avg.lerp_(grad, 1-beta1), with PyTorch's lerp formula for weight < 0.5.
    const T m = exp_avg[i];
    const T m_new = lerp_w < T(0.5) ? m + lerp_w * (g - m) : g - (g - m) * (T(1) - lerp_w);
    exp_avg[i] = m_new;
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
    const T v_new = exp_avg_sq[i] * b2 + one_minus_b2 * g * g;
    exp_avg_sq[i] = v_new;
    // denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps); param.addcdiv_(exp_avg, denom, value=-step_size)
    const T denom = std::sqrt(v_new) / bc2_sqrt + eps;
    param[i] = param[i] + (-step_size) * m_new / denom;
  }
}

void adam_bias_corrections(double beta1, double beta2, const double* step, double* group) {
  const double t = *step + 1.0;
  group[1] = 1.0 - std::pow(beta1, t);
  group[2] = 1.0 - std::pow(beta2, t);
}

void optim_count_step(double* step) { *step += 1.0; }

void optim_schedule_lr(const double* table, int64_t rows, int64_t groups, double* scalars) {
  const double last = static_cast<double>(rows - 1);
  const int64_t row = static_cast<int64_t>(scalars[0] < last ? scalars[0] : last);
  for (int64_t g = 0; g < groups; ++g) scalars[group_scalars_offset(g)] = table[row * groups + g];
}

template void sgd_step<float>(int64_t, const SgdParams&, const double*, const double*, float*, const float*, float*);
template void sgd_step<double>(int64_t, const SgdParams&, const double*, const double*, double*, const double*,
                               double*);
template void adam_step<float>(int64_t, const AdamParams&, const double*, float*, const float*, float*, float*);
template void adam_step<double>(int64_t, const AdamParams&, const double*, double*, const double*, double*, double*);

}  // namespace gpunet::kernels::cpu
