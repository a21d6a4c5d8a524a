// cuDNN's batch norm (CUDNN_BATCHNORM_SPATIAL), the candidate the validate-then-time benchmark
// (bench/bn_cuda.cpp, run by tools/gpu_check.sh) compares with the own fused kernels of
// batch_norm.cu. Same parameter lists as those kernels; training mode with an affine weight and
// bias only (batch_norm_cudnn_supported says when). The statistics follow cuDNN's float
// reductions, so they agree with the CPU reference to float rounding, not bit for bit; the running
// variance is updated with the unbiased variance, as PyTorch's convention. Descriptors are made
// once per shape and kept (per thread).
#include <map>
#include <tuple>

#include "kernels/batch_norm.h"
#include "kernels/cuda/common.cuh"

// The legacy batch-norm entry points are deprecated in cuDNN 9 in favour of the graph API, and
// still shipped; they are what PyTorch's cudnn_batch_norm calls.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#pragma nv_diag_suppress 1444

namespace gpunet::kernels::cuda {
namespace {

struct Descs {
  cudnnTensorDescriptor_t x = nullptr, per_channel = nullptr;
};

const Descs& descs_for(const BatchNormShape& s) {
  thread_local std::map<std::tuple<int, int, int64_t, int>, Descs> cache;
  int dev = 0;
  GPUNET_CUDA_CHECK(cudaGetDevice(&dev));
  Descs& d = cache[{s.N, s.C, s.HW, dev}];
  if (!d.x) {
    GPUNET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d.x));
    GPUNET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d.per_channel));
    GPUNET_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.N, s.C, static_cast<int>(s.HW), 1));
    GPUNET_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(d.per_channel, d.x, CUDNN_BATCHNORM_SPATIAL));
  }
  return d;
}

}  // namespace

bool batch_norm_cudnn_supported(const BatchNormShape& s, const float* weight, const float* bias,
                                bool use_batch_stats, double eps) {
  return use_batch_stats && weight != nullptr && bias != nullptr && eps >= CUDNN_BN_MIN_EPSILON &&
         s.HW <= (int64_t(1) << 30) && int64_t(s.N) * s.HW > 1;
}

void batch_norm_forward_cudnn(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                              float* running_mean, float* running_var, bool use_batch_stats, double momentum,
                              double eps, float* out, float* save_mean, float* save_invstd) {
  GPUNET_CHECK(batch_norm_cudnn_supported(s, weight, bias, use_batch_stats, eps),
               "batch_norm2d: the cuDNN path takes training mode with weight and bias only");
  const Descs& d = descs_for(s);
  const float one = 1.0f, zero = 0.0f;
  GPUNET_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      ::gpunet::cuda::detail::cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x, x, d.x, out, d.per_channel, weight,
      bias, running_mean ? momentum : 0.0, running_mean, running_var, eps, save_mean, save_invstd));
}

void batch_norm_backward_cudnn(const BatchNormShape& s, const float* x, const float* weight, const float* save_mean,
                               const float* save_invstd, bool use_batch_stats, const float* dout, float* dx,
                               float* dweight, float* dbias) {
  GPUNET_CHECK(use_batch_stats && weight && dx && dweight && dbias,
               "batch_norm2d: the cuDNN backward takes training mode with dx, dweight and dbias");
  const Descs& d = descs_for(s);
  const float one = 1.0f, zero = 0.0f;
  // eps only matters when the saved statistics are absent; they are always given here.
  GPUNET_CUDNN_CHECK(cudnnBatchNormalizationBackward(::gpunet::cuda::detail::cudnn(), CUDNN_BATCHNORM_SPATIAL, &one,
                                                     &zero, &one, &zero, d.x, x, d.x, dout, d.x, dx, d.per_channel,
                                                     weight, dweight, dbias, CUDNN_BN_MIN_EPSILON, save_mean,
                                                     save_invstd));
}

}  // namespace gpunet::kernels::cuda
