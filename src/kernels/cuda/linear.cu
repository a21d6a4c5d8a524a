// linear on the GPU: out = x·Wᵀ + b with cuBLAS (FP32, TF32 off; the handle's math mode).
// cuBLAS is column-major: a row-major (R, C) matrix is a column-major (C, R) one, so each
// row-major product A·B is computed as the column-major Bᵀ·Aᵀ without moving data.
#include "kernels/linear.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

// out: (N, OUT) <- b broadcast over the rows
__global__ void bias_rows_kernel(int N, int OUT, const float* b, float* out) {
  const int64_t total = static_cast<int64_t>(N) * OUT;
  GPUNET_GRID_STRIDE(i, total) { out[i] = b[i % OUT]; }
}

// db: (OUT) = column sums of dout: (N, OUT), in parallel over N as well as OUT. A block is a
// tile of kSumCols columns by kSumLanes row lanes: lane r of column o adds rows r, r + kSumLanes,
// ... (reads are coalesced along the columns), then the lanes are added in a fixed tree. One
// kernel, no scratch and no atomics: the order is fixed, so the result repeats bit for bit.
constexpr int kSumCols = 32, kSumLanes = 32;
__global__ void column_sum_kernel(int64_t N, int64_t OUT, const float* dout, float* db) {
  __shared__ float part[kSumLanes][kSumCols + 1];
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  float acc = 0.0f;
  if (o < OUT)
    for (int64_t i = threadIdx.y; i < N; i += kSumLanes) acc += dout[i * OUT + o];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  for (int half = kSumLanes / 2; half > 0; half /= 2) {
    if (threadIdx.y < half) part[threadIdx.y][threadIdx.x] += part[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && o < OUT) db[o] = part[0][threadIdx.x];
}

}  // namespace

void linear_forward(int N, int IN, int OUT, const float* x, const float* w, const float* b, float* out) {
  if (N <= 0 || OUT <= 0) return;
  if (b) {
    const int64_t total = static_cast<int64_t>(N) * OUT;
    bias_rows_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(N, OUT, b, out);
    GPUNET_KERNEL_CHECK();
  }
  if (IN <= 0) {  // an empty sum: out = b, or 0
    if (!b) GPUNET_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float) * static_cast<size_t>(N) * OUT, stream()));
    return;
  }
  const float one = 1.0f, beta = b ? 1.0f : 0.0f;
  // column-major: outᵀ (OUT, N) = W (OUT, IN) · xᵀ (IN, N); W's buffer is column-major (IN, OUT), transposed.
  GPUNET_CUBLAS_CHECK(cublasSgemm(::gpunet::cuda::detail::cublas(), CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, &one, w, IN,
                                  x, IN, &beta, out, OUT));
}

void linear_backward(int N, int IN, int OUT, const float* x, const float* w, const float* dout, float* dx, float* dw,
                     float* db) {
  cublasHandle_t h = ::gpunet::cuda::detail::cublas();
  const float one = 1.0f, zero = 0.0f;
  if (dx && N > 0 && IN > 0) {
    if (OUT <= 0) {
      GPUNET_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<size_t>(N) * IN, stream()));
    } else {
      // column-major: dxᵀ (IN, N) = Wᵀ (IN, OUT) · doutᵀ (OUT, N)
      GPUNET_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, IN, N, OUT, &one, w, IN, dout, OUT, &zero, dx, IN));
    }
  }
  if (dw && OUT > 0 && IN > 0) {
    if (N <= 0) {
      GPUNET_CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * static_cast<size_t>(OUT) * IN, stream()));
    } else {
      // column-major: dwᵀ (IN, OUT) = xᵀ (IN, N) · dout (N, OUT); dout's buffer is column-major (OUT, N), transposed.
      GPUNET_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, IN, OUT, N, &one, x, IN, dout, OUT, &zero, dw, IN));
    }
  }
  if (db && OUT > 0) {
    const unsigned tiles = static_cast<unsigned>((static_cast<int64_t>(OUT) + kSumCols - 1) / kSumCols);
    column_sum_kernel<<<tiles, dim3(kSumCols, kSumLanes), 0, stream()>>>(N, OUT, dout, db);
    GPUNET_KERNEL_CHECK();
  }
}

}  // namespace gpunet::kernels::cuda
