#pragma once
// log_softmax, nll and cross-entropy with label smoothing (per-row losses and softmax in one
// row-parallel kernel, then a parallel reduction for mean/sum).
#include <cstdint>

namespace gpunet::kernels {

namespace cpu {
// logits: (N, C) -> out: (N, C) log-softmax over each row (max-subtracted).
template <typename T>
void log_softmax_forward(int N, int C, const T* logits, T* out);
// out: (N, C) log-softmax output, dout: (N, C) -> dx: (N, C) = dout - exp(out) * rowsum(dout)
template <typename T>
void log_softmax_backward(int N, int C, const T* out, const T* dout, T* dx);
template <typename T>
void softmax_forward(int N, int C, const T* logits, T* out);
// logp: (N, C), target: (N) -> loss: (1) mean of -logp[i, t_i]
template <typename T>
void nll_forward(int N, int C, const T* logp, const int64_t* target, T* loss);
// dloss: (1) -> dlogp: (N, C) = -dloss/N at the targets, 0 elsewhere
template <typename T>
void nll_backward(int N, int C, const int64_t* target, const T* dloss, T* dlogp);
// logits: (N, C), target: (N) -> row_loss: (N), probs: (N, C) softmax (saved for backward).
// row_loss[i] = (1 - smoothing) * -logp[i, t_i] + smoothing / C * sum_c -logp[i, c]
// (torch.nn.functional.cross_entropy's label smoothing).
template <typename T>
void cross_entropy_forward(int N, int C, const T* logits, const int64_t* target, double smoothing, T* row_loss,
                           T* probs);
// loss: (1) = scale * sum of row_loss (N), accumulated in double (scale 1/N: the mean).
template <typename T>
void cross_entropy_reduce(int N, const T* row_loss, double scale, T* loss);
// dlogits: (N, C) = (probs - (1 - smoothing) * onehot(t_i) - smoothing / C) * g_i, where
// g_i = scale * dloss[per_row ? i : 0] (dloss: (N) for reduction none, else (1)).
template <typename T>
void cross_entropy_backward(int N, int C, const T* probs, const int64_t* target, double smoothing, const T* dloss,
                            bool per_row, double scale, T* dlogits);
}  // namespace cpu

namespace cuda {
void log_softmax_forward(int N, int C, const float* logits, float* out);
void log_softmax_backward(int N, int C, const float* out, const float* dout, float* dx);
void softmax_forward(int N, int C, const float* logits, float* out);
void nll_forward(int N, int C, const float* logp, const int64_t* target, float* loss);
void nll_backward(int N, int C, const int64_t* target, const float* dloss, float* dlogp);
void cross_entropy_forward(int N, int C, const float* logits, const int64_t* target, double smoothing,
                           float* row_loss, float* probs);
void cross_entropy_reduce(int N, const float* row_loss, double scale, float* loss);
void cross_entropy_backward(int N, int C, const float* probs, const int64_t* target, double smoothing,
                            const float* dloss, bool per_row, double scale, float* dlogits);
}  // namespace cuda

}  // namespace gpunet::kernels
