// Broadcasting binary ops and sum_to on the GPU. broadcast_binary: one thread per output
// element (grid-stride). sum_to: one block per output element when each sums many inputs
// (threads stride over the reduced elements in double, then a fixed tree), else one thread
// per output element; both orders are fixed, so the result is deterministic.
#include "kernels/broadcast.h"

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

__global__ void broadcast_binary_kernel(BroadcastOp op, BroadcastShape s, int64_t n, const float* a, const float* b,
                                        float* out) {
  GPUNET_GRID_STRIDE(i, n) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = s.ndim - 1; d >= 0; --d) {
      const int64_t k = rest % s.out[d];
      rest /= s.out[d];
      ia += k * s.a_stride[d];
      ib += k * s.b_stride[d];
    }
    const float x = a[ia], y = b[ib];
    float r = x;
    switch (op) {
      case BroadcastOp::Add: r = x + y; break;
      case BroadcastOp::Sub: r = x - y; break;
      case BroadcastOp::Mul: r = x * y; break;
      case BroadcastOp::Div: r = x / y; break;
    }
    out[i] = r;
  }
}

// Offsets in g of output element j (base) and of reduced element r relative to it.
struct SumToIndex {
  int ndim;
  int64_t out[kMaxBroadcastDims], red[kMaxBroadcastDims], in_stride[kMaxBroadcastDims];
  __device__ int64_t base(int64_t j) const {
    int64_t rest = j, off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (rest % out[d]) * in_stride[d];
      rest /= out[d];
    }
    return off;
  }
  __device__ int64_t reduced(int64_t r) const {
    int64_t rest = r, off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (rest % red[d]) * in_stride[d];
      rest /= red[d];
    }
    return off;
  }
};

__global__ void sum_to_block_kernel(SumToIndex ix, int64_t n_out, int64_t n_red, const float* g, float* out) {
  for (int64_t j = blockIdx.x; j < n_out; j += gridDim.x) {
    const int64_t base = ix.base(j);
    double acc = 0.0;
    for (int64_t r = threadIdx.x; r < n_red; r += blockDim.x) acc += static_cast<double>(g[base + ix.reduced(r)]);
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[j] = static_cast<float>(acc);
  }
}

__global__ void sum_to_thread_kernel(SumToIndex ix, int64_t n_out, int64_t n_red, const float* g, float* out) {
  GPUNET_GRID_STRIDE(j, n_out) {
    const int64_t base = ix.base(j);
    double acc = 0.0;
    for (int64_t r = 0; r < n_red; ++r) acc += static_cast<double>(g[base + ix.reduced(r)]);
    out[j] = static_cast<float>(acc);
  }
}

}  // namespace

void broadcast_binary(BroadcastOp op, const BroadcastShape& s, const float* a, const float* b, float* out) {
  int64_t n = 1;
  for (int d = 0; d < s.ndim; ++d) n *= s.out[d];
  if (n <= 0) return;
  broadcast_binary_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, s, n, a, b, out);
  GPUNET_KERNEL_CHECK();
}

void sum_to(const SumToShape& s, const float* g, float* out) {
  SumToIndex ix{};
  ix.ndim = s.ndim;
  int64_t st = 1, n_out = 1, n_red = 1;
  for (int d = s.ndim - 1; d >= 0; --d) {
    ix.in_stride[d] = st;
    st *= s.in[d];
    ix.out[d] = s.out[d];
    ix.red[d] = s.out[d] == 1 ? s.in[d] : 1;
    n_out *= ix.out[d];
    n_red *= ix.red[d];
  }
  if (n_out <= 0) return;
  if (n_red >= 1024) {
    sum_to_block_kernel<<<static_cast<unsigned>(std::min<int64_t>(n_out, kMaxBlocks)), kThreads, 0, stream()>>>(
        ix, n_out, n_red, g, out);
    GPUNET_KERNEL_CHECK();
  } else {
    sum_to_thread_kernel<<<blocks_for(n_out), kThreads, 0, stream()>>>(ix, n_out, n_red, g, out);
    GPUNET_KERNEL_CHECK();
  }
}

}  // namespace gpunet::kernels::cuda
