#pragma once
// Broadcasting binary ops (numpy's rules) and their gradient's reduction back to an operand's
// shape. Shapes are right-aligned to ndim <= kMaxBroadcastDims by the front end; a broadcast
// dimension has stride 0 in the operand that is broadcast.
#include <cstdint>

namespace gpunet::kernels {

constexpr int kMaxBroadcastDims = 8;

enum class BroadcastOp { Add, Sub, Mul, Div };

struct BroadcastShape {
  int ndim;
  int64_t out[kMaxBroadcastDims];       // output sizes
  int64_t a_stride[kMaxBroadcastDims];  // element strides of a (0 where broadcast)
  int64_t b_stride[kMaxBroadcastDims];
};

// The reduction of g (sizes `in`, contiguous) to `out` (same ndim; out[d] is in[d] or 1; the
// size-1 dimensions are summed over).
struct SumToShape {
  int ndim;
  int64_t in[kMaxBroadcastDims];
  int64_t out[kMaxBroadcastDims];
};

namespace cpu {
// out (s.out, contiguous) = a op b, each read through its strides.
template <typename T>
void broadcast_binary(BroadcastOp op, const BroadcastShape& s, const T* a, const T* b, T* out);
// out (s.out) = g (s.in) summed over the dimensions where s.out is 1 and s.in is not (in double).
template <typename T>
void sum_to(const SumToShape& s, const T* g, T* out);
}  // namespace cpu

namespace cuda {
void broadcast_binary(BroadcastOp op, const BroadcastShape& s, const float* a, const float* b, float* out);
void sum_to(const SumToShape& s, const float* g, float* out);
}  // namespace cuda

}  // namespace gpunet::kernels
