// Elementwise and reduction kernels on the GPU, the twins of src/kernels/cpu/elementwise.cpp.
// sum is deterministic: a fixed grid of per-block partial sums (in double, as the CPU
// accumulates in double) reduced by one block in a fixed order.
#include "kernels/elementwise.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "gpunet/dtype.h"
#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

template <BinaryOp OP>
__global__ void binary_kernel(int64_t n, const float* a, const float* b, int64_t bstep, float* out) {
  GPUNET_GRID_STRIDE(i, n) {
    const float x = a[i], y = b[i * bstep];
    out[i] = OP == BinaryOp::Add ? x + y : (OP == BinaryOp::Sub ? x - y : x * y);
  }
}

__global__ void affine_kernel(int64_t n, const float* a, float alpha, float beta, float* out) {
  GPUNET_GRID_STRIDE(i, n) { out[i] = alpha * a[i] + beta; }
}

__global__ void axpy_kernel(int64_t n, float alpha, const float* x, float* y) {
  GPUNET_GRID_STRIDE(i, n) { y[i] += alpha * x[i]; }
}

constexpr int kSumThreads = 256;
constexpr int kSumMaxBlocks = 1024;

// The partial sums' buffer: one per device, allocated once and kept (never the shared
// workspace, whose address may change while a captured CUDA graph still refers to it).
double* sum_partials() {
  static std::mutex mutex;
  static auto* buffers = new std::vector<double*>();
  const int device = ::gpunet::cuda::detail::current_device();
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<size_t>(device) >= buffers->size()) buffers->resize(device + 1, nullptr);
  double*& b = (*buffers)[device];
  if (b == nullptr) b = static_cast<double*>(::gpunet::cuda::detail::allocate(sizeof(double) * kSumMaxBlocks, device));
  return b;
}

__global__ void sum_partial_kernel(int64_t n, const float* x, double* partial) {
  double acc = 0.0;
  GPUNET_GRID_STRIDE(i, n) { acc += static_cast<double>(x[i]); }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_final_kernel(int nparts, const double* partial, float* out) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] = static_cast<float>(acc);
}

__global__ void relu_forward_kernel(int64_t n, const float* x, float* out) {
  GPUNET_GRID_STRIDE(i, n) {
    const float v = x[i];
    out[i] = v < 0.0f ? 0.0f : v;  // NaN propagates, as torch.relu
  }
}

__global__ void relu_backward_kernel(int64_t n, const float* out, const float* dout, float* dx) {
  GPUNET_GRID_STRIDE(i, n) { dx[i] = out[i] > 0.0f ? dout[i] : 0.0f; }
}

__global__ void broadcast_scalar_kernel(int64_t n, const float* dscalar, float scale, float* out) {
  const float v = dscalar[0] * scale;
  GPUNET_GRID_STRIDE(i, n) { out[i] = v; }
}

// One thread per row, the CPU's loop: first maximum wins, a NaN counts as the maximum.
__global__ void argmax_rows_kernel(int64_t rows, int64_t cols, const float* x, int64_t* out) {
  GPUNET_GRID_STRIDE(r, rows) {
    const float* row = x + r * cols;
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c) {
      if (isnan(row[best])) break;
      if (row[c] > row[best] || isnan(row[c])) best = c;
    }
    out[r] = best;
  }
}

__global__ void eq_i64_kernel(int64_t n, const int64_t* a, const int64_t* b, int64_t* out) {
  GPUNET_GRID_STRIDE(i, n) { out[i] = a[i] == b[i] ? 1 : 0; }
}

__global__ void nonfinite_flag_kernel(int64_t n, const float* x, int32_t* flag) {
  GPUNET_GRID_STRIDE(i, n) {
    if (!isfinite(x[i])) *flag = 1;  // every writer writes the same value
  }
}

}  // namespace

void binary(BinaryOp op, int64_t n, const float* a, const float* b, bool b_scalar, float* out) {
  if (n <= 0) return;
  const int64_t bstep = b_scalar ? 0 : 1;
  switch (op) {
    case BinaryOp::Add:
      binary_kernel<BinaryOp::Add><<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, bstep, out);
      GPUNET_KERNEL_CHECK();
      break;
    case BinaryOp::Sub:
      binary_kernel<BinaryOp::Sub><<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, bstep, out);
      GPUNET_KERNEL_CHECK();
      break;
    case BinaryOp::Mul:
      binary_kernel<BinaryOp::Mul><<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, bstep, out);
      GPUNET_KERNEL_CHECK();
      break;
  }
}

void affine(int64_t n, const float* a, float alpha, float beta, float* out) {
  if (n <= 0) return;
  affine_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, a, alpha, beta, out);
  GPUNET_KERNEL_CHECK();
}

void axpy(int64_t n, float alpha, const float* x, float* y) {
  if (n <= 0) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, alpha, x, y);
  GPUNET_KERNEL_CHECK();
}

void sum(int64_t n, const float* x, float* out) {
  const int nparts = n <= 0 ? 0 : static_cast<int>(std::min<int64_t>((n + kSumThreads - 1) / kSumThreads, kSumMaxBlocks));
  double* partial = sum_partials();
  if (nparts > 0) {
    sum_partial_kernel<<<nparts, kSumThreads, 0, stream()>>>(n, x, partial);
    GPUNET_KERNEL_CHECK();
  }
  sum_final_kernel<<<1, kSumThreads, 0, stream()>>>(nparts, partial, out);
  GPUNET_KERNEL_CHECK();
}

void relu_forward(int64_t n, const float* x, float* out) {
  if (n <= 0) return;
  relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, out);
  GPUNET_KERNEL_CHECK();
}

void relu_backward(int64_t n, const float* out, const float* dout, float* dx) {
  if (n <= 0) return;
  relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, out, dout, dx);
  GPUNET_KERNEL_CHECK();
}

void broadcast_scalar(int64_t n, const float* dscalar, float scale, float* out) {
  if (n <= 0) return;
  broadcast_scalar_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, dscalar, scale, out);
  GPUNET_KERNEL_CHECK();
}

void argmax_rows(int64_t rows, int64_t cols, const float* x, int64_t* out) {
  if (rows <= 0) return;
  argmax_rows_kernel<<<blocks_for(rows), kThreads, 0, stream()>>>(rows, cols, x, out);
  GPUNET_KERNEL_CHECK();
}

void eq_i64(int64_t n, const int64_t* a, const int64_t* b, int64_t* out) {
  if (n <= 0) return;
  eq_i64_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, out);
  GPUNET_KERNEL_CHECK();
}

void nonfinite_flag(int64_t n, const float* x, int32_t* flag) {
  if (n <= 0) return;
  nonfinite_flag_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, flag);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
