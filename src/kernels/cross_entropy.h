#pragma once
// log_softmax, nll and the fused cross-entropy (softmax + NLL in one kernel on the GPU).
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
// logits: (N, C), target: (N) -> loss: (1) mean cross-entropy; probs: (N, C) softmax (saved for backward)
template <typename T>
void cross_entropy_forward(int N, int C, const T* logits, const int64_t* target, T* loss, T* probs);
// dlogits = (probs - onehot(target)) * dloss[0] / N
template <typename T>
void cross_entropy_backward(int N, int C, const T* probs, const int64_t* target, const T* dloss, T* dlogits);
}  // namespace cpu

namespace cuda {
void log_softmax_forward(int N, int C, const float* logits, float* out);
void log_softmax_backward(int N, int C, const float* out, const float* dout, float* dx);
void softmax_forward(int N, int C, const float* logits, float* out);
void nll_forward(int N, int C, const float* logp, const int64_t* target, float* loss);
void nll_backward(int N, int C, const int64_t* target, const float* dloss, float* dlogp);
void cross_entropy_forward(int N, int C, const float* logits, const int64_t* target, float* loss, float* probs);
void cross_entropy_backward(int N, int C, const float* probs, const int64_t* target, const float* dloss,
                            float* dlogits);
}  // namespace cuda

}  // namespace gpunet::kernels
