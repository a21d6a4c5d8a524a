// conv2d through oneDNN 2.x (Debian's libdnnl-dev), float32. See conv2d_dnnl.h for the contract.
//
// Per (shape, layout, OpenMP thread count) a cache entry holds up to five primitives, each made on first use:
// forward with and without bias, backward data, backward weights with and without the bias
// gradient. Each primitive keeps its memory objects (handles swapped per call with
// set_data_handle), its argument array for the C API's dnnl_primitive_execute (no map built per
// call), and, in the Blocked layout, a reorder primitive for every argument whose layout oneDNN
// chose differently from the public NCHW/OIHW one. Reordered copies and scratchpads
// (scratchpad_mode::user) are borrowed from the host allocator for the call and given back at
// its end: they share its cached pages with the tensors (grow-only buffers of their own held
// 0.3 GB for airbench94 at batch 1024, and more once evaluation ran at batch 2000).
#include "kernels/cpu/conv2d_dnnl.h"

#if GPUNET_HAVE_DNNL

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/device_api.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gpunet::kernels::cpu::detail {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

size_t g_created = 0;

// A call's reordered arguments and scratchpad, from the host allocator (core/device_api.h),
// given back when the call ends (or throws).
struct Borrowed {
  std::vector<std::pair<void*, size_t>> blocks;
  size_t bytes = 0;
  void* get(size_t n) {
    blocks.emplace_back(nullptr, n);
    blocks.back().first = gpunet::detail::cpu_allocate(n);
    bytes += n;
    return blocks.back().first;
  }
  ~Borrowed() {
    for (auto& [p, n] : blocks) gpunet::detail::cpu_deallocate(p, n);
  }
};
size_t g_ws_most = 0;  // the most one call has borrowed

struct Arg {
  memory user;    // the public buffer (plain layout)
  memory inner;   // what the primitive reads or writes (== user unless reordered)
  bool output = false, reordered = false;
  size_t bytes = 0;
  dnnl::reorder reorder;
  dnnl_exec_arg_t reorder_args[2]{};
};

struct Prim {
  dnnl::primitive prim;
  std::vector<Arg> args;  // in the order the caller passes pointers
  memory scratch;
  size_t scratch_bytes = 0;
  std::vector<dnnl_exec_arg_t> exec;
};

// Finishes a primitive: one Arg per (id, plain desc, the desc the primitive wants).
struct ArgSpec {
  int id;
  memory::desc plain, want;
  bool output;
};
std::unique_ptr<Prim> finish(dnnl::primitive prim, const memory::desc& scratch_md, const std::vector<ArgSpec>& specs) {
  auto p = std::make_unique<Prim>();
  p->prim = std::move(prim);
  ++g_created;
  for (const ArgSpec& sp : specs) {
    Arg a;
    a.output = sp.output;
    a.user = memory(sp.plain, engine(), DNNL_MEMORY_NONE);
    if (sp.want != sp.plain) {
      a.reordered = true;
      a.inner = memory(sp.want, engine(), DNNL_MEMORY_NONE);
      a.bytes = sp.want.get_size();
      a.reorder = a.output ? dnnl::reorder(a.inner, a.user) : dnnl::reorder(a.user, a.inner);
      ++g_created;
      const memory& from = a.output ? a.inner : a.user;
      const memory& to = a.output ? a.user : a.inner;
      a.reorder_args[0] = {DNNL_ARG_FROM, from.get()};
      a.reorder_args[1] = {DNNL_ARG_TO, to.get()};
    } else {
      a.inner = a.user;
    }
    p->exec.push_back({sp.id, a.inner.get()});
    p->args.push_back(std::move(a));
  }
  p->scratch_bytes = scratch_md.get_size();
  if (p->scratch_bytes > 0) {
    p->scratch = memory(scratch_md, engine(), DNNL_MEMORY_NONE);
    p->exec.push_back({DNNL_ARG_SCRATCHPAD, p->scratch.get()});
  }
  return p;
}

void check(dnnl_status_t st) {
  if (st != dnnl_success) throw dnnl::error(st, "gpunet: oneDNN convolution failed to execute");
}

// Runs p on the given buffers (one per Arg, in order; nullptr never passed).
void run(Prim& p, std::initializer_list<const float*> ptrs) {
  size_t i = 0;
  Borrowed ws;
  for (const float* ptr : ptrs) {
    Arg& a = p.args[i++];
    a.user.set_data_handle(const_cast<float*>(ptr));
    if (a.reordered) a.inner.set_data_handle(ws.get(a.bytes));
  }
  if (p.scratch_bytes > 0) p.scratch.set_data_handle(ws.get(p.scratch_bytes));
  g_ws_most = std::max(g_ws_most, ws.bytes);
  dnnl::stream& s = stream();
  for (Arg& a : p.args)
    if (a.reordered && !a.output) check(dnnl_primitive_execute(a.reorder.get(), s.get(), 2, a.reorder_args));
  check(dnnl_primitive_execute(p.prim.get(), s.get(), static_cast<int>(p.exec.size()), p.exec.data()));
  for (Arg& a : p.args)
    if (a.reordered && a.output) check(dnnl_primitive_execute(a.reorder.get(), s.get(), 2, a.reorder_args));
  s.wait();
}

struct Key {
  int v[14];
  bool operator==(const Key& o) const {
    for (int i = 0; i < 14; ++i)
      if (v[i] != o.v[i]) return false;
    return true;
  }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = 1469598103934665603ull;
    for (int x : k.v) h = (h ^ static_cast<unsigned>(x)) * 1099511628211ull;
    return h;
  }
};

// One shape's primitives; a null pointer with `rejected` set means oneDNN refused it.
struct Entry {
  std::unique_ptr<Prim> fwd[2], bwd_data, bwd_weights[2];  // [has bias]
  bool rejected = false;
};

struct Descs {
  memory::dims strides, pad;
  memory::desc src, wei, dst, bias;        // plain
  memory::desc src_w, wei_w, dst_w;        // what the primitive is asked for
  memory::desc ddst_w;                     // diff_dst: dst_w, but bf16 in bf16 mode
};
// In bf16 mode the primitive reads src, weights and diff_dst in bf16 (the reorders round) and
// writes dst, diff_src, diff_weights and diff_bias in float32.
Descs descs(const Conv2dShape& s, DnnlLayout layout, DnnlType type) {
  Descs d;
  d.strides = {s.stride, s.stride};
  d.pad = {s.pad, s.pad};
  d.src = memory::desc({s.N, s.IC, s.H, s.W}, dt::f32, tag::nchw);
  d.wei = memory::desc({s.OC, s.IC, s.KH, s.KW}, dt::f32, tag::oihw);
  d.dst = memory::desc({s.N, s.OC, s.OH, s.OW}, dt::f32, tag::nchw);
  d.bias = memory::desc({s.OC}, dt::f32, tag::x);
  const bool any = layout == DnnlLayout::Blocked;
  d.src_w = any ? memory::desc({s.N, s.IC, s.H, s.W}, dt::f32, tag::any) : d.src;
  d.wei_w = any ? memory::desc({s.OC, s.IC, s.KH, s.KW}, dt::f32, tag::any) : d.wei;
  d.dst_w = any ? memory::desc({s.N, s.OC, s.OH, s.OW}, dt::f32, tag::any) : d.dst;
  d.ddst_w = d.dst_w;
  if (type == DnnlType::Bf16) {  // always blocked (format_tag::any)
    d.src_w = memory::desc({s.N, s.IC, s.H, s.W}, dt::bf16, tag::any);
    d.wei_w = memory::desc({s.OC, s.IC, s.KH, s.KW}, dt::bf16, tag::any);
    d.dst_w = memory::desc({s.N, s.OC, s.OH, s.OW}, dt::f32, tag::any);
    d.ddst_w = memory::desc({s.N, s.OC, s.OH, s.OW}, dt::bf16, tag::any);
  }
  return d;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Descs& d, bool bias) {
  using cf = dnnl::convolution_forward;
  cf::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.src_w, d.wei_w,
                bias ? d.bias : memory::desc(), d.dst_w, d.strides, d.pad, d.pad);
  return cf::primitive_desc(desc, user_scratchpad(), engine());
}

std::unique_ptr<Prim> make_forward(const Descs& d, bool bias) {
  auto pd = forward_pd(d, bias);
  std::vector<ArgSpec> specs{{DNNL_ARG_SRC, d.src, pd.src_desc(), false},
                             {DNNL_ARG_WEIGHTS, d.wei, pd.weights_desc(), false}};
  if (bias) specs.push_back({DNNL_ARG_BIAS, d.bias, d.bias, false});
  specs.push_back({DNNL_ARG_DST, d.dst, pd.dst_desc(), true});
  return finish(dnnl::convolution_forward(pd), pd.scratchpad_desc(), specs);
}

std::unique_ptr<Prim> make_backward_data(const Descs& d) {
  using cb = dnnl::convolution_backward_data;
  // diff_src in float32 whatever the mode (weights and diff_dst may be bf16)
  const memory::desc dsrc = d.src_w.data_type() == dt::f32 ? d.src_w : memory::desc(d.src_w.dims(), dt::f32, tag::any);
  cb::desc desc(dnnl::algorithm::convolution_direct, dsrc, d.wei_w, d.ddst_w, d.strides, d.pad, d.pad);
  cb::primitive_desc pd(desc, user_scratchpad(), engine(), forward_pd(d, false));
  return finish(cb(pd), pd.scratchpad_desc(),
                {{DNNL_ARG_DIFF_DST, d.dst, pd.diff_dst_desc(), false},
                 {DNNL_ARG_WEIGHTS, d.wei, pd.weights_desc(), false},
                 {DNNL_ARG_DIFF_SRC, d.src, pd.diff_src_desc(), true}});
}

std::unique_ptr<Prim> make_backward_weights(const Descs& d, bool bias) {
  using cb = dnnl::convolution_backward_weights;
  auto make_desc = [&] {
    // diff_weights in float32 whatever the mode (src and diff_dst may be bf16)
    const memory::desc dwei =
        d.wei_w.data_type() == dt::f32 ? d.wei_w : memory::desc(d.wei_w.dims(), dt::f32, tag::any);
    return bias ? cb::desc(dnnl::algorithm::convolution_direct, d.src_w, dwei, d.bias, d.ddst_w, d.strides, d.pad,
                           d.pad)
                : cb::desc(dnnl::algorithm::convolution_direct, d.src_w, dwei, d.ddst_w, d.strides, d.pad, d.pad);
  };
  cb::primitive_desc pd(make_desc(), user_scratchpad(), engine(), forward_pd(d, bias));
  std::vector<ArgSpec> specs{{DNNL_ARG_SRC, d.src, pd.src_desc(), false},
                             {DNNL_ARG_DIFF_DST, d.dst, pd.diff_dst_desc(), false},
                             {DNNL_ARG_DIFF_WEIGHTS, d.wei, pd.diff_weights_desc(), true}};
  if (bias) specs.push_back({DNNL_ARG_DIFF_BIAS, d.bias, d.bias, true});
  return finish(cb(pd), pd.scratchpad_desc(), specs);
}

std::mutex g_mutex;
std::unordered_map<Key, Entry, KeyHash> g_cache;

int threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// The thread count is part of the key: oneDNN sizes some primitives' scratchpads and work
// splits for the threads present when it creates them.
Entry& entry(const Conv2dShape& s, DnnlLayout layout, DnnlType type) {
  const Key k{{s.N, s.IC, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad, s.OH, s.OW, static_cast<int>(layout),
               threads(), static_cast<int>(type)}};
  return g_cache[k];
}

// Makes `slot` once; false (and the entry marked rejected) if oneDNN cannot run this shape.
template <typename Make>
bool ensure(Entry& e, std::unique_ptr<Prim>& slot, Make make) {
  if (e.rejected) return false;
  if (slot) return true;
  try {
    slot = make();
  } catch (const dnnl::error&) {
    e.rejected = true;
    return false;
  }
  return true;
}

void bias_grad(const Conv2dShape& s, const float* dout, float* db) {
  const size_t P = static_cast<size_t>(s.OH) * s.OW;
  for (int oc = 0; oc < s.OC; ++oc) {
    double acc = 0.0;
    for (int n = 0; n < s.N; ++n) {
      const float* d = dout + (static_cast<size_t>(n) * s.OC + oc) * P;
      for (size_t p = 0; p < P; ++p) acc += d[p];
    }
    db[oc] = static_cast<float>(acc);
  }
}

}  // namespace

bool dnnl_available() { return true; }

bool dnnl_bf16_native() {
  static const bool native = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    // The ISA values are bit masks, each including the ones below it (dnnl_types.h).
    const auto bits = static_cast<unsigned>(isa), bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (bits & bf16) == bf16;
  }();
  return native;
}

bool conv2d_dnnl_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out,
                         DnnlLayout layout, DnnlType type) {
  if (s.N <= 0) return false;
  if (type == DnnlType::Bf16) layout = DnnlLayout::Blocked;
  std::lock_guard<std::mutex> lock(g_mutex);
  Entry& e = entry(s, layout, type);
  const bool has_b = b != nullptr;
  if (!ensure(e, e.fwd[has_b], [&] { return make_forward(descs(s, layout, type), has_b); })) return false;
  if (has_b)
    run(*e.fwd[1], {x, w, b, out});
  else
    run(*e.fwd[0], {x, w, out});
  return true;
}

bool conv2d_dnnl_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db, DnnlLayout layout, DnnlType type) {
  if (s.N <= 0) return false;
  if (type == DnnlType::Bf16) layout = DnnlLayout::Blocked;
  std::lock_guard<std::mutex> lock(g_mutex);
  Entry& e = entry(s, layout, type);
  const bool with_db = db && dw;  // oneDNN sums the bias gradient alongside dw
  if (dx && !ensure(e, e.bwd_data, [&] { return make_backward_data(descs(s, layout, type)); })) return false;
  if (dw && !ensure(e, e.bwd_weights[with_db], [&] { return make_backward_weights(descs(s, layout, type), with_db); }))
    return false;
  if (dx) run(*e.bwd_data, {dout, w, dx});
  if (dw && with_db) run(*e.bwd_weights[1], {x, dout, dw, db});
  if (dw && !with_db) run(*e.bwd_weights[0], {x, dout, dw});
  if (db && !dw) bias_grad(s, dout, db);
  return true;
}

size_t dnnl_primitives_created() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_created;
}
size_t dnnl_workspace_bytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_ws_most;
}

}  // namespace gpunet::kernels::cpu::detail

#else  // built without oneDNN: never taken

namespace gpunet::kernels::cpu::detail {
bool dnnl_available() { return false; }
bool dnnl_bf16_native() { return false; }
bool conv2d_dnnl_forward(const Conv2dShape&, const float*, const float*, const float*, float*, DnnlLayout, DnnlType) {
  return false;
}
bool conv2d_dnnl_backward(const Conv2dShape&, const float*, const float*, const float*, float*, float*, float*,
                          DnnlLayout, DnnlType) {
  return false;
}
size_t dnnl_primitives_created() { return 0; }
size_t dnnl_workspace_bytes() { return 0; }
}  // namespace gpunet::kernels::cpu::detail

#endif
