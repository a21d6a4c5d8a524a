// Broadcasting binary ops and sum_to on the CPU: plain loops over the output's multi-index.
#include "kernels/broadcast.h"

namespace gpunet::kernels::cpu {
namespace {

template <typename T>
T apply_op(BroadcastOp op, T a, T b) {
  switch (op) {
    case BroadcastOp::Add: return a + b;
    case BroadcastOp::Sub: return a - b;
    case BroadcastOp::Mul: return a * b;
    case BroadcastOp::Div: return a / b;
  }
  return a;
}

int64_t numel(int ndim, const int64_t* sizes) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= sizes[d];
  return n;
}

}  // namespace

template <typename T>
void broadcast_binary(BroadcastOp op, const BroadcastShape& s, const T* a, const T* b, T* out) {
  const int64_t n = numel(s.ndim, s.out);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = s.ndim - 1; d >= 0; --d) {
      const int64_t k = rest % s.out[d];
      rest /= s.out[d];
      ia += k * s.a_stride[d];
      ib += k * s.b_stride[d];
    }
    out[i] = apply_op(op, a[ia], b[ib]);
  }
}

template <typename T>
void sum_to(const SumToShape& s, const T* g, T* out) {
  int64_t in_stride[kMaxBroadcastDims];
  int64_t st = 1;
  for (int d = s.ndim - 1; d >= 0; --d) {
    in_stride[d] = st;
    st *= s.in[d];
  }
  int64_t red[kMaxBroadcastDims];  // sizes of the reduced dimensions (1 elsewhere)
  for (int d = 0; d < s.ndim; ++d) red[d] = s.out[d] == 1 ? s.in[d] : 1;
  const int64_t n_out = numel(s.ndim, s.out), n_red = numel(s.ndim, red);
  for (int64_t j = 0; j < n_out; ++j) {
    int64_t rest = j, base = 0;
    for (int d = s.ndim - 1; d >= 0; --d) {
      const int64_t k = rest % s.out[d];
      rest /= s.out[d];
      base += k * in_stride[d];
    }
    double acc = 0.0;
    for (int64_t r = 0; r < n_red; ++r) {
      int64_t rr = r, off = base;
      for (int d = s.ndim - 1; d >= 0; --d) {
        const int64_t k = rr % red[d];
        rr /= red[d];
        off += k * in_stride[d];
      }
      acc += static_cast<double>(g[off]);
    }
    out[j] = static_cast<T>(acc);
  }
}

#define GPUNET_INSTANTIATE(T)                                                                       \
  template void broadcast_binary<T>(BroadcastOp, const BroadcastShape&, const T*, const T*, T*);   \
  template void sum_to<T>(const SumToShape&, const T*, T*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
