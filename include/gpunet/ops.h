#pragma once
/// Tensor operations, forward and (where differentiable) backward, on the CPU and on CUDA.
/// Every op checks its inputs once (shapes, dtypes, devices) and throws gpunet::Error naming
/// the op and the bad value; inputs may be non-contiguous (they are made contiguous).
/// Layouts are PyTorch's: NCHW activations, conv weight [OC, IC, KH, KW], linear weight [out, in].
#include <cstdint>
#include <string>

#include "gpunet/tensor.h"

namespace gpunet {
namespace ops {

// ---- elementwise (numpy broadcasting; a one-element b is a scalar) -------------------
/// a + b, a - b, a * b, a / b with numpy's broadcasting rules (shapes right-aligned; each
/// dimension equal or 1), e.g. x [N, C, H, W] + bias [1, C, 1, 1] or [C, 1, 1]. The gradient of
/// a broadcast operand is summed over its broadcast dimensions. Throws naming the op and both
/// shapes when they do not broadcast.   Tensor y = ops::add(x, f(x));   // a residual
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
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
/// torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation=1, ceil_mode):
/// x (N, C, H, W) -> (N, C, OH, OW). stride 0 means stride = kernel (PyTorch's default).
/// Requires padding <= kernel / 2; with ceil_mode the last window must start inside the
/// input or its left padding (PyTorch's rule). Padding never wins (-inf).
///   ops::max_pool2d(x, 3, 2, 1);   // ResNet's stem pool
Tensor max_pool2d(const Tensor& x, int kernel, int stride = 0, int padding = 0, bool ceil_mode = false);
/// torch.nn.functional.avg_pool2d: the same windows as max_pool2d; the divisor counts the
/// zero padding when count_include_pad (PyTorch's default), else only the input elements.
Tensor avg_pool2d(const Tensor& x, int kernel, int stride = 0, int padding = 0, bool ceil_mode = false,
                  bool count_include_pad = true);
/// torch.nn.functional.adaptive_avg_pool2d to (output_h, output_w): output cell i of an axis of
/// length L averages [floor(i*L/OL), ceil((i+1)*L/OL)). Requires output sizes >= 1.
///   ops::adaptive_avg_pool2d(x, 1);   // global average pool -> (N, C, 1, 1)
Tensor adaptive_avg_pool2d(const Tensor& x, int output_h, int output_w);
Tensor adaptive_avg_pool2d(const Tensor& x, int output_size);
/// torch.nn.functional.batch_norm on NCHW: x (N, C, H, W); weight, bias, running_mean,
/// running_var: [C] or undefined (affine=False; track_running_stats=False).
/// training: normalise with the batch's mean and biased variance; running_mean/running_var (when
///   given) are updated in place: running = (1 - momentum) * running + momentum * batch, with the
///   unbiased variance. (PyTorch's momentum=None, the cumulative average, is momentum =
///   1 / num_batches_tracked, which the module passes.)
/// eval with running statistics: normalise with them; eval without: batch statistics (PyTorch).
/// Throws PyTorch's "Expected more than 1 value per channel when training, got input size
/// [1, C, 1, 1]" for one value per channel with batch statistics, and names both counts for a
/// wrong channel count. Backward for x, weight and bias.
///   Tensor y = ops::batch_norm2d(x, w, b, rm, rv, /*training=*/true);
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
/// gelu(batch_norm2d(...), approximate), equal to the two calls in values and gradients, with
/// less memory: with batch statistics and autograd it is one backward node that keeps only what
/// batch_norm2d keeps and recomputes the normalised tensor in the backward (one more pass over x)
/// instead of holding it for gelu. Otherwise (eval mode with running statistics, or no grad) it
/// is the two ops.
///   Tensor h = ops::batch_norm2d_gelu(x, w, b, rm, rv, /*training=*/true);
Tensor batch_norm2d_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                         const std::string& approximate = "none");
/// gelu(x) = x * Phi(x) (approximate "none", with erf) or the "tanh" approximation (PyTorch's).
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
/// silu(x) = x * sigmoid(x).
Tensor silu(const Tensor& x);
/// torch.nn.functional.dropout: in training, each element is zeroed with probability p and the
/// others scaled by 1 / (1 - p); the identity (the input itself) in eval or for p = 0. The mask
/// of element i is drawn from the counter-based generator at (seed, offset + i) (random.h), so
/// the CPU and CUDA draw the same mask; a caller advances offset by x.numel() per call.
/// Requires p in [0, 1] (p = 1 zeroes everything).
///   Tensor y = ops::dropout(x, 0.5, true, seed, offset);
Tensor dropout(const Tensor& x, double p, bool training, uint64_t seed, uint64_t offset);
/// x: (N, in), weight: (out, in), bias: (out) or undefined -> (N, out): x·Wᵀ + b.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

/// logits: (N, C) -> (N, C), log_softmax over dim 1.
Tensor log_softmax(const Tensor& logits);
/// logp: (N, C), target: (N) int64 -> scalar mean of -logp[i, target[i]].
Tensor nll_loss(const Tensor& logp, const Tensor& target);
/// How a loss reduces its per-sample values (PyTorch's reduction='mean' | 'sum' | 'none').
enum class Reduction { Mean, Sum, None };
/// logits: (N, C), target: (N) int64 -> scalar mean cross-entropy (label_smoothing 0).
Tensor cross_entropy(const Tensor& logits, const Tensor& target);
/// torch.nn.functional.cross_entropy(logits, target, label_smoothing=, reduction=): per sample
/// (1 - ls) * -log p[target] + ls / C * sum_c -log p[c]; mean -> [], sum -> [], none -> [N].
/// Requires label_smoothing in [0, 1) (throws naming the value), targets in [0, C).
///   Tensor loss = ops::cross_entropy(logits, y, 0.2);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, double label_smoothing,
                     Reduction reduction = Reduction::Mean);
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
inline Tensor operator/(const Tensor& a, const Tensor& b) { return ops::div(a, b); }
inline Tensor operator-(const Tensor& a) { return ops::neg(a); }

}  // namespace gpunet
