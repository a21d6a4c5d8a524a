// batch_norm2d on the GPU, own fused kernels: one block per channel (grid-stride over channels
// when C > 65535). The forward makes two passes for the statistics (mean, then the centred sum
// of squares, each thread accumulating in double, reduced in a fixed tree: deterministic), then
// normalises the channel in the same block; the backward reduces sum(dout) and sum(dout * xhat)
// the same way and writes dx in the same block. No scratch memory, no atomics.
// Why not cuDNN: no GPU was available to run the validate-then-time benchmark the issue asks
// for; these kernels are the reference-exact choice until that comparison is made.
#include "kernels/batch_norm.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

constexpr int kBnThreads = 512;

// Sum over the block, broadcast to every thread.
__device__ double block_sum_all(double v) {
  __shared__ double result;
  v = block_sum(v);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  const double r = result;
  __syncthreads();  // result may be overwritten by the next call
  return r;
}

// Element k in [0, N*HW) of channel c.
__device__ __forceinline__ int64_t bn_index(const BatchNormShape& s, int c, int64_t k) {
  const int64_t n = k / s.HW, i = k % s.HW;
  return (n * s.C + c) * s.HW + i;
}

__global__ void batch_norm_forward_kernel(BatchNormShape s, const float* x, const float* weight, const float* bias,
                                          float* running_mean, float* running_var, bool use_batch_stats,
                                          double momentum, double eps, float* out, float* save_mean,
                                          float* save_invstd) {
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  for (int c = blockIdx.x; c < s.C; c += gridDim.x) {
    double mean, invstd;
    if (use_batch_stats) {
      double acc = 0.0;
      for (int64_t k = threadIdx.x; k < M; k += blockDim.x) acc += static_cast<double>(x[bn_index(s, c, k)]);
      mean = block_sum_all(acc) / static_cast<double>(M);
      acc = 0.0;
      for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        const double d = static_cast<double>(x[bn_index(s, c, k)]) - mean;
        acc += d * d;
      }
      const double sq = block_sum_all(acc);
      const double var = sq / static_cast<double>(M);
      invstd = 1.0 / sqrt(var + eps);
      if (threadIdx.x == 0 && running_mean && running_var) {
        const double unbiased = M > 1 ? sq / static_cast<double>(M - 1) : var;
        running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      mean = static_cast<double>(running_mean[c]);
      invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    }
    if (threadIdx.x == 0) {
      save_mean[c] = static_cast<float>(mean);
      save_invstd[c] = static_cast<float>(invstd);
    }
    const double scale = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
    const double shift = (bias ? static_cast<double>(bias[c]) : 0.0) - mean * scale;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      const int64_t idx = bn_index(s, c, k);
      out[idx] = static_cast<float>(static_cast<double>(x[idx]) * scale + shift);
    }
    __syncthreads();
  }
}

__global__ void batch_norm_backward_kernel(BatchNormShape s, const float* x, const float* weight,
                                           const float* save_mean, const float* save_invstd, bool use_batch_stats,
                                           const float* dout, float* dx, float* dweight, float* dbias) {
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  for (int c = blockIdx.x; c < s.C; c += gridDim.x) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double ag = 0.0, agx = 0.0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      const int64_t idx = bn_index(s, c, k);
      const double g = dout[idx];
      ag += g;
      agx += g * (static_cast<double>(x[idx]) - mean) * invstd;
    }
    const double sum_g = block_sum_all(ag), sum_gx = block_sum_all(agx);
    if (threadIdx.x == 0) {
      if (dweight) dweight[c] = static_cast<float>(sum_gx);
      if (dbias) dbias[c] = static_cast<float>(sum_g);
    }
    if (dx) {
      const double k_c = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
      const double mg = use_batch_stats ? sum_g / static_cast<double>(M) : 0.0;
      const double mgx = use_batch_stats ? sum_gx / static_cast<double>(M) : 0.0;
      for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        const int64_t idx = bn_index(s, c, k);
        const double xhat = (static_cast<double>(x[idx]) - mean) * invstd;
        dx[idx] = static_cast<float>(k_c * (static_cast<double>(dout[idx]) - mg - xhat * mgx));
      }
    }
    __syncthreads();
  }
}

// One block per channel: sum x, or sum (x - center[c])^2, in double (sync batch norm's local sums).
__global__ void batch_norm_channel_sums_kernel(BatchNormShape s, const float* x, const double* center, double* out) {
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  for (int c = blockIdx.x; c < s.C; c += gridDim.x) {
    const double m = center ? center[c] : 0.0;
    double acc = 0.0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      const double v = static_cast<double>(x[bn_index(s, c, k)]);
      acc += center ? (v - m) * (v - m) : v;
    }
    const double total = block_sum_all(acc);
    if (threadIdx.x == 0) out[c] = total;
    __syncthreads();
  }
}

__global__ void batch_norm_apply_kernel(BatchNormShape s, const float* x, const float* weight, const float* bias,
                                        const double* mean, const double* invstd, float* out, float* save_mean,
                                        float* save_invstd) {
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  for (int c = blockIdx.x; c < s.C; c += gridDim.x) {
    if (threadIdx.x == 0) {
      save_mean[c] = static_cast<float>(mean[c]);
      save_invstd[c] = static_cast<float>(invstd[c]);
    }
    const double scale = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd[c];
    const double shift = bias ? static_cast<double>(bias[c]) : 0.0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      const int64_t idx = bn_index(s, c, k);
      out[idx] = static_cast<float>((static_cast<double>(x[idx]) - mean[c]) * scale + shift);
    }
  }
}

__global__ void batch_norm_backward_sums_kernel(BatchNormShape s, const float* x, const float* save_mean,
                                                const float* save_invstd, const float* dout, double* out) {
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  for (int c = blockIdx.x; c < s.C; c += gridDim.x) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double ag = 0.0, agx = 0.0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      const int64_t idx = bn_index(s, c, k);
      const double g = dout[idx];
      ag += g;
      agx += g * (static_cast<double>(x[idx]) - mean) * invstd;
    }
    const double sum_g = block_sum_all(ag), sum_gx = block_sum_all(agx);
    if (threadIdx.x == 0) {
      out[c] = sum_g;
      out[s.C + c] = sum_gx;
    }
  }
}

__global__ void batch_norm_backward_apply_kernel(BatchNormShape s, const float* x, const float* weight,
                                                 const float* save_mean, const float* save_invstd, const float* dout,
                                                 const double* sums, double count, float* dx) {
  const int64_t M = static_cast<int64_t>(s.N) * s.HW;
  for (int c = blockIdx.x; c < s.C; c += gridDim.x) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    const double k_c = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
    const double mg = sums[c] / count, mgx = sums[s.C + c] / count;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      const int64_t idx = bn_index(s, c, k);
      const double xhat = (static_cast<double>(x[idx]) - mean) * invstd;
      dx[idx] = static_cast<float>(k_c * (static_cast<double>(dout[idx]) - mg - xhat * mgx));
    }
  }
}

unsigned channel_blocks(int C) { return static_cast<unsigned>(std::min<int64_t>(C, kMaxBlocks)); }

}  // namespace

void batch_norm_forward(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, bool use_batch_stats, double momentum, double eps,
                        float* out, float* save_mean, float* save_invstd) {
  if (s.C <= 0 || s.N <= 0 || s.HW <= 0) return;
  batch_norm_forward_kernel<<<channel_blocks(s.C), kBnThreads, 0, stream()>>>(
      s, x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps, out, save_mean, save_invstd);
  GPUNET_KERNEL_CHECK();
}

void batch_norm_backward(const BatchNormShape& s, const float* x, const float* weight, const float* save_mean,
                         const float* save_invstd, bool use_batch_stats, const float* dout, float* dx,
                         float* dweight, float* dbias) {
  if (s.C <= 0 || s.N <= 0 || s.HW <= 0) return;
  batch_norm_backward_kernel<<<channel_blocks(s.C), kBnThreads, 0, stream()>>>(
      s, x, weight, save_mean, save_invstd, use_batch_stats, dout, dx, dweight, dbias);
  GPUNET_KERNEL_CHECK();
}

void batch_norm_channel_sums(const BatchNormShape& s, const float* x, const double* center, double* out) {
  if (s.C <= 0) return;
  batch_norm_channel_sums_kernel<<<channel_blocks(s.C), kBnThreads, 0, stream()>>>(s, x, center, out);
  GPUNET_KERNEL_CHECK();
}

void batch_norm_apply(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                      const double* mean, const double* invstd, float* out, float* save_mean, float* save_invstd) {
  if (s.C <= 0) return;
  batch_norm_apply_kernel<<<channel_blocks(s.C), kBnThreads, 0, stream()>>>(s, x, weight, bias, mean, invstd, out,
                                                                            save_mean, save_invstd);
  GPUNET_KERNEL_CHECK();
}

void batch_norm_backward_sums(const BatchNormShape& s, const float* x, const float* save_mean,
                              const float* save_invstd, const float* dout, double* out) {
  if (s.C <= 0) return;
  batch_norm_backward_sums_kernel<<<channel_blocks(s.C), kBnThreads, 0, stream()>>>(s, x, save_mean, save_invstd,
                                                                                    dout, out);
  GPUNET_KERNEL_CHECK();
}

void batch_norm_backward_apply(const BatchNormShape& s, const float* x, const float* weight, const float* save_mean,
                               const float* save_invstd, const float* dout, const double* sums, double count,
                               float* dx) {
  if (s.C <= 0) return;
  batch_norm_backward_apply_kernel<<<channel_blocks(s.C), kBnThreads, 0, stream()>>>(
      s, x, weight, save_mean, save_invstd, dout, sums, count, dx);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
