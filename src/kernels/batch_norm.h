#pragma once
// batch_norm2d kernels over NCHW: per-channel statistics (accumulated in double), the
// normalisation, the running-statistics update and the backward, fused per channel.
#include <cstdint>

namespace gpunet::kernels {

struct BatchNormShape {
  int N, C;
  int64_t HW;  // H * W
};

namespace cpu {
// x: (N, C, H, W) -> out: (N, C, H, W) = (x - mean) * invstd * weight + bias per channel.
// use_batch_stats: mean/var of the batch (biased var), written to save_mean/save_invstd (C);
//   when running_mean/running_var (C) are non-null they are updated in place:
//   running = (1 - momentum) * running + momentum * batch (var unbiased: * M / (M - 1), M = N*HW).
// else: mean = running_mean, invstd = 1/sqrt(running_var + eps) (both non-null), saved likewise.
// weight/bias (C) may be null (1 and 0).
template <typename T>
void batch_norm_forward(const BatchNormShape& s, const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, bool use_batch_stats, double momentum, double eps, T* out, T* save_mean,
                        T* save_invstd);
// dout: (N, C, H, W) -> dx (N, C, H, W), dweight (C), dbias (C), each written fresh, each may be
// null. use_batch_stats: the mean/invstd depended on x (the full batch-norm gradient); else they
// were constants (dx = dout * weight * invstd).
template <typename T>
void batch_norm_backward(const BatchNormShape& s, const T* x, const T* weight, const T* save_mean,
                         const T* save_invstd, bool use_batch_stats, const T* dout, T* dx, T* dweight, T* dbias);
// Per-channel sums over N, H and W, accumulated in double, for batch statistics shared between
// processes (sync batch norm): out[c] = sum x when center is null, else sum (x - center[c])^2.
template <typename T>
void batch_norm_channel_sums(const BatchNormShape& s, const T* x, const double* center, double* out);
// out = (x - mean) * invstd * weight + bias with given per-channel statistics (double, C each);
// save_mean/save_invstd (C) receive them rounded. weight/bias may be null (1 and 0).
template <typename T>
void batch_norm_apply(const BatchNormShape& s, const T* x, const T* weight, const T* bias, const double* mean,
                      const double* invstd, T* out, T* save_mean, T* save_invstd);
// The local sums of the backward, in double: out[c] = sum dout, out[C + c] = sum dout * xhat,
// xhat = (x - save_mean) * save_invstd.
template <typename T>
void batch_norm_backward_sums(const BatchNormShape& s, const T* x, const T* save_mean, const T* save_invstd,
                              const T* dout, double* out);
// dx = weight * invstd * (dout - sums[c] / count - xhat * sums[C + c] / count), with the sums
// (of dout and dout * xhat) and the count over every process's batch.
template <typename T>
void batch_norm_backward_apply(const BatchNormShape& s, const T* x, const T* weight, const T* save_mean,
                               const T* save_invstd, const T* dout, const double* sums, double count, T* dx);
}  // namespace cpu

namespace cuda {
void batch_norm_forward(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, bool use_batch_stats, double momentum, double eps,
                        float* out, float* save_mean, float* save_invstd);
void batch_norm_backward(const BatchNormShape& s, const float* x, const float* weight, const float* save_mean,
                         const float* save_invstd, bool use_batch_stats, const float* dout, float* dx,
                         float* dweight, float* dbias);
void batch_norm_channel_sums(const BatchNormShape& s, const float* x, const double* center, double* out);
void batch_norm_apply(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                      const double* mean, const double* invstd, float* out, float* save_mean, float* save_invstd);
void batch_norm_backward_sums(const BatchNormShape& s, const float* x, const float* save_mean,
                              const float* save_invstd, const float* dout, double* out);
void batch_norm_backward_apply(const BatchNormShape& s, const float* x, const float* weight, const float* save_mean,
                               const float* save_invstd, const float* dout, const double* sums, double count,
                               float* dx);

// cuDNN's batch norm with the same parameter lists (batch_norm_cudnn.cu): the candidate that the
// validate-then-time benchmark bench/bn_cuda.cpp compares with the own kernels above, which
// ops::batch_norm2d uses until that comparison, run on a GPU, shows cuDNN faster. Training mode
// with weight and bias only (supported() says so); backward needs dx, dweight and dbias.
bool batch_norm_cudnn_supported(const BatchNormShape& s, const float* weight, const float* bias, bool use_batch_stats,
                                double eps);
void batch_norm_forward_cudnn(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                              float* running_mean, float* running_var, bool use_batch_stats, double momentum,
                              double eps, float* out, float* save_mean, float* save_invstd);
void batch_norm_backward_cudnn(const BatchNormShape& s, const float* x, const float* weight, const float* save_mean,
                               const float* save_invstd, bool use_batch_stats, const float* dout, float* dx,
                               float* dweight, float* dbias);
}  // namespace cuda

}  // namespace gpunet::kernels
