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
// A call whose workspace would pass the budget (set_dnnl_workspace_budget, 96 MiB) runs the
// batch in parts, each through the primitives of its own (smaller) shape: the forward and the
// data gradient image by image as they are, the weight (and bias) gradients summed over the
// parts. At batch 1024 airbench94's group2 conv1 borrowed 0.3 GB of blocked copies at the
// training step's peak; in parts, 0.1 GB (docs/PERFORMANCE.md, "Host memory").
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
#include "kernels/cpu/reorder16.h"

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

// A call's reordered arguments and scratchpad: one block from the host allocator
// (core/device_api.h), carved 64-byte aligned, given back when the call ends (or throws). Calls
// in parts take at least the budget, one size call after call, which the allocator's best fit
// reuses (blocks of each part's own sizes fragmented its arena).
struct Borrowed {
  void* block = nullptr;
  size_t size = 0, used = 0;
  Borrowed(size_t need, size_t at_least) : size(std::max(need, at_least)) {
    if (size) block = gpunet::detail::cpu_allocate(size);
  }
  ~Borrowed() {
    if (block) gpunet::detail::cpu_deallocate(block, size);
  }
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  void* get(size_t n) {
    void* p = static_cast<char*>(block) + used;
    used += (n + 63) / 64 * 64;
    return p;
  }
};
size_t g_ws_most = 0;  // the most one call has borrowed

struct Arg {
  memory user;    // the public buffer (plain layout)
  memory inner;   // what the primitive reads or writes (== user unless reordered)
  bool output = false, reordered = false;
  size_t bytes = 0;
  // float32 abcd <-> aBcd16b with b % 16 == 0: reorder16.h's kernels run instead of oneDNN's
  // reorder (where AVX-512 is on); dims[0], dims[1] and dims[2] * dims[3].
  bool own16 = false;
  int64_t n = 0, c = 0, hw = 0;
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
      const memory::dims& dims = sp.plain.dims();
      if (sp.plain.data_type() == dt::f32 && dims.size() == 4 && dims[1] % 16 == 0 &&
          sp.plain == memory::desc(dims, dt::f32, tag::abcd) && sp.want == memory::desc(dims, dt::f32, tag::aBcd16b)) {
        a.own16 = true;
        a.n = dims[0];
        a.c = dims[1];
        a.hw = dims[2] * dims[3];
      }
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

// Bytes one run of p borrows (each piece rounded up to 64).
size_t borrow_bytes(const Prim& p);

// Points p's arguments at the given buffers (one per Arg, in order; nullptr never passed) and
// its reordered copies and scratchpad into ws. `given` >= 0: that argument's reordered copy is
// `given_inner` (made by another primitive's reorder), not a block of ws.
void bind(Prim& p, std::initializer_list<const float*> ptrs, Borrowed& ws, int given = -1, void* given_inner = nullptr) {
  int i = 0;
  for (const float* ptr : ptrs) {
    Arg& a = p.args[static_cast<size_t>(i)];
    a.user.set_data_handle(const_cast<float*>(ptr));
    if (a.reordered) a.inner.set_data_handle(i == given ? given_inner : ws.get(a.bytes));
    ++i;
  }
  if (p.scratch_bytes > 0) p.scratch.set_data_handle(ws.get(p.scratch_bytes));
}

bool g_own_reorders = true;  // tests: false runs oneDNN's reorders everywhere

// One reorder of a: reorder16.h's kernel where it applies, else oneDNN's primitive. The CPU
// stream runs each primitive to completion before the call returns, so the two mix in order.
void reorder(Arg& a, dnnl::stream& s) {
  if (a.own16 && g_own_reorders && reorder16_available()) {
    const auto* user = static_cast<float*>(a.user.get_data_handle());
    auto* inner = static_cast<float*>(a.inner.get_data_handle());
    if (a.output)
      nchw16c_to_nchw(inner, const_cast<float*>(user), a.n, a.c, a.hw);
    else
      nchw_to_nchw16c(user, inner, a.n, a.c, a.hw);
    return;
  }
  check(dnnl_primitive_execute(a.reorder.get(), s.get(), 2, a.reorder_args));
}

// Runs p's input reorders (all but `skip`), p, and its output reorders, on the stream.
void exec(Prim& p, int skip = -1) {
  dnnl::stream& s = stream();
  for (size_t i = 0; i < p.args.size(); ++i) {
    Arg& a = p.args[i];
    if (a.reordered && !a.output && static_cast<int>(i) != skip) reorder(a, s);
  }
  check(dnnl_primitive_execute(p.prim.get(), s.get(), static_cast<int>(p.exec.size()), p.exec.data()));
  for (Arg& a : p.args)
    if (a.reordered && a.output) reorder(a, s);
}

// Runs p on the given buffers; `at_least`: the smallest block to borrow (the budget, for calls in
// parts).
void run(Prim& p, std::initializer_list<const float*> ptrs, size_t at_least = 0) {
  Borrowed ws(borrow_bytes(p), at_least);
  bind(p, ptrs, ws);
  g_ws_most = std::max(g_ws_most, ws.used);
  exec(p);
  stream().wait();
}

// The argument positions of diff_dst in the backward primitives (make_backward_data/weights).
constexpr int kDataDiffDst = 0, kWeightsDiffDst = 1;

// Whether the backward-data and backward-weights primitives read diff_dst in the same reordered
// layout, so that one reorder of it serves both.
bool shares_diff_dst(const Prim& data, const Prim& weights) {
  const Arg& a = data.args[kDataDiffDst];
  const Arg& b = weights.args[kWeightsDiffDst];
  return a.reordered && b.reordered && a.inner.get_desc() == b.inner.get_desc();
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

// Workspace a run of p borrows: its reordered arguments and its scratchpad.
size_t borrow_bytes(const Prim& p) {
  auto up = [](size_t n) { return (n + 63) / 64 * 64; };
  size_t b = p.scratch_bytes > 0 ? up(p.scratch_bytes) : 0;
  for (const Arg& a : p.args)
    if (a.reordered) b += up(a.bytes);
  return b;
}

// dx then dw (and db) from one reorder of dout (shares_diff_dst). The block holds dout's copy
// for both, then the backward-data primitive's other copies and scratchpad, whose space the
// backward-weights primitive's reuse once it has run: no more than the larger of the two
// separate blocks.
// (Both primitives' blocks start with dout's copy, of the same size.)
size_t shared_bytes(const Prim& data, const Prim& weights) { return std::max(borrow_bytes(data), borrow_bytes(weights)); }
void run_shared(Prim& data, std::initializer_list<const float*> data_ptrs, Prim& weights,
                std::initializer_list<const float*> weight_ptrs) {
  Borrowed ws(shared_bytes(data, weights), 0);
  void* dout = ws.get(data.args[kDataDiffDst].bytes);
  const size_t mark = ws.used;
  bind(data, data_ptrs, ws, kDataDiffDst, dout);
  exec(data);  // reorders dout into the shared copy
  stream().wait();
  size_t most = ws.used;
  ws.used = mark;  // the data primitive's copies and scratchpad are done with
  bind(weights, weight_ptrs, ws, kWeightsDiffDst, dout);
  exec(weights, kWeightsDiffDst);
  most = std::max(most, ws.used);
  g_ws_most = std::max(g_ws_most, most);
  stream().wait();
}

size_t g_budget = kDnnlDefaultWorkspaceBudget;
size_t g_last_parts = 0;  // the most parts one primitive of the last call ran in
bool g_shared_last_call = false;  // the last backward reordered dout once for dx and dw

// The batch split into k near-equal parts (the first N % k one image larger): at most two shapes.
// Parts keep at least kMinPart images (a scratchpad that does not shrink with the batch must not
// split it into slivers), unless the budget is a test's below 1 MiB.
struct Chunk {
  int n0, n;
};
constexpr int kMinPart = 32;
std::vector<Chunk> split(int N, size_t ws) {
  size_t k = 1;
  if (ws > g_budget && N > 1) {
    const size_t most = g_budget < (size_t{1} << 20) ? static_cast<size_t>(N) : std::max<size_t>(1, N / kMinPart);
    k = std::min(most, (ws + g_budget - 1) / g_budget);
  }
  std::vector<Chunk> out;
  const int base = N / static_cast<int>(k), extra = N % static_cast<int>(k);
  for (int i = 0, n0 = 0; i < static_cast<int>(k); ++i) {
    const int n = base + (i < extra ? 1 : 0);
    out.push_back({n0, n});
    n0 += n;
  }
  return out;
}

Conv2dShape with_n(Conv2dShape s, int n) {
  s.N = n;
  return s;
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

bool dnnl_bf16_amx() {
  static const bool amx = [] {
    const auto bits = static_cast<unsigned>(dnnl::get_effective_cpu_isa()),
               want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_amx);
    return (bits & want) == want;
  }();
  return amx;
}

bool conv2d_dnnl_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out,
                         DnnlLayout layout, DnnlType type) {
  if (s.N <= 0) return false;
  if (type == DnnlType::Bf16) layout = DnnlLayout::Blocked;
  std::lock_guard<std::mutex> lock(g_mutex);
  const bool has_b = b != nullptr;
  auto prim = [&](const Conv2dShape& sc) -> Prim* {
    Entry& e = entry(sc, layout, type);
    if (!ensure(e, e.fwd[has_b], [&] { return make_forward(descs(sc, layout, type), has_b); })) return nullptr;
    return e.fwd[has_b].get();
  };
  Prim* whole = prim(s);
  if (!whole) return false;
  // Each image's output depends on that image alone: the batch runs in parts whose blocked
  // copies fit the workspace budget.
  const std::vector<Chunk> parts = split(s.N, borrow_bytes(*whole));
  g_last_parts = parts.size();
  std::vector<Prim*> ps;
  for (const Chunk& c : parts)
    if (!ps.emplace_back(parts.size() == 1 ? whole : prim(with_n(s, c.n)))) return false;
  const size_t in = static_cast<size_t>(s.IC) * s.H * s.W, outn = static_cast<size_t>(s.OC) * s.OH * s.OW;
  const size_t at_least = parts.size() > 1 ? g_budget : 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const float* xi = x + parts[i].n0 * in;
    float* oi = out + parts[i].n0 * outn;
    if (has_b)
      run(*ps[i], {xi, w, b, oi}, at_least);
    else
      run(*ps[i], {xi, w, oi}, at_least);
  }
  return true;
}

bool conv2d_dnnl_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx,
                          float* dw, float* db, DnnlLayout layout, DnnlType type) {
  if (s.N <= 0) return false;
  if (type == DnnlType::Bf16) layout = DnnlLayout::Blocked;
  std::lock_guard<std::mutex> lock(g_mutex);
  const bool with_db = db && dw;  // oneDNN sums the bias gradient alongside dw
  auto data_prim = [&](const Conv2dShape& sc) -> Prim* {
    Entry& e = entry(sc, layout, type);
    if (!ensure(e, e.bwd_data, [&] { return make_backward_data(descs(sc, layout, type)); })) return nullptr;
    return e.bwd_data.get();
  };
  auto weights_prim = [&](const Conv2dShape& sc) -> Prim* {
    Entry& e = entry(sc, layout, type);
    if (!ensure(e, e.bwd_weights[with_db],
                [&] { return make_backward_weights(descs(sc, layout, type), with_db); }))
      return nullptr;
    return e.bwd_weights[with_db].get();
  };
  // Both primitives (and the parts' ones) are made before anything is written.
  std::vector<Chunk> data_parts, weight_parts;
  std::vector<Prim*> data_ps, weight_ps;
  if (dx) {
    Prim* whole = data_prim(s);
    if (!whole) return false;
    data_parts = split(s.N, borrow_bytes(*whole));
    for (const Chunk& c : data_parts)
      if (!data_ps.emplace_back(data_parts.size() == 1 ? whole : data_prim(with_n(s, c.n)))) return false;
  }
  if (dw) {
    Prim* whole = weights_prim(s);
    if (!whole) return false;
    weight_parts = split(s.N, borrow_bytes(*whole));
    for (const Chunk& c : weight_parts)
      if (!weight_ps.emplace_back(weight_parts.size() == 1 ? whole : weights_prim(with_n(s, c.n)))) return false;
  }
  g_last_parts = std::max(data_parts.size(), weight_parts.size());
  const size_t in = static_cast<size_t>(s.IC) * s.H * s.W, outn = static_cast<size_t>(s.OC) * s.OH * s.OW;
  // Both whole and their blocks together within the budget: dout is reordered once for both.
  if (data_ps.size() == 1 && weight_ps.size() == 1 && shares_diff_dst(*data_ps[0], *weight_ps[0]) &&
      shared_bytes(*data_ps[0], *weight_ps[0]) <= g_budget) {
    if (with_db)
      run_shared(*data_ps[0], {dout, w, dx}, *weight_ps[0], {x, dout, dw, db});
    else
      run_shared(*data_ps[0], {dout, w, dx}, *weight_ps[0], {x, dout, dw});
    g_shared_last_call = true;
    if (db && !dw) bias_grad(s, dout, db);
    return true;
  }
  g_shared_last_call = false;
  // dx: each image's from that image's dout alone.
  for (size_t i = 0; i < data_parts.size(); ++i)
    run(*data_ps[i], {dout + data_parts[i].n0 * outn, w, dx + data_parts[i].n0 * in},
        data_parts.size() > 1 ? g_budget : 0);
  // dw (and db): sums over the batch; the first part writes them, later parts add theirs.
  if (dw) {
    const size_t wn = static_cast<size_t>(s.OC) * s.IC * s.KH * s.KW;
    std::vector<float> dw_part, db_part;
    if (weight_parts.size() > 1) {
      dw_part.resize(wn);
      if (with_db) db_part.resize(static_cast<size_t>(s.OC));
    }
    for (size_t i = 0; i < weight_parts.size(); ++i) {
      const float* xi = x + weight_parts[i].n0 * in;
      const float* gi = dout + weight_parts[i].n0 * outn;
      float* dwi = i == 0 ? dw : dw_part.data();
      float* dbi = i == 0 ? db : db_part.data();
      if (with_db)
        run(*weight_ps[i], {xi, gi, dwi, dbi}, weight_parts.size() > 1 ? g_budget : 0);
      else
        run(*weight_ps[i], {xi, gi, dwi}, weight_parts.size() > 1 ? g_budget : 0);
      if (i > 0) {
        for (size_t j = 0; j < wn; ++j) dw[j] += dw_part[j];
        if (with_db)
          for (int j = 0; j < s.OC; ++j) db[j] += db_part[static_cast<size_t>(j)];
      }
    }
  }
  if (db && !dw) bias_grad(s, dout, db);
  return true;
}

size_t dnnl_parts_last_call() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_last_parts;
}

void set_dnnl_own_reorders_for_testing(bool on) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_own_reorders = on;
}

bool dnnl_shared_diff_dst_last_call() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_shared_last_call;
}

size_t set_dnnl_workspace_budget(size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const size_t old = g_budget;
  g_budget = bytes > 0 ? bytes : kDnnlDefaultWorkspaceBudget;
  return old;
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
bool dnnl_bf16_amx() { return false; }
bool conv2d_dnnl_forward(const Conv2dShape&, const float*, const float*, const float*, float*, DnnlLayout, DnnlType) {
  return false;
}
bool conv2d_dnnl_backward(const Conv2dShape&, const float*, const float*, const float*, float*, float*, float*,
                          DnnlLayout, DnnlType) {
  return false;
}
size_t dnnl_primitives_created() { return 0; }
size_t dnnl_workspace_bytes() { return 0; }
size_t set_dnnl_workspace_budget(size_t) { return kDnnlDefaultWorkspaceBudget; }
size_t dnnl_parts_last_call() { return 0; }
bool dnnl_shared_diff_dst_last_call() { return false; }
void set_dnnl_own_reorders_for_testing(bool) {}
}  // namespace gpunet::kernels::cpu::detail

#endif
