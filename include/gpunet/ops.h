#pragma once
/// Tensor operations, forward and (where differentiable) backward, on the CPU and on CUDA.
/// Every op checks its inputs once (shapes, dtypes, devices) and throws gpunet::Error naming
/// the op and the bad value; inputs may be non-contiguous (they are made contiguous).
/// Layouts are PyTorch's: NCHW activations, conv weight [OC, IC, KH, KW], linear weight [out, in].
#include <cstdint>

#include "gpunet/tensor.h"

namespace gpunet {
namespace ops {

// ---- elementwise (same shape, or b a one-element tensor) ---------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, double s);
Tensor add(const Tensor& a, double s);
Tensor neg(const Tensor& a);
Tensor relu(const Tensor& x);

// ---- reductions ----------------------------------------------------------------------
Tensor sum(const Tensor& x);   // all elements -> [] scalar
Tensor mean(const Tensor& x);  // all elements -> [] scalar
/// Index of the largest value along `dim` (int64, that dim removed); first index on ties.
Tensor argmax(const Tensor& x, int dim);
/// Elementwise a == b, as int64 0/1 (for accuracy counting).
Tensor eq(const Tensor& a, const Tensor& b);

// ---- network ops ----------------------------------------------------------------------
/// x: (N, IC, H, W), weight: (OC, IC, KH, KW), bias: (OC) or undefined -> (N, OC, OH, OW).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride = 1, int padding = 0);
/// x: (N, C, H, W) -> (N, C, OH, OW); stride defaults to the kernel size (PyTorch).
Tensor max_pool2d(const Tensor& x, int kernel, int stride = 0);
/// x: (N, in), weight: (out, in), bias: (out) or undefined -> (N, out): x·Wᵀ + b.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

/// logits: (N, C) -> (N, C), log_softmax over dim 1.
Tensor log_softmax(const Tensor& logits);
/// logp: (N, C), target: (N) int64 -> scalar mean of -logp[i, target[i]].
Tensor nll_loss(const Tensor& logp, const Tensor& target);
/// logits: (N, C), target: (N) int64 -> scalar mean cross-entropy (one fused kernel).
Tensor cross_entropy(const Tensor& logits, const Tensor& target);
/// softmax over dim 1 of (N, C) (no autograd; for predictions).
Tensor softmax(const Tensor& logits);

// ---- shape ops (differentiable; the Tensor methods of the same names call these) -------------
/// torch.Tensor.view: x's elements in `shape` (one dimension may be -1), sharing x's storage.
/// Never copies. Throws "view: a tensor of shape [..] and strides [..] cannot be viewed as [..]
/// ...; use .reshape(..)" when x's strides allow no such view (e.g. a transposed or narrowed x).
///   ops::view(x, {N, -1});
Tensor view(const Tensor& x, const Shape& shape);
/// torch.reshape: a view when x's strides allow one, otherwise a contiguous copy in `shape`.
/// Differentiable either way (the gradient is reshaped back to x's shape).
Tensor reshape(const Tensor& x, const Shape& shape);
/// torch.flatten(x, start_dim, end_dim): dimensions start_dim..end_dim merged into one (a view
/// when possible, as reshape). Defaults are torch.flatten's: everything into one dimension; a
/// 0-D x gives [1]. nn::Flatten (torch.nn.Flatten) keeps the batch: start_dim = 1.
///   ops::flatten(h, 1);   // (N, C, H, W) -> (N, C*H*W)
Tensor flatten(const Tensor& x, int start_dim = 0, int end_dim = -1);
/// torch.narrow: elements [start, start + length) of dimension `dim` (a view). The gradient is
/// scattered into zeros of x's shape.
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);

/// True when every element is finite (synchronises; for checks outside the hot loop).
bool all_finite(const Tensor& x);

}  // namespace ops

inline Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return ops::sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return ops::mul(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return ops::mul(a, s); }
inline Tensor operator-(const Tensor& a) { return ops::neg(a); }

}  // namespace gpunet
