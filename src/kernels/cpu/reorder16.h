#pragma once
// Internal: float32 NCHW <-> nChw16c (oneDNN's aBcd16b: (N, C/16, H, W, 16)) for channel counts
// that are multiples of 16, the reorders around every blocked oneDNN convolution
// (conv2d_dnnl.cpp). oneDNN 2.6's own NCHW -> nChw16c reorder gathers each 16-channel vector
// with strided loads, at 2-8 GB/s on ResNet-18's 32x32 and 16x16 planes; these kernels load 16
// channels x 16 pixels as 16 contiguous vectors, transpose them in registers (AVX-512) and store
// 1 KiB contiguous, for a batch of (image, channel block) pairs on the OpenMP threads.
// Results are the same bits (a copy); tests/ops/test_reorder16.cpp checks both directions
// against oneDNN's reorder and a scalar loop, with pixel counts that are not multiples of 16.
#include <cstdint>

namespace gpunet::kernels::cpu::detail {

// Whether the AVX-512 kernels below may run (isa() is Avx512). Callers take oneDNN's reorder
// otherwise.
bool reorder16_available();

// dst (N, C/16, P, 16) <- src (N, C, P); C % 16 == 0, P = H * W.
void nchw_to_nchw16c(const float* src, float* dst, int64_t N, int64_t C, int64_t P);
// dst (N, C, P) <- src (N, C/16, P, 16); C % 16 == 0.
void nchw16c_to_nchw(const float* src, float* dst, int64_t N, int64_t C, int64_t P);

}  // namespace gpunet::kernels::cpu::detail
