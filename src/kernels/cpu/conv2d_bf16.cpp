// conv2d in bf16 autocast on the CPU: oneDNN's bf16 primitives for wide layers, the float32
// kernels on bf16-rounded copies elsewhere (kernels/cpu/bf16.h says why both are bf16 arithmetic).
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_dnnl.h"

namespace gpunet::kernels::cpu {
namespace detail {
namespace {
bool g_force_rounded = false;

// Grow-only scratch for the rounded copies: x, w, dout.
float* rounded_copy(const float* in, int64_t n, int slot) {
  thread_local std::vector<float> buf[3];
  if (buf[slot].size() < static_cast<size_t>(n)) buf[slot].resize(static_cast<size_t>(n));
  round_to_bf16(in, buf[slot].data(), n);
  return buf[slot].data();
}
}  // namespace

void round_to_bf16(const float* in, float* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (int64_t(1) << 16))
  for (int64_t i = 0; i < n; ++i) out[i] = to_bf16(in[i]);
}

void set_bf16_rounded_for_testing(bool rounded) { g_force_rounded = rounded; }

Bf16Path conv2d_bf16_path(const Conv2dShape& s) {
  if (g_force_rounded || !dnnl_bf16_native()) return Bf16Path::Rounded;
  return conv2d_path(s) == ConvAlgo::Direct ? Bf16Path::Rounded : Bf16Path::Dnnl;
}

std::string bf16_mode() {
  if (dnnl_bf16_native())
    return "native: oneDNN bf16 convolutions (AVX512-BF16/AMX) for wide layers; narrow layers and linears run "
           "float32 kernels on bf16-rounded operands";
  return std::string("emulated: this CPU (or oneDNN's ISA cap) has no AVX512-BF16") +
         (dnnl_available() ? "" : " or gpunet was built without oneDNN") +
         ", so bf16 runs correctly through float32 kernels on bf16-rounded operands (slower than fp32)";
}
}  // namespace detail

namespace {
int64_t x_size(const Conv2dShape& s) { return static_cast<int64_t>(s.N) * s.IC * s.H * s.W; }
int64_t w_size(const Conv2dShape& s) { return static_cast<int64_t>(s.OC) * s.IC * s.KH * s.KW; }
int64_t out_size(const Conv2dShape& s) { return static_cast<int64_t>(s.N) * s.OC * s.OH * s.OW; }
}  // namespace

void conv2d_forward_bf16(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out) {
  using namespace detail;
  if (conv2d_bf16_path(s) == Bf16Path::Dnnl &&
      conv2d_dnnl_forward(s, x, w, b, out, DnnlLayout::Blocked, DnnlType::Bf16))
    return;
  conv2d_forward<float>(s, rounded_copy(x, x_size(s), 0), rounded_copy(w, w_size(s), 1), b, out);
}

void conv2d_backward_bf16(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db) {
  using namespace detail;
  // dx through oneDNN's bf16 backward-data primitive. dw and db take the rounded path even here:
  // oneDNN 2.6's bf16 backward-weights kernels (jit:avx512_core_amx_bf16, jit_bf16:avx512_core_bf16)
  // measured 1.5x-80x slower than its float32 one on airbench's shapes (docs/PERFORMANCE.md).
  if (conv2d_bf16_path(s) == Bf16Path::Dnnl && dx &&
      conv2d_dnnl_backward(s, x, w, dout, dx, nullptr, nullptr, DnnlLayout::Blocked, DnnlType::Bf16)) {
    if (dw || db) conv2d_backward<float>(s, rounded_copy(x, x_size(s), 0), w, rounded_copy(dout, out_size(s), 2),
                                         nullptr, dw, db);
    return;
  }
  const float* xr = dw ? rounded_copy(x, x_size(s), 0) : x;  // x only feeds dw
  const float* wr = dx ? rounded_copy(w, w_size(s), 1) : w;  // w only feeds dx
  conv2d_backward<float>(s, xr, wr, rounded_copy(dout, out_size(s), 2), dx, dw, db);
}

}  // namespace gpunet::kernels::cpu
