// The AVX-512 / AVX2 gelu, silu and erf kernels (cnn_vector.h): the bodies are in
// activation_vector.inc, once per instruction set; OpenMP over blocks of 16K elements when
// the tensor is large. The portable loops in activation.cpp are the oracle
// (tests/ops/test_cnn_vector.cpp).
#include <algorithm>

#include "kernels/cpu/cnn_vector.h"
#include "kernels/cpu/vec_ops.h"

namespace gpunet::kernels::cpu::fast {
#if GPUNET_X86_KERNELS
namespace {
namespace z16 {
using V = vec::Z16;
#define GPUNET_VT GPUNET_TARGET_AVX512
#include "kernels/cpu/activation_vector.inc"
#undef GPUNET_VT
}  // namespace z16
namespace y8 {
using V = vec::Y8;
#define GPUNET_VT GPUNET_TARGET_AVX2
#include "kernels/cpu/activation_vector.inc"
#undef GPUNET_VT
}  // namespace y8

// fn(begin, end) over blocks of [0, n), in parallel when n is large.
template <class Fn>
void blocks(int64_t n, Fn fn) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t count = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t b = 0; b < count; ++b) fn(b * kBlock, std::min(n, (b + 1) * kBlock));
}
}  // namespace

bool erf(Isa isa, int64_t n, const float* x, float* out) {
  if (isa == Isa::Generic) return false;
  blocks(n, [&](int64_t b, int64_t e) {
    isa == Isa::Avx512 ? z16::erf_k(e - b, x + b, out + b) : y8::erf_k(e - b, x + b, out + b);
  });
  return true;
}
bool gelu_forward(Isa isa, int64_t n, const float* x, bool tanh_approx, float* out) {
  if (isa == Isa::Generic) return false;
  blocks(n, [&](int64_t b, int64_t e) {
    isa == Isa::Avx512 ? z16::gelu_fwd(e - b, x + b, tanh_approx, out + b)
                       : y8::gelu_fwd(e - b, x + b, tanh_approx, out + b);
  });
  return true;
}
bool gelu_backward(Isa isa, int64_t n, const float* x, const float* dout, bool tanh_approx, float* dx) {
  if (isa == Isa::Generic) return false;
  blocks(n, [&](int64_t b, int64_t e) {
    isa == Isa::Avx512 ? z16::gelu_bwd(e - b, x + b, dout + b, tanh_approx, dx + b)
                       : y8::gelu_bwd(e - b, x + b, dout + b, tanh_approx, dx + b);
  });
  return true;
}
bool silu_forward(Isa isa, int64_t n, const float* x, float* out) {
  if (isa == Isa::Generic) return false;
  blocks(n, [&](int64_t b, int64_t e) {
    isa == Isa::Avx512 ? z16::silu_fwd(e - b, x + b, out + b) : y8::silu_fwd(e - b, x + b, out + b);
  });
  return true;
}
bool silu_backward(Isa isa, int64_t n, const float* x, const float* dout, float* dx) {
  if (isa == Isa::Generic) return false;
  blocks(n, [&](int64_t b, int64_t e) {
    isa == Isa::Avx512 ? z16::silu_bwd(e - b, x + b, dout + b, dx + b) : y8::silu_bwd(e - b, x + b, dout + b, dx + b);
  });
  return true;
}
#else
bool erf(Isa, int64_t, const float*, float*) { return false; }
bool gelu_forward(Isa, int64_t, const float*, bool, float*) { return false; }
bool gelu_backward(Isa, int64_t, const float*, const float*, bool, float*) { return false; }
bool silu_forward(Isa, int64_t, const float*, float*) { return false; }
bool silu_backward(Isa, int64_t, const float*, const float*, float*) { return false; }
#endif
}  // namespace gpunet::kernels::cpu::fast
