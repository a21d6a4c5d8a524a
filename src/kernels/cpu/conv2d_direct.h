#pragma once
// Internal: direct convolution for float32 on AVX-512 (src/kernels/cpu/conv2d_direct.cpp), used
// by kernels::cpu::conv2d_forward/backward<float> when conv2d_direct_supported(s). It is tested
// against the plain reference (kernels::cpu::reference in kernels/conv2d.h).
#include "kernels/conv2d.h"

namespace gpunet::kernels::cpu::detail {

enum class ConvAlgo { Auto, Im2col, Direct, Dnnl, DnnlPlain };
// Tests and benchmarks only: Im2col forces the gemm path, Direct the direct one wherever it can
// run (AVX2 or AVX-512 present, stride 1), Dnnl / DnnlPlain oneDNN in its blocked / plain layout
// wherever gpunet has it (conv2d_dnnl.h), Auto picks by shape (conv2d_path). Not thread-safe.
void set_conv_algo_for_testing(ConvAlgo algo);
ConvAlgo conv_algo_for_testing();

// The path kernels::cpu::conv2d_forward/backward<float> take for s: the rule measured by
// bench/conv_paths.cpp, documented in docs/PERFORMANCE.md ("Convolution paths"). Never Auto.
ConvAlgo conv2d_path(const Conv2dShape& s);

bool conv2d_direct_supported(const Conv2dShape& s);
void conv2d_direct_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out);
// dx, dw (either may be nullptr) as kernels::cpu::conv2d_backward; db is computed there.
void conv2d_direct_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                            float* dw);

}  // namespace gpunet::kernels::cpu::detail
