// Muon's update of one matrix on the GPU (kernels/muon.h gives the rule), the CPU twin's
// arithmetic in float32: elementwise kernels for the momentum and the scalings, deterministic
// one-block reductions for the norms (kept in the workspace, read by the next kernels: nothing
// goes through the host, so a captured graph replays it), cuBLAS sgemms (TF32 off) for the
// Newton-Schulz products; in bf16 mode (the record's), cuBLAS bf16 GEMMs with float32
// accumulation into a float32 scratch, rounded to bf16 by the elementwise kernels exactly where
// the CPU twin rounds (kernels/muon.h).
// cuBLAS is column-major: a row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ,
// so each product swaps its operands instead of moving data.
#include "kernels/muon.h"

#include <cuda_bf16.h>

#include <cmath>

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

constexpr int kNormThreads = 1024;

__global__ void momentum_kernel(int64_t total, int64_t rows, int64_t cols, bool tr, float mom, bool nesterov,
                                const float* grad, float* momentum_buf, float* X) {
  GPUNET_GRID_STRIDE(i, total) {
    const float g = grad[i];
    const float buf = __fadd_rn(__fmul_rn(momentum_buf[i], mom), g);
    momentum_buf[i] = buf;
    const float u = nesterov ? __fadd_rn(g, __fmul_rn(mom, buf)) : buf;
    const int64_t r = i / cols, c = i - r * cols;
    X[tr ? c * rows + r : i] = u;
  }
}

// out[0] = ||x||_F (double accumulation, fixed order), one block.
__global__ void frobenius_kernel(int64_t n, const float* x, float* out) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = static_cast<float>(sqrt(s));
}

__global__ void normalise_kernel(int64_t n, float* X, const float* norm, float eps) {
  const float d = __fadd_rn(norm[0], eps);
  GPUNET_GRID_STRIDE(i, n) { X[i] = __fdiv_rn(X[i], d); }
}

__global__ void apply_kernel(int64_t total, int64_t rows, int64_t cols, bool tr, bool normalize_weight,
                             bool shape_scale, float uscale, float rows_sqrt, const double* group,
                             const float* pnorm, const float* X,
                             float* param) {
  const float lr = static_cast<float>(group[0]);
  const float wscale = normalize_weight ? __fmul_rn(__frcp_rn(pnorm[0]), rows_sqrt) : 1.0f;
  GPUNET_GRID_STRIDE(i, total) {
    const int64_t r = i / cols, c = i - r * cols;
    float u = X[tr ? c * rows + r : i];
    if (shape_scale) u = __fmul_rn(u, uscale);
    const float p = normalize_weight ? __fmul_rn(param[i], wscale) : param[i];
    param[i] = __fadd_rn(p, __fmul_rn(-lr, u));
  }
}

// ---- bf16 mode --------------------------------------------------------------------------------
using bf16 = __nv_bfloat16;
__device__ __forceinline__ float rb(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

__global__ void to_bf16_kernel(int64_t n, const float* x, bf16* out) {
  GPUNET_GRID_STRIDE(i, n) { out[i] = __float2bfloat16_rn(x[i]); }
}

// out[0] = bf16(||x||_F) (double accumulation, fixed order), one block.
__global__ void frobenius_bf16_kernel(int64_t n, const bf16* x, float* out) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = __bfloat162float(x[i]);
    s += v * v;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = rb(static_cast<float>(sqrt(s)));
}

__global__ void normalise_bf16_kernel(int64_t n, bf16* X, const float* norm, float eps) {
  const float d = rb(__fadd_rn(norm[0], eps));
  GPUNET_GRID_STRIDE(i, n) { X[i] = __float2bfloat16_rn(__fdiv_rn(__bfloat162float(X[i]), d)); }
}

// A = bf16(F) (the Gram product), cA = bf16(c * A).
__global__ void gram_kernel(int64_t n, const float* F, bf16* A, bf16* cA) {
  GPUNET_GRID_STRIDE(i, n) {
    const float a = rb(F[i]);
    A[i] = __float2bfloat16_rn(a);
    cA[i] = __float2bfloat16_rn(__fmul_rn(kMuonC, a));
  }
}

// out = bf16(bf16(s * x) + bf16(F)): `s * x + (product)` in bf16 tensors.
__global__ void axpy_bf16_kernel(int64_t n, float s, const bf16* x, const float* F, bf16* out) {
  GPUNET_GRID_STRIDE(i, n) {
    const float sx = rb(__fmul_rn(s, __bfloat162float(x[i])));
    out[i] = __float2bfloat16_rn(__fadd_rn(sx, rb(F[i])));
  }
}

__global__ void apply_bf16_kernel(int64_t total, int64_t rows, int64_t cols, bool tr, bool normalize_weight,
                                  bool shape_scale, float uscale, float rows_sqrt, const double* group,
                                  const float* pnorm, const bf16* X, float* param) {
  const float lr = static_cast<float>(group[0]);
  const float wscale = normalize_weight ? __fmul_rn(__frcp_rn(pnorm[0]), rows_sqrt) : 1.0f;
  GPUNET_GRID_STRIDE(i, total) {
    const int64_t r = i / cols, c = i - r * cols;
    float u = __bfloat162float(X[tr ? c * rows + r : i]);
    if (shape_scale) u = __fmul_rn(u, uscale);
    const float p = normalize_weight ? __fmul_rn(param[i], wscale) : param[i];
    param[i] = __fadd_rn(p, __fmul_rn(-lr, u));
  }
}

// Row-major float32 C (M x N) = op(A) · op(B), A and B bf16, float32 accumulation.
void gemm_bf16_rm(bool ta, bool tb, int M, int N, int K, const bf16* A, int lda, const bf16* B, int ldb, float* C,
                  int ldc) {
  const float one = 1.0f, zero = 0.0f;
  GPUNET_CUBLAS_CHECK(cublasGemmEx(::gpunet::cuda::detail::cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &one, B, CUDA_R_16BF, ldb, A, CUDA_R_16BF,
                                   lda, &zero, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Float offsets rounded up to 16 bytes.
constexpr int64_t align4(int64_t n) { return (n + 3) / 4 * 4; }

// The bf16 mode's whole update: F (float32 m*n scratch), then bf16 X, A, B and the two norms,
// carved out of the same workspace (muon_workspace leaves the room).
void muon_step_bf16(int64_t rows, int64_t cols, const MuonParams& h, const double* group, float* param,
                    const float* grad, float* momentum_buf, float* work) {
  const int64_t total = rows * cols;
  const bool tr = rows > cols;
  const int64_t m = tr ? cols : rows, n = tr ? rows : cols;
  float* F = work;
  bf16* X = reinterpret_cast<bf16*>(work + align4(m * n));
  bf16* A = reinterpret_cast<bf16*>(work + align4(m * n) + align4((m * n + 1) / 2));
  bf16* B = reinterpret_cast<bf16*>(reinterpret_cast<float*>(A) + align4((m * m + 1) / 2));
  float* norms = reinterpret_cast<float*>(B) + align4((m * m + 1) / 2);
  cudaStream_t s = stream();

  momentum_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, rows, cols, tr, h.momentum, h.nesterov, grad,
                                                          momentum_buf, F);
  GPUNET_KERNEL_CHECK();
  to_bf16_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, F, X);
  GPUNET_KERNEL_CHECK();
  frobenius_bf16_kernel<<<1, kNormThreads, 0, s>>>(total, X, norms);
  GPUNET_KERNEL_CHECK();
  if (h.normalize_weight) {
    frobenius_kernel<<<1, kNormThreads, 0, s>>>(total, param, norms + 1);
    GPUNET_KERNEL_CHECK();
  }
  normalise_bf16_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, X, norms, h.eps);
  GPUNET_KERNEL_CHECK();

  const int M = static_cast<int>(m), N = static_cast<int>(n);
  for (int step = 0; step < h.ns_steps; ++step) {
    gemm_bf16_rm(false, true, M, M, N, X, N, X, N, F, M);  // X @ X.T
    gram_kernel<<<blocks_for(m * m), kThreads, 0, s>>>(m * m, F, A, B);
    GPUNET_KERNEL_CHECK();
    gemm_bf16_rm(false, false, M, M, M, B, M, A, M, F, M);  // (c * A) @ A
    axpy_bf16_kernel<<<blocks_for(m * m), kThreads, 0, s>>>(m * m, kMuonB, A, F, B);  // B = b * A + ...
    GPUNET_KERNEL_CHECK();
    gemm_bf16_rm(false, false, M, N, M, B, M, X, N, F, N);  // B @ X
    axpy_bf16_kernel<<<blocks_for(m * n), kThreads, 0, s>>>(m * n, kMuonA, X, F, X);  // X = a * X + B @ X
    GPUNET_KERNEL_CHECK();
  }

  const float rows_sqrt = static_cast<float>(std::sqrt(static_cast<double>(rows)));
  const float uscale = static_cast<float>(std::sqrt(std::max(1.0, double(rows) / double(cols))));
  apply_bf16_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, rows, cols, tr, h.normalize_weight, h.shape_scale,
                                                            uscale, rows_sqrt, group, norms + 1, X, param);
  GPUNET_KERNEL_CHECK();
}

// Row-major C (M x N) = alpha · op(A) · op(B) + beta · C.
void gemm_rm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
             float beta, float* C, int ldc) {
  GPUNET_CUBLAS_CHECK(cublasSgemm(::gpunet::cuda::detail::cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

}  // namespace

void muon_step(int64_t rows, int64_t cols, const MuonParams& h, const double* group, float* param, const float* grad,
               float* momentum_buf, float* work) {
  const int64_t total = rows * cols;
  if (total <= 0) return;
  if (h.bf16) return muon_step_bf16(rows, cols, h, group, param, grad, momentum_buf, work);
  const bool tr = rows > cols;
  const int64_t m = tr ? cols : rows, n = tr ? rows : cols;
  float* X = work;
  float* Y = X + m * n;
  float* A = Y + m * n;
  float* B = A + m * m;
  float* norms = B + m * m;  // [0] ||X||, [1] ||p||
  cudaStream_t s = stream();

  momentum_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, rows, cols, tr, h.momentum, h.nesterov, grad,
                                                          momentum_buf, X);
  GPUNET_KERNEL_CHECK();
  frobenius_kernel<<<1, kNormThreads, 0, s>>>(total, X, norms);
  GPUNET_KERNEL_CHECK();
  if (h.normalize_weight) {
    frobenius_kernel<<<1, kNormThreads, 0, s>>>(total, param, norms + 1);
    GPUNET_KERNEL_CHECK();
  }
  normalise_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, X, norms, h.eps);
  GPUNET_KERNEL_CHECK();

  const int M = static_cast<int>(m), N = static_cast<int>(n);
  for (int step = 0; step < h.ns_steps; ++step) {
    gemm_rm(false, true, M, M, N, 1.0f, X, N, X, N, 0.0f, A, M);  // A = X Xᵀ
    GPUNET_CUDA_CHECK(cudaMemcpyAsync(B, A, sizeof(float) * static_cast<size_t>(m * m), cudaMemcpyDeviceToDevice, s));
    gemm_rm(false, false, M, M, M, kMuonC, A, M, A, M, kMuonB, B, M);  // B = b A + c A A
    GPUNET_CUDA_CHECK(cudaMemcpyAsync(Y, X, sizeof(float) * static_cast<size_t>(m * n), cudaMemcpyDeviceToDevice, s));
    gemm_rm(false, false, M, N, M, 1.0f, B, M, X, N, kMuonA, Y, N);  // X' = a X + B X
    float* t = X;
    X = Y;
    Y = t;
  }

  const float rows_sqrt = static_cast<float>(std::sqrt(static_cast<double>(rows)));
  const float uscale = static_cast<float>(std::sqrt(std::max(1.0, double(rows) / double(cols))));
  apply_kernel<<<blocks_for(total), kThreads, 0, s>>>(total, rows, cols, tr, h.normalize_weight, h.shape_scale,
                                                       uscale, rows_sqrt, group, norms + 1, X, param);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
