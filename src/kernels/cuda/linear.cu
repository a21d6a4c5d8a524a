// linear on the GPU: out = x·Wᵀ + b with cuBLAS (FP32, TF32 off; the handle's math mode).
// cuBLAS is column-major: a row-major (R, C) matrix is a column-major (C, R) one, so each
// row-major product A·B is computed as the column-major Bᵀ·Aᵀ without moving data.
#include "kernels/linear.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

// out: (N, OUT) <- b broadcast over the rows
__global__ void bias_rows_kernel(int N, int OUT, const float* b, float* out) {
  const int64_t total = static_cast<int64_t>(N) * OUT;
  GPUNET_GRID_STRIDE(i, total) { out[i] = b[i % OUT]; }
}

// db: (OUT) = column sums of dout: (N, OUT), in parallel over N as well as OUT, deterministic
// (a fixed split and a fixed order; no atomics). The rows are split into `chunks` row ranges
// (gridDim.y; 1 for small N); a block is a tile of kSumCols columns by kSumLanes row lanes of one
// range: lane r of column o adds rows r0 + r, r0 + r + kSumLanes, ... (reads are coalesced along
// the columns), then the lanes are added in a fixed tree, giving dst[range * OUT + o]. With more
// than one range, chunk_sum_kernel adds the ranges' partial sums in order.
constexpr int kSumCols = 32, kSumLanes = 32;
constexpr int64_t kMaxChunks = 64, kRowsPerChunkMin = 1024;
constexpr int64_t kPartialFloats = int64_t{1} << 18;  // the partial sums' buffer: 1 MiB per device

__global__ void column_sum_kernel(int64_t N, int64_t OUT, int64_t rows_per, const float* dout, float* dst) {
  __shared__ float part[kSumLanes][kSumCols + 1];
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per;
  const int64_t r1 = r0 + rows_per < N ? r0 + rows_per : N;
  float acc = 0.0f;
  if (o < OUT)
    for (int64_t i = r0 + threadIdx.y; i < r1; i += kSumLanes) acc += dout[i * OUT + o];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  for (int half = kSumLanes / 2; half > 0; half /= 2) {
    if (threadIdx.y < half) part[threadIdx.y][threadIdx.x] += part[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && o < OUT) dst[static_cast<int64_t>(blockIdx.y) * OUT + o] = part[0][threadIdx.x];
}

__global__ void chunk_sum_kernel(int64_t chunks, int64_t OUT, const float* partial, float* db) {
  GPUNET_GRID_STRIDE(o, OUT) {
    float acc = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) acc += partial[c * OUT + o];
    db[o] = acc;
  }
}

// The partial sums' buffer: one per device, allocated once and kept (a captured CUDA graph may
// still refer to it; never the shared workspace, whose address may change).
float* column_partials() {
  static std::mutex mutex;
  static auto* buffers = new std::vector<float*>();
  const int device = ::gpunet::cuda::detail::current_device();
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<size_t>(device) >= buffers->size()) buffers->resize(device + 1, nullptr);
  float*& b = (*buffers)[device];
  if (b == nullptr) b = static_cast<float*>(::gpunet::cuda::detail::allocate(sizeof(float) * kPartialFloats, device));
  return b;
}

void column_sum(int64_t N, int64_t OUT, const float* dout, float* db) {
  const dim3 block(kSumCols, kSumLanes);
  const unsigned tiles = static_cast<unsigned>((OUT + kSumCols - 1) / kSumCols);
  const int64_t chunks = std::min({kMaxChunks, kPartialFloats / OUT, N / kRowsPerChunkMin});
  if (chunks < 2) {
    column_sum_kernel<<<dim3(tiles, 1), block, 0, stream()>>>(N, OUT, N, dout, db);
    GPUNET_KERNEL_CHECK();
    return;
  }
  const int64_t rows_per = (N + chunks - 1) / chunks;
  float* partial = column_partials();
  column_sum_kernel<<<dim3(tiles, static_cast<unsigned>(chunks)), block, 0, stream()>>>(N, OUT, rows_per, dout,
                                                                                      partial);
  GPUNET_KERNEL_CHECK();
  chunk_sum_kernel<<<blocks_for(OUT), kThreads, 0, stream()>>>(chunks, OUT, partial, db);
  GPUNET_KERNEL_CHECK();
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
  if (db && OUT > 0) column_sum(N, OUT, dout, db);
}

}  // namespace gpunet::kernels::cuda
