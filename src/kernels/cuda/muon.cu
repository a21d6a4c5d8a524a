// Muon's update of one matrix on the GPU (kernels/muon.h gives the rule), the CPU twin's
// arithmetic in float32: elementwise kernels for the momentum and the scalings, deterministic
// one-block reductions for the norms (kept in the workspace, read by the next kernels: nothing
// goes through the host, so a captured graph replays it), cuBLAS sgemms (TF32 off) for the
// Newton-Schulz products. The record runs those products in bf16; this twin does not (yet).
// cuBLAS is column-major: a row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ,
// so each product swaps its operands instead of moving data.
#include "kernels/muon.h"

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
