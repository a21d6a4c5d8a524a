#pragma once
// Internal: a templated row-major gemm over OpenBLAS's cblas_sgemm / cblas_dgemm, so the
// CPU kernels can be written once for float and double.
//   C (M, N) = alpha * op(A) (M, K) · op(B) (K, N) + beta * C
#include <cblas.h>

namespace gpunet::kernels::cpu::detail {

inline void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                 int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}

}  // namespace gpunet::kernels::cpu::detail
