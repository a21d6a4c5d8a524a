#pragma once
// Internal: conv2d through oneDNN (src/kernels/cpu/conv2d_dnnl.cpp), float32, forward, backward
// data and backward weights (+ bias). Used by kernels::cpu::conv2d_forward/backward<float> when
// conv2d_path(s) (src/kernels/cpu/conv2d.cpp) picks it; tested against kernels::cpu::reference
// in tests/ops/test_conv_dnnl.cpp.
//
// Requires: contiguous NCHW / OIHW float buffers, a valid shape (checked in src/ops/conv2d.cpp).
// Guarantees: one set of primitives per (shape, layout, bias, OpenMP thread count) is created on
// first use and cached for the life of the process, with its reorders; a call's scratchpad and
// reordered copies are one block borrowed from the host allocator for the call (its cached
// pages: no page faults in steady state), and a steady-state call creates no primitive. A call
// whose block would pass the budget (set_dnnl_workspace_budget) runs its batch in parts.
// Calls are serialized by a mutex (oneDNN itself runs each primitive on the OpenMP threads).
// Where gpunet was built without oneDNN (GPUNET_DNNL=OFF or not found) every entry point returns
// false and writes nothing, and the caller takes another path.
//   if (!detail::conv2d_dnnl_forward(s, x, w, b, out, DnnlLayout::Blocked)) { /* other path */ }
#include <cstddef>

#include "kernels/conv2d.h"

namespace gpunet::kernels::cpu::detail {

// Plain: oneDNN runs on nchw/oihw descriptors directly. Blocked: oneDNN chooses its layouts
// (format_tag::any, e.g. nChw16c / OIhw16i16o) and cached reorder primitives convert the public
// NCHW tensors in and out around each call.
enum class DnnlLayout { Plain, Blocked };

// F32: every argument float32. Bf16 (autocast): the public buffers stay float32, and the
// reorders in front of the primitive round x, w and dout to bfloat16 (nearest even); the
// primitive multiplies bf16 with float32 accumulation and writes out, dx, dw and db in float32.
// Bf16 always runs in the Blocked layout (the reorders run anyway). oneDNN picks its
// avx512_core_bf16 / avx512_core_amx kernels where the CPU has them (dnnl_bf16_native()).
enum class DnnlType { F32, Bf16 };

// True when oneDNN will run bf16 convolutions on native bf16 instructions (AVX512-BF16 or
// AMX-BF16, as oneDNN's effective ISA says: ONEDNN_MAX_CPU_ISA caps it). False without oneDNN.
bool dnnl_bf16_native();
// True when oneDNN may use AMX-BF16 tiles (its effective ISA includes avx512_core_amx).
bool dnnl_bf16_amx();

// True when gpunet was built with oneDNN.
bool dnnl_available();

// out = conv(x, w) + b (b may be nullptr). False: oneDNN absent or rejected the shape.
bool conv2d_dnnl_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out,
                         DnnlLayout layout, DnnlType type = DnnlType::F32);
// dx, dw, db (each may be nullptr) as kernels::cpu::conv2d_backward: written fresh.
// False: oneDNN absent or rejected the shape; nothing written.
bool conv2d_dnnl_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db, DnnlLayout layout, DnnlType type = DnnlType::F32);

// Tests: how many oneDNN primitives (convolutions and reorders) have been created so far, and
// the most workspace (reordered arguments + scratchpad) one call has borrowed from the host
// allocator, in bytes. Both stay constant once every shape has run once.
size_t dnnl_primitives_created();
size_t dnnl_workspace_bytes();

// The most workspace (reordered copies + scratchpad) one primitive run may borrow: a call that
// would need more runs its batch in parts (the forward and dx image by image as before; dw and
// db summed over the parts, so their rounding differs from one whole-batch call). Returns the
// previous budget; 0 restores the default. For tests (a small budget forces the parts).
constexpr size_t kDnnlDefaultWorkspaceBudget = size_t{96} << 20;
size_t set_dnnl_workspace_budget(size_t bytes);
// Tests: into how many parts the last call split its batch (1: whole; the larger of the data
// and weight gradients' counts for a backward call).
size_t dnnl_parts_last_call();
// Tests: whether the last backward call reordered dout once for both dx and dw (it does when
// both are asked for, both primitives want dout in the same blocked layout, neither runs in
// parts, and their blocks together fit the budget).
bool dnnl_shared_diff_dst_last_call();
// Tests: false makes every reorder oneDNN's own (true, the default: float32 NCHW <-> nChw16c
// with 16k channels take reorder16.h's AVX-512 kernels).
void set_dnnl_own_reorders_for_testing(bool on);

}  // namespace gpunet::kernels::cpu::detail
