// log_softmax, softmax, nll and cross-entropy on the GPU: one warp per row (the classes of a
// row are spread over the lanes and reduced with shuffles), rows spread over the grid. Scalar
// losses are then reduced in one block in a fixed order (no atomics): the same inputs give the
// same bits.
// Invalid targets (outside [0, C)) give a NaN loss rather than an out-of-bounds read.
#include "kernels/cross_entropy.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

constexpr int kRowThreads = 256;  // 8 warps, one row each at a time
constexpr int kLossThreads = 1024;

unsigned row_blocks(int N) {
  const int warps = kRowThreads / 32;
  return static_cast<unsigned>(std::min<int64_t>((static_cast<int64_t>(N) + warps - 1) / warps, kMaxBlocks));
}

// The row's max (NaN ignored unless first, as the CPU's `x[c] > m` scan) and log(sum(exp(x - max))).
__device__ void row_stats(int C, const float* x, float& m, float& ls) {
  const int lane = threadIdx.x % 32;
  float mx = -INFINITY;
  for (int c = lane; c < C; c += 32) mx = fmaxf(mx, x[c]);
  mx = warp_max(mx);
  if (isnan(x[0])) mx = x[0];
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += expf(x[c] - mx);
  s = warp_sum(s);
  m = mx;
  ls = logf(s);
}

__global__ void log_softmax_forward_kernel(int N, int C, const float* logits, float* out) {
  const int lane = threadIdx.x % 32, nwarps = gridDim.x * (blockDim.x / 32);
  for (int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < N; r += nwarps) {
    const float* x = logits + static_cast<int64_t>(r) * C;
    float* o = out + static_cast<int64_t>(r) * C;
    float m, ls;
    row_stats(C, x, m, ls);
    for (int c = lane; c < C; c += 32) o[c] = x[c] - m - ls;
  }
}

__global__ void log_softmax_backward_kernel(int N, int C, const float* out, const float* dout, float* dx) {
  const int lane = threadIdx.x % 32, nwarps = gridDim.x * (blockDim.x / 32);
  for (int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < N; r += nwarps) {
    const int64_t base = static_cast<int64_t>(r) * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += dout[base + c];
    s = warp_sum(s);
    for (int c = lane; c < C; c += 32) dx[base + c] = dout[base + c] - expf(out[base + c]) * s;
  }
}

__global__ void softmax_forward_kernel(int N, int C, const float* logits, float* out) {
  const int lane = threadIdx.x % 32, nwarps = gridDim.x * (blockDim.x / 32);
  for (int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < N; r += nwarps) {
    const float* x = logits + static_cast<int64_t>(r) * C;
    float* o = out + static_cast<int64_t>(r) * C;
    float mx = -INFINITY;
    for (int c = lane; c < C; c += 32) mx = fmaxf(mx, x[c]);
    mx = warp_max(mx);
    if (isnan(x[0])) mx = x[0];
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += expf(x[c] - mx);
    s = warp_sum(s);
    for (int c = lane; c < C; c += 32) o[c] = expf(x[c] - mx) / s;
  }
}

// One block: thread t sums rows t, t + blockDim.x, ... in double; then a fixed tree.
__global__ void nll_forward_kernel(int N, int C, const float* logp, const int64_t* target, float* loss) {
  double acc = 0.0;
  for (int r = threadIdx.x; r < N; r += blockDim.x) {
    const int64_t t = target[r];
    acc += (t >= 0 && t < C) ? -static_cast<double>(logp[static_cast<int64_t>(r) * C + t]) : static_cast<double>(NAN);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(acc / N);
}

__global__ void nll_backward_kernel(int N, int C, const int64_t* target, const float* dloss, float* dlogp) {
  const float g = -dloss[0] / static_cast<float>(N);
  const int64_t total = static_cast<int64_t>(N) * C;
  GPUNET_GRID_STRIDE(k, total) {
    const int64_t r = k / C, c = k % C;
    dlogp[k] = target[r] == c ? g : 0.0f;
  }
}

// One warp per row (row-parallel over the grid): the row's probabilities and its loss.
__global__ void cross_entropy_forward_kernel(int N, int C, const float* logits, const int64_t* target,
                                             double smoothing, float* row_loss, float* probs) {
  const int lane = threadIdx.x % 32, nwarps = gridDim.x * (blockDim.x / 32);
  for (int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < N; r += nwarps) {
    const float* x = logits + static_cast<int64_t>(r) * C;
    float* p = probs + static_cast<int64_t>(r) * C;
    float m, ls;
    row_stats(C, x, m, ls);
    double all = 0.0;
    for (int c = lane; c < C; c += 32) {
      p[c] = expf(x[c] - m - ls);
      all -= static_cast<double>(x[c] - m - ls);
    }
    all = warp_sum(all);
    if (lane == 0) {
      const int64_t t = target[r];
      const double nll = (t >= 0 && t < C) ? -static_cast<double>(x[t] - m - ls) : static_cast<double>(NAN);
      row_loss[r] = static_cast<float>((1.0 - smoothing) * nll + smoothing / C * all);
    }
  }
}

// One block of kLossThreads: each thread sums rows t, t + blockDim.x, ... in double, then a
// fixed tree (deterministic). The rows' work was done in parallel by the kernel above.
__global__ void cross_entropy_reduce_kernel(int N, const float* row_loss, double scale, float* loss) {
  double acc = 0.0;
  for (int r = threadIdx.x; r < N; r += blockDim.x) acc += static_cast<double>(row_loss[r]);
  acc = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(acc * scale);
}

__global__ void cross_entropy_backward_kernel(int N, int C, const float* probs, const int64_t* target,
                                              double smoothing, const float* dloss, bool per_row, double scale,
                                              float* dlogits) {
  const float off = static_cast<float>(smoothing / C), on = static_cast<float>(1.0 - smoothing);
  const int64_t total = static_cast<int64_t>(N) * C;
  GPUNET_GRID_STRIDE(k, total) {
    const int64_t r = k / C, c = k % C;
    const float g = static_cast<float>(scale * static_cast<double>(dloss[per_row ? r : 0]));
    dlogits[k] = (probs[k] - (target[r] == c ? on : 0.0f) - off) * g;
  }
}

}  // namespace

void log_softmax_forward(int N, int C, const float* logits, float* out) {
  if (N <= 0 || C <= 0) return;
  log_softmax_forward_kernel<<<row_blocks(N), kRowThreads, 0, stream()>>>(N, C, logits, out);
  GPUNET_KERNEL_CHECK();
}

void log_softmax_backward(int N, int C, const float* out, const float* dout, float* dx) {
  if (N <= 0 || C <= 0) return;
  log_softmax_backward_kernel<<<row_blocks(N), kRowThreads, 0, stream()>>>(N, C, out, dout, dx);
  GPUNET_KERNEL_CHECK();
}

void softmax_forward(int N, int C, const float* logits, float* out) {
  if (N <= 0 || C <= 0) return;
  softmax_forward_kernel<<<row_blocks(N), kRowThreads, 0, stream()>>>(N, C, logits, out);
  GPUNET_KERNEL_CHECK();
}

void nll_forward(int N, int C, const float* logp, const int64_t* target, float* loss) {
  nll_forward_kernel<<<1, kLossThreads, 0, stream()>>>(N, C, logp, target, loss);
  GPUNET_KERNEL_CHECK();
}

void nll_backward(int N, int C, const int64_t* target, const float* dloss, float* dlogp) {
  const int64_t total = static_cast<int64_t>(N) * C;
  if (total <= 0) return;
  nll_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(N, C, target, dloss, dlogp);
  GPUNET_KERNEL_CHECK();
}

void cross_entropy_forward(int N, int C, const float* logits, const int64_t* target, double smoothing,
                           float* row_loss, float* probs) {
  if (N <= 0 || C <= 0) return;
  cross_entropy_forward_kernel<<<row_blocks(N), kRowThreads, 0, stream()>>>(N, C, logits, target, smoothing,
                                                                            row_loss, probs);
  GPUNET_KERNEL_CHECK();
}

void cross_entropy_reduce(int N, const float* row_loss, double scale, float* loss) {
  cross_entropy_reduce_kernel<<<1, kLossThreads, 0, stream()>>>(N, row_loss, scale, loss);
  GPUNET_KERNEL_CHECK();
}

void cross_entropy_backward(int N, int C, const float* probs, const int64_t* target, double smoothing,
                            const float* dloss, bool per_row, double scale, float* dlogits) {
  const int64_t total = static_cast<int64_t>(N) * C;
  if (total <= 0) return;
  cross_entropy_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(N, C, probs, target, smoothing, dloss,
                                                                              per_row, scale, dlogits);
  GPUNET_KERNEL_CHECK();
}

}  // namespace gpunet::kernels::cuda
