#pragma once
// Internal: a templated row-major gemm over OpenBLAS's cblas_sgemm / cblas_dgemm, so the
// CPU kernels can be written once for float and double.
//   C (M, N) = alpha * op(A) (M, K) · op(B) (K, N) + beta * C
// OpenBLAS threads: Debian's OpenBLAS keeps its own pthread pool beside OpenMP's, and on small
// gemms its threads only spin against the OpenMP workers of the kernels around them (LeNet,
// batch 64, 2 threads on 2 cores: 15.5k images/s with both pools busy, 39k with OpenBLAS on
// one thread). So a gemm below 2^24 multiply-adds runs on one OpenBLAS thread, and a larger
// one on as many threads as OpenMP has (omp_set_num_threads / --threads).
#include <cblas.h>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gpunet::kernels::cpu::detail {

inline void blas_threads_for(int M, int N, int K) {
#ifdef _OPENMP
  const int want = static_cast<int64_t>(M) * N * K >= (int64_t(1) << 24) ? omp_get_max_threads() : 1;
#else
  const int want = 1;
#endif
  if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
}

inline void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc) {
  blas_threads_for(M, N, K);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                 int ldb, double beta, double* C, int ldc) {
  blas_threads_for(M, N, K);
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}

}  // namespace gpunet::kernels::cpu::detail
