// The AVX-512 / AVX2 pooling kernels (cnn_vector.h): avg_pool2d, adaptive_avg_pool2d (forward
// and backward) and the general max_pool2d forward; bodies in pooling_vector.inc, once per
// instruction set; OpenMP over the N*C planes as the references (pooling.cpp, max_pool2d.cpp).
// Shapes whose rows do not fit the stack row buffer (kRowBuf floats) take the reference.
#include <algorithm>

#include "kernels/cpu/cnn_vector.h"
#include "kernels/cpu/vec_ops.h"

namespace gpunet::kernels::cpu::fast {
#if GPUNET_X86_KERNELS
namespace {
constexpr int kRowBuf = 2048;
namespace z16 {
using V = vec::Z16;
#define GPUNET_VT GPUNET_TARGET_AVX512
#include "kernels/cpu/pooling_vector.inc"
#undef GPUNET_VT
}  // namespace z16
namespace y8 {
using V = vec::Y8;
#define GPUNET_VT GPUNET_TARGET_AVX2
#include "kernels/cpu/pooling_vector.inc"
#undef GPUNET_VT
}  // namespace y8

// The row buffer of avg_pool2d: columns -pad .. the last window's end, plus a vector of slack.
int avg_buf_len(const Pool2dShape& s) {
  return std::max(s.W + 2 * s.pad, (s.OW - 1) * s.stride + s.K) + 16;
}
bool avg_fits(const Pool2dShape& s) { return avg_buf_len(s) <= kRowBuf && s.OW <= kRowBuf; }
}  // namespace

bool avg_pool2d_forward(Isa isa, const Pool2dShape& s, bool count_include_pad, const float* x, float* out) {
  if (isa == Isa::Generic || !avg_fits(s)) return false;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
  const int len = avg_buf_len(s);
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    float buf[kRowBuf];
    const float* xp = x + pl * s.H * s.W;
    float* op = out + pl * s.OH * s.OW;
    isa == Isa::Avx512 ? z16::avg_fwd_plane(s, count_include_pad, xp, op, buf, len)
                       : y8::avg_fwd_plane(s, count_include_pad, xp, op, buf, len);
  }
  return true;
}

bool avg_pool2d_backward(Isa isa, const Pool2dShape& s, bool count_include_pad, const float* dout, float* dx) {
  if (isa == Isa::Generic || !avg_fits(s)) return false;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
  const int len = avg_buf_len(s);
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    float buf[kRowBuf];
    const float* g = dout + pl * s.OH * s.OW;
    float* dp = dx + pl * s.H * s.W;
    isa == Isa::Avx512 ? z16::avg_bwd_plane(s, count_include_pad, g, dp, buf, len)
                       : y8::avg_bwd_plane(s, count_include_pad, g, dp, buf, len);
  }
  return true;
}

bool adaptive_avg_pool2d_forward(Isa isa, const AdaptivePool2dShape& s, const float* x, float* out) {
  if (isa == Isa::Generic || s.W > kRowBuf) return false;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    float buf[kRowBuf];
    const float* xp = x + pl * s.H * s.W;
    float* op = out + pl * s.OH * s.OW;
    isa == Isa::Avx512 ? z16::adaptive_fwd_plane(s, xp, op, buf) : y8::adaptive_fwd_plane(s, xp, op, buf);
  }
  return true;
}

bool adaptive_avg_pool2d_backward(Isa isa, const AdaptivePool2dShape& s, const float* dout, float* dx) {
  if (isa == Isa::Generic || s.W > kRowBuf) return false;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    float buf[kRowBuf];
    const float* g = dout + pl * s.OH * s.OW;
    float* dp = dx + pl * s.H * s.W;
    isa == Isa::Avx512 ? z16::adaptive_bwd_plane(s, g, dp, buf) : y8::adaptive_bwd_plane(s, g, dp, buf);
  }
  return true;
}

bool max_pool2d_forward(Isa isa, const Pool2dShape& s, const float* x, float* out, int32_t* argmax) {
  if (isa == Isa::Generic) return false;
  const int64_t planes = static_cast<int64_t>(s.N) * s.C;
#pragma omp parallel for schedule(static) if (planes > 16)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = x + pl * s.H * s.W;
    float* op = out + pl * s.OH * s.OW;
    int32_t* ap = argmax + pl * s.OH * s.OW;
    isa == Isa::Avx512 ? z16::max_fwd_plane(s, xp, op, ap) : y8::max_fwd_plane(s, xp, op, ap);
  }
  return true;
}
#else
bool avg_pool2d_forward(Isa, const Pool2dShape&, bool, const float*, float*) { return false; }
bool avg_pool2d_backward(Isa, const Pool2dShape&, bool, const float*, float*) { return false; }
bool adaptive_avg_pool2d_forward(Isa, const AdaptivePool2dShape&, const float*, float*) { return false; }
bool adaptive_avg_pool2d_backward(Isa, const AdaptivePool2dShape&, const float*, float*) { return false; }
bool max_pool2d_forward(Isa, const Pool2dShape&, const float*, float*, int32_t*) { return false; }
#endif
}  // namespace gpunet::kernels::cpu::fast
