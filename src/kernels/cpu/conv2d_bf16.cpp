// conv2d in bf16 autocast on the CPU: oneDNN's bf16 primitives for wide layers, the float32
// kernels on bf16-rounded copies elsewhere (kernels/cpu/bf16.h says why both are bf16 arithmetic).
// The rounded copies are made a part of the batch at a time (at most kRoundedBudget bytes of
// them), in buffers borrowed from the host allocator for the call: whole-batch copies in
// grow-only buffers held 0.35 GB more for airbench94 at batch 1024 (its bf16 recipe peaked at
// 1.95 GB of RSS; docs/PERFORMANCE.md "Host memory").
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/device_api.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_dnnl.h"

namespace gpunet::kernels::cpu {
namespace detail {
namespace {
Bf16Force g_force = Bf16Force::Auto;

// The choice for this process: GPUNET_CPU_BF16=native|rounded, else AMX or a measured bf16 rate.
struct Bf16Choice {
  bool dnnl = false;
  std::string why;
};
std::string fixed2(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}
Bf16Choice choose() {
  Bf16Choice c;
  if (!dnnl_bf16_native()) {
    c.why = std::string("emulated: this CPU (or oneDNN's ISA cap) has no AVX512-BF16") +
            (dnnl_available() ? "" : " or gpunet was built without oneDNN") +
            ", so bf16 runs correctly through float32 kernels on bf16-rounded operands (slower than fp32)";
    return c;
  }
  const char* env = std::getenv("GPUNET_CPU_BF16");
  const std::string want = env ? env : "";
  const char* wide = "oneDNN bf16 convolutions for wide layers; narrow layers and linears run float32 kernels on "
                     "bf16-rounded operands";
  if (want == "native") {
    c.dnnl = true;
    c.why = std::string("native (GPUNET_CPU_BF16=native): ") + wide;
  } else if (want == "rounded") {
    c.why = "rounded (GPUNET_CPU_BF16=rounded): float32 kernels on bf16-rounded operands for every layer";
  } else if (dnnl_bf16_amx()) {
    c.dnnl = true;
    c.why = std::string("native (AMX-BF16): ") + wide;
  } else {
    const double r = bf16_dot_rate_ratio();
    c.dnnl = r >= kBf16NativeMinRatio;
    if (r <= 0.0) {
      c.why = "rounded: this CPU has AVX512-BF16 but no AMX, and GPUNET_CPU_ISA keeps gpunet's own vector code from "
              "measuring its rate, so bf16 runs float32 kernels on bf16-rounded operands (GPUNET_CPU_BF16=native "
              "forces oneDNN's bf16 kernels)";
      return c;
    }
    c.why = c.dnnl ? std::string("native (AVX512-BF16, measured at ") + fixed2(r) + "x the float32 FMA rate): " + wide
                   : std::string("rounded: this CPU has AVX512-BF16 but no AMX, and its bf16 dot products measured ") +
                         fixed2(r) +
                         "x the float32 FMA rate, so bf16 runs float32 kernels on bf16-rounded operands (faster "
                         "here than oneDNN's AVX512-BF16 kernels; GPUNET_CPU_BF16=native forces those)";
  }
  return c;
}
const Bf16Choice& choice() {
  static const Bf16Choice c = choose();
  return c;
}
}  // namespace
int g_part_images = 0;  // tests: images per part of the rounded path (0: by the budget)
void set_bf16_part_images_for_testing(int n) { g_part_images = n; }

void round_to_bf16(const float* in, float* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (int64_t(1) << 16))
  for (int64_t i = 0; i < n; ++i) out[i] = to_bf16(in[i]);
}

void set_bf16_path_for_testing(Bf16Force f) { g_force = f; }

bool bf16_takes_dnnl() {
  if (g_force == Bf16Force::Rounded) return false;
  if (g_force == Bf16Force::Native) return dnnl_bf16_native();
  return choice().dnnl;
}

Bf16Path conv2d_bf16_path(const Conv2dShape& s) {
  if (!bf16_takes_dnnl()) return Bf16Path::Rounded;
  return conv2d_path(s) == ConvAlgo::Direct ? Bf16Path::Rounded : Bf16Path::Dnnl;
}

std::string bf16_mode() { return choice().why; }
}  // namespace detail

namespace {
int64_t w_size(const Conv2dShape& s) { return static_cast<int64_t>(s.OC) * s.IC * s.KH * s.KW; }

constexpr int64_t kRoundedBudget = int64_t{32} << 20;  // bytes of rounded x and dout per part
constexpr int kMinPart = 16;                           // images: parts stay wide enough to thread

// One buffer from the host allocator for a call's rounded copies, given back when the call ends
// (or throws). A call in parts always takes kRoundedBudget bytes, whatever its shape: one size
// that the allocator's best fit reuses call after call (parts of their own sizes fragmented its
// arena: 0.28 GB more held at batch 1024).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(size_t n) : p(n ? gpunet::detail::cpu_allocate(n) : nullptr), bytes(n) {}
  ~Scratch() {
    if (p) gpunet::detail::cpu_deallocate(p, bytes);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* at(int64_t offset) const { return static_cast<float*>(p) + offset; }
};

// Images per part: the rounded copies of `per_image` floats each stay within the budget.
int part_images(const Conv2dShape& s, int64_t per_image) {
  if (detail::g_part_images > 0) return std::min(detail::g_part_images, s.N);
  const int64_t fit = kRoundedBudget / std::max<int64_t>(1, per_image * static_cast<int64_t>(sizeof(float)));
  return std::max(1, static_cast<int>(std::clamp<int64_t>(fit, std::min(kMinPart, s.N), s.N)));
}

// The buffer for parts of `part` images of `per_image` floats.
size_t scratch_bytes(const Conv2dShape& s, int part, int64_t per_image) {
  const size_t need = static_cast<size_t>(part) * static_cast<size_t>(per_image) * sizeof(float);
  return part < s.N ? std::max(need, static_cast<size_t>(kRoundedBudget)) : need;
}

// The float32 backward on rounded operands, a part of the batch at a time: dx image by image,
// dw and db summed over the parts (the first part writes them).
void rounded_backward(const Conv2dShape& s, const float* x, const float* wr, const float* dout, float* dx, float* dw,
                      float* db) {
  const int64_t x_img = static_cast<int64_t>(s.IC) * s.H * s.W, o_img = static_cast<int64_t>(s.OC) * s.OH * s.OW;
  if (s.N <= 0) return conv2d_backward<float>(s, x, wr, dout, dx, dw, db);  // zeros, as the float32 path
  const int64_t x_part = dw ? x_img : 0;  // x only feeds dw
  const int part = part_images(s, x_part + o_img);
  const Scratch buf(scratch_bytes(s, part, x_part + o_img));
  std::vector<float> dw_part, db_part;
  for (int n0 = 0; n0 < s.N; n0 += part) {
    Conv2dShape sp = s;
    sp.N = std::min(part, s.N - n0);
    float* xr = buf.at(0);
    float* gr = buf.at(sp.N * x_part);
    if (dw) detail::round_to_bf16(x + n0 * x_img, xr, sp.N * x_img);
    detail::round_to_bf16(dout + n0 * o_img, gr, sp.N * o_img);
    float* dwp = dw;
    float* dbp = db;
    if (n0 > 0) {  // later parts: into scratch, then added
      if (dw) dw_part.resize(static_cast<size_t>(w_size(s)));
      if (db) db_part.resize(static_cast<size_t>(s.OC));
      dwp = dw ? dw_part.data() : nullptr;
      dbp = db ? db_part.data() : nullptr;
    }
    conv2d_backward<float>(sp, dw ? xr : x + n0 * x_img, wr, gr, dx ? dx + n0 * x_img : nullptr, dwp, dbp);
    if (n0 > 0) {
      if (dw)
        for (size_t i = 0; i < dw_part.size(); ++i) dw[i] += dw_part[i];
      if (db)
        for (int i = 0; i < s.OC; ++i) db[i] += db_part[static_cast<size_t>(i)];
    }
  }
}

// w rounded, in a buffer of its own (small: at most OC x IC x K x K), from the host allocator's
// cache like the other copies: no heap allocation per training step.
struct RoundedWeights : Scratch {
  RoundedWeights(const float* w, int64_t n) : Scratch(static_cast<size_t>(n) * sizeof(float)) {
    detail::round_to_bf16(w, at(0), n);
  }
  const float* data() const { return at(0); }
};
}  // namespace

void conv2d_forward_bf16(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out) {
  using namespace detail;
  if (conv2d_bf16_path(s) == Bf16Path::Dnnl &&
      conv2d_dnnl_forward(s, x, w, b, out, DnnlLayout::Blocked, DnnlType::Bf16))
    return;
  // Each image's output from that image alone: the rounded input a part at a time.
  const int64_t x_img = static_cast<int64_t>(s.IC) * s.H * s.W, o_img = static_cast<int64_t>(s.OC) * s.OH * s.OW;
  const RoundedWeights wr(w, w_size(s));
  const int part = part_images(s, x_img);
  const Scratch buf(scratch_bytes(s, part, x_img));
  for (int n0 = 0; n0 < s.N; n0 += part) {
    Conv2dShape sp = s;
    sp.N = std::min(part, s.N - n0);
    round_to_bf16(x + n0 * x_img, buf.at(0), sp.N * x_img);
    conv2d_forward<float>(sp, buf.at(0), wr.data(), b, out + n0 * o_img);
  }
}

void conv2d_backward_bf16(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db) {
  using namespace detail;
  // dx, dw and db through oneDNN's bf16 backward primitives (bf16 operands, float32 results).
  // Until 2026-12-02 dw and db took the float32 kernel on rounded operands here, from a timing on
  // a loaded machine that found oneDNN 2.6's bf16 weight gradient slower; on a quiet one it is
  // faster: airbench94 at batch 256, 2 threads, 509-547 against 423-445 images/s
  // (docs/PERFORMANCE.md, bf16 section).
  if (conv2d_bf16_path(s) == Bf16Path::Dnnl &&
      conv2d_dnnl_backward(s, x, w, dout, dx, dw, db, DnnlLayout::Blocked, DnnlType::Bf16))
    return;
  if (!dx) return rounded_backward(s, x, w, dout, nullptr, dw, db);  // w only feeds dx
  const RoundedWeights wr(w, w_size(s));
  rounded_backward(s, x, wr.data(), dout, dx, dw, db);
}

}  // namespace gpunet::kernels::cpu
