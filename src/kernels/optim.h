#pragma once
// Optimizer update kernels over n contiguous elements (one call per parameter group, over the
// group's run of a ParamStore's flat buffers). The per-step scalars are read from memory on the
// parameters' device (a CUDA graph replay then sees new values), laid out by the optimizer as
//   step_scalars: [0] steps completed so far (float64; exact up to 2^53)
//                 then per group g, at kGroupScalars * g + 1:  lr, bias_correction1, bias_correction2
// The hyper-parameters that never change during a run are passed by value. A learning-rate
// schedule is a float64 table [rows x groups] on the same device (row t: each group's lr at step
// t); optim_schedule_lr copies the row of the current step count into the groups' lr slots.
#include <cstdint>

namespace gpunet::kernels {

constexpr int64_t kGroupScalars = 3;
constexpr int64_t group_scalars_offset(int64_t group) { return 1 + kGroupScalars * group; }

struct SgdParams {
  float momentum, dampening, weight_decay;
  bool nesterov;
};
struct AdamParams {
  float beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
};

namespace cpu {
// PyTorch's torch.optim.SGD update, elementwise, with lr = (float)group[0] and first = (*step == 0):
//   d = g + wd*p; if momentum: buf = first ? d : momentum*buf + (1-dampening)*d;
//   d = nesterov ? d + momentum*buf : buf;  p -= lr*d
// group: this group's scalars (lr, ...); step: steps completed; momentum_buf may be null without momentum.
template <typename T>
void sgd_step(int64_t n, const SgdParams& h, const double* group, const double* step, T* param, const T* grad,
              T* momentum_buf);
// PyTorch's torch.optim.Adam / AdamW update (amsgrad off), with lr, bias_correction1 and
// bias_correction2 = group[0..2] (written by adam_bias_corrections for this step).
template <typename T>
void adam_step(int64_t n, const AdamParams& h, const double* group, T* param, const T* grad, T* exp_avg,
               T* exp_avg_sq);
// Before a group's adam_step: group[1] = 1 - beta1^t, group[2] = 1 - beta2^t with t = *step + 1
// (in double, as PyTorch computes them on the host).
void adam_bias_corrections(double beta1, double beta2, const double* step, double* group);
// After every group's update: *step += 1.
void optim_count_step(double* step);
// scalars[group_scalars_offset(g)] = table[min(scalars[0], rows - 1) * groups + g] for every
// group g < groups (the lr of the step about to run; the last row holds after the table's end).
void optim_schedule_lr(const double* table, int64_t rows, int64_t groups, double* scalars);
}  // namespace cpu

namespace cuda {
void sgd_step(int64_t n, const SgdParams& h, const double* group, const double* step, float* param, const float* grad,
              float* momentum_buf);
void adam_step(int64_t n, const AdamParams& h, const double* group, float* param, const float* grad, float* exp_avg,
               float* exp_avg_sq);
void adam_bias_corrections(double beta1, double beta2, const double* step, double* group);
void optim_count_step(double* step);
void optim_schedule_lr(const double* table, int64_t rows, int64_t groups, double* scalars);
}  // namespace cuda

}  // namespace gpunet::kernels
