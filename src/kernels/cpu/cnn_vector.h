#pragma once
// Internal: the vector (AVX-512 / AVX2) fast paths of the CNN kernels, float only. The portable
// templates in activation.cpp, batch_norm.cpp, pooling.cpp and max_pool2d.cpp call these when
// isa() is not Generic; each takes the reference's float parameter list after `isa` and
// returns false where it does not handle the case (the reference loop then runs).
// Results: elementwise ops within a few ulp of the reference (vector exp/erf, vec_math.inc);
// batch-norm statistics summed in double lanes (another order than the reference's double
// sums), its elementwise passes in float; average pools sum rows first; the general max pool
// forward is bit-identical. tests/ops/test_cnn_vector.cpp states the tolerances. None of them
// allocates (row buffers and coefficients live on the stack).
#include <cstdint>

#include "kernels/batch_norm.h"
#include "kernels/cpu/isa.h"
#include "kernels/max_pool2d.h"
#include "kernels/pooling.h"

namespace gpunet::kernels::cpu::fast {

// erf element by element (exposed for its accuracy test and the benchmark).
bool erf(Isa isa, int64_t n, const float* x, float* out);
bool gelu_forward(Isa isa, int64_t n, const float* x, bool tanh_approx, float* out);
bool gelu_backward(Isa isa, int64_t n, const float* x, const float* dout, bool tanh_approx, float* dx);
bool silu_forward(Isa isa, int64_t n, const float* x, float* out);
bool silu_backward(Isa isa, int64_t n, const float* x, const float* dout, float* dx);

bool batch_norm_forward(Isa isa, const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, bool use_batch_stats, double momentum, double eps,
                        float* out, float* save_mean, float* save_invstd);
bool batch_norm_backward(Isa isa, const BatchNormShape& s, const float* x, const float* weight,
                         const float* save_mean, const float* save_invstd, bool use_batch_stats, const float* dout,
                         float* dx, float* dweight, float* dbias);

bool avg_pool2d_forward(Isa isa, const Pool2dShape& s, bool count_include_pad, const float* x, float* out);
bool avg_pool2d_backward(Isa isa, const Pool2dShape& s, bool count_include_pad, const float* dout, float* dx);
bool adaptive_avg_pool2d_forward(Isa isa, const AdaptivePool2dShape& s, const float* x, float* out);
bool adaptive_avg_pool2d_backward(Isa isa, const AdaptivePool2dShape& s, const float* dout, float* dx);
// Any K, stride, padding (not the 2x2 stride-2 case, which max_pool2d.cpp has): bit-identical.
bool max_pool2d_forward(Isa isa, const Pool2dShape& s, const float* x, float* out, int32_t* argmax);

}  // namespace gpunet::kernels::cpu::fast
