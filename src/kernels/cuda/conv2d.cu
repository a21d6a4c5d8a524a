// conv2d on the GPU with cuDNN (legacy convolution API of cuDNN 9). Descriptors and the
// algorithm choice are made once per (device, shape) and cached: at most kMaxPlans shapes,
// least recently used first out; the cache and every algorithm choice (the first one, and a
// move to the next candidate when cuDNN refuses one) change only under the cache's mutex.
// Only deterministic FP32
// algorithms without tensor-core (TF32) math are used (CUDNN_FMA_MATH), so results repeat
// bit for bit and stay within 1e-5 of the CPU twin. The bias is added by our own kernels.
#include "kernels/conv2d.h"

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace gpunet::kernels::cuda {
namespace {
using namespace ::gpunet::kernels::cuda_detail;

// An algorithm choice: the candidates in order of preference, the one in use, its workspace.
template <typename Algo>
struct Choice {
  std::vector<Algo> candidates;
  size_t index = 0;
  size_t ws = 0;
  Algo algo() const { return candidates[index]; }
};

struct Plan {
  cudnnHandle_t handle = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {  // descriptors are host objects: destroying them never waits for the device
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

constexpr size_t kMaxPlans = 64;
// The plan cache's lock: held while a plan is made, looked up or evicted, and while an
// algorithm choice is read or moved on.
std::mutex& plan_mutex() {
  static auto* m = new std::mutex();
  return *m;
}

using Key = std::tuple<int, int, int, int, int, int, int, int, int, int, int, int>;

std::string shape_str(const Conv2dShape& s) {
  return ::gpunet::detail::cat("x [", s.N, ", ", s.IC, ", ", s.H, ", ", s.W, "], w [", s.OC, ", ", s.IC, ", ", s.KH,
                               ", ", s.KW, "], stride ", s.stride, ", pad ", s.pad);
}

bool usable(cudnnStatus_t st, cudnnDeterminism_t det, cudnnMathType_t math) {
  return st == CUDNN_STATUS_SUCCESS && det == CUDNN_DETERMINISTIC &&
         (math == CUDNN_DEFAULT_MATH || math == CUDNN_FMA_MATH);
}
bool not_supported(cudnnStatus_t st) { return st >= CUDNN_STATUS_NOT_SUPPORTED && st < CUDNN_STATUS_INTERNAL_ERROR; }

// Workspace queries, one per direction (they fail with NOT_SUPPORTED for an algorithm that
// cannot run this shape).
cudnnStatus_t ws_size(const Plan& p, cudnnConvolutionFwdAlgo_t a, size_t* bytes) {
  return cudnnGetConvolutionForwardWorkspaceSize(p.handle, p.x, p.w, p.conv, p.y, a, bytes);
}
cudnnStatus_t ws_size(const Plan& p, cudnnConvolutionBwdDataAlgo_t a, size_t* bytes) {
  return cudnnGetConvolutionBackwardDataWorkspaceSize(p.handle, p.w, p.y, p.conv, p.x, a, bytes);
}
cudnnStatus_t ws_size(const Plan& p, cudnnConvolutionBwdFilterAlgo_t a, size_t* bytes) {
  return cudnnGetConvolutionBackwardFilterWorkspaceSize(p.handle, p.x, p.y, p.conv, p.w, a, bytes);
}

// The heuristics' deterministic, non-tensor-core algorithms, appended to `out`; returns the
// heuristics query's status (kept for the error message when no candidate is left).
cudnnStatus_t heuristic(const Plan& p, std::vector<cudnnConvolutionFwdAlgo_t>& out) {
  cudnnConvolutionFwdAlgoPerf_t perf[16];
  int got = 0;
  const cudnnStatus_t st = cudnnGetConvolutionForwardAlgorithm_v7(p.handle, p.x, p.w, p.conv, p.y, 16, &got, perf);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  for (int i = 0; i < got; ++i)
    if (usable(perf[i].status, perf[i].determinism, perf[i].mathType)) out.push_back(perf[i].algo);
  return st;
}
cudnnStatus_t heuristic(const Plan& p, std::vector<cudnnConvolutionBwdDataAlgo_t>& out) {
  cudnnConvolutionBwdDataAlgoPerf_t perf[16];
  int got = 0;
  const cudnnStatus_t st = cudnnGetConvolutionBackwardDataAlgorithm_v7(p.handle, p.w, p.y, p.conv, p.x, 16, &got, perf);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  for (int i = 0; i < got; ++i)
    if (usable(perf[i].status, perf[i].determinism, perf[i].mathType)) out.push_back(perf[i].algo);
  return st;
}
cudnnStatus_t heuristic(const Plan& p, std::vector<cudnnConvolutionBwdFilterAlgo_t>& out) {
  cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
  int got = 0;
  const cudnnStatus_t st =
      cudnnGetConvolutionBackwardFilterAlgorithm_v7(p.handle, p.x, p.y, p.conv, p.w, 16, &got, perf);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  for (int i = 0; i < got; ++i)
    if (usable(perf[i].status, perf[i].determinism, perf[i].mathType)) out.push_back(perf[i].algo);
  return st;
}

// Moves `c` to the first candidate from `start` on whose workspace query succeeds; when none
// does, `last` (if given) gets the last query's status.
template <typename Algo>
bool select_from(const Plan& p, Choice<Algo>& c, size_t start, cudnnStatus_t* last = nullptr) {
  for (size_t i = start; i < c.candidates.size(); ++i) {
    size_t bytes = 0;
    const cudnnStatus_t st = ws_size(p, c.candidates[i], &bytes);
    if (st == CUDNN_STATUS_SUCCESS) {
      c.index = i;
      c.ws = bytes;
      return true;
    }
    if (last) *last = st;
  }
  return false;
}

// Fixed deterministic algorithms first (the same choice on every run and machine), then the
// heuristics' deterministic ones as fallbacks.
// The cuDNN statuses are named in the error: a library that failed to load (e.g. a missing
// sub-library, CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE) fails every query the same way.
template <typename Algo>
void choose(const char* what, const Conv2dShape& s, const Plan& p, std::vector<Algo> preferred, Choice<Algo>& c) {
  const cudnnStatus_t heur = heuristic(p, preferred);
  c.candidates = std::move(preferred);
  cudnnStatus_t last = CUDNN_STATUS_SUCCESS;
  if (!select_from(p, c, 0, &last))
    throw CudaError(::gpunet::detail::cat("conv2d: cuDNN offers no deterministic FP32 ", what, " algorithm for ",
                                          shape_str(s), " (heuristics: ", cudnnGetErrorString(heur),
                                          "; last workspace query: ", cudnnGetErrorString(last), ")"));
}

// Called with plan_mutex() held.
void make_plan(const Conv2dShape& s, Plan& p) {
  p.handle = ::gpunet::cuda::detail::cudnn();
  GPUNET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  GPUNET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  GPUNET_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  GPUNET_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  GPUNET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.N, s.IC, s.H, s.W));
  GPUNET_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.OC, s.IC, s.KH, s.KW));
  GPUNET_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, s.pad, s.pad, s.stride, s.stride, 1, 1,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  GPUNET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH));  // no TF32
  int n = 0, c = 0, oh = 0, ow = 0;
  GPUNET_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &c, &oh, &ow));
  GPUNET_CHECK(n == s.N && c == s.OC && oh == s.OH && ow == s.OW, "conv2d: cuDNN computes output [", n, ", ", c, ", ",
               oh, ", ", ow, "] for ", shape_str(s), ", expected [", s.N, ", ", s.OC, ", ", s.OH, ", ", s.OW, "]");
  GPUNET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.N, s.OC, s.OH, s.OW));
  choose("forward", s, p,
         {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
          CUDNN_CONVOLUTION_FWD_ALGO_GEMM},
         p.fwd);
  choose("backward-data", s, p, {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1}, p.bwd_data);
  choose("backward-filter", s, p, {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1}, p.bwd_filter);
}

// The plan for this shape on the current device: made on first use, kept among the kMaxPlans
// most recently used. A plan in use stays alive when evicted meanwhile (shared ownership).
std::shared_ptr<Plan> plan_for(const Conv2dShape& s) {
  struct Cache {
    std::list<Key> order;  // most recently used first
    std::map<Key, std::pair<std::shared_ptr<Plan>, std::list<Key>::iterator>> plans;
  };
  static auto* cache = new Cache();  // never destroyed: used from static destructors' frees
  const Key key{::gpunet::cuda::detail::current_device(), s.N, s.IC, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad,
                s.OH, s.OW};
  std::lock_guard<std::mutex> lock(plan_mutex());
  auto it = cache->plans.find(key);
  if (it != cache->plans.end()) {
    cache->order.splice(cache->order.begin(), cache->order, it->second.second);
    return it->second.first;
  }
  auto plan = std::make_shared<Plan>();
  make_plan(s, *plan);
  while (cache->plans.size() >= kMaxPlans) {
    cache->plans.erase(cache->order.back());
    cache->order.pop_back();
  }
  cache->order.push_front(key);
  cache->plans.emplace(key, std::make_pair(plan, cache->order.begin()));
  return plan;
}

// Runs `run(algo, workspace, bytes)` with the current choice; when cuDNN answers NOT_SUPPORTED
// for it, moves the choice (under the lock) to the next candidate for good, else throws. Another
// thread may have moved it meanwhile: then the new choice is tried.
template <typename Algo, typename RunFn>
void execute(const char* call, const Plan& p, Choice<Algo>& c, RunFn run) {
  for (;;) {
    size_t index, bytes;
    Algo algo;
    {
      std::lock_guard<std::mutex> lock(plan_mutex());
      index = c.index;
      bytes = c.ws;
      algo = c.algo();
    }
    void* ws = ::gpunet::cuda::detail::workspace(bytes);
    const cudnnStatus_t st = run(algo, ws, bytes);
    if (st == CUDNN_STATUS_SUCCESS) return;
    bool moved = false;
    if (not_supported(st)) {
      std::lock_guard<std::mutex> lock(plan_mutex());
      moved = c.index != index || select_from(p, c, index + 1);
    }
    if (!moved) ::gpunet::cuda::detail::throw_cudnn_error(st, call, __FILE__, __LINE__);
  }
}

// out: (N, OC, OH, OW) += b[oc]
__global__ void add_bias_kernel(int64_t total, int OC, int64_t P, const float* b, float* out) {
  GPUNET_GRID_STRIDE(i, total) { out[i] += b[(i / P) % OC]; }
}

// db[oc] = sum over n and the OH*OW plane of dout: one block per channel, its threads spread
// over all N*P terms (parallel over the batch too, even for a 1x1 plane), in double as the CPU
// twin, then a fixed tree (deterministic, no atomics).
constexpr int kBiasThreads = 512;
__global__ void bias_grad_kernel(int64_t N, int64_t OC, int64_t P, const float* dout, float* db) {
  const int64_t oc = blockIdx.x;
  const int64_t terms = N * P;
  double acc = 0.0;
  for (int64_t t = threadIdx.x; t < terms; t += blockDim.x) {
    const int64_t n = t / P, k = t - n * P;
    acc += static_cast<double>(dout[(n * OC + oc) * P + k]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) db[oc] = static_cast<float>(acc);
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out) {
  if (static_cast<int64_t>(s.N) * s.OC * s.OH * s.OW <= 0) return;
  const std::shared_ptr<Plan> plan = plan_for(s);
  Plan& p = *plan;
  const float one = 1.0f, zero = 0.0f;
  execute("cudnnConvolutionForward", p, p.fwd, [&](cudnnConvolutionFwdAlgo_t algo, void* ws, size_t bytes) {
    return cudnnConvolutionForward(p.handle, &one, p.x, x, p.w, w, p.conv, algo, ws, bytes, &zero, p.y, out);
  });
  if (b) {
    const int64_t P = static_cast<int64_t>(s.OH) * s.OW;
    const int64_t total = static_cast<int64_t>(s.N) * s.OC * P;
    add_bias_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(total, s.OC, P, b, out);
    GPUNET_KERNEL_CHECK();
  }
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dout, float* dx, float* dw,
                     float* db) {
  const int64_t P = static_cast<int64_t>(s.OH) * s.OW;
  if (static_cast<int64_t>(s.N) * s.OC * P <= 0) {  // no outputs: every gradient is zero (dw, db may be empty)
    if (dx) GPUNET_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * s.N * s.IC * s.H * s.W, stream()));
    if (dw) GPUNET_CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * s.OC * s.IC * s.KH * s.KW, stream()));
    if (db) GPUNET_CUDA_CHECK(cudaMemsetAsync(db, 0, sizeof(float) * s.OC, stream()));
    return;
  }
  const std::shared_ptr<Plan> plan = plan_for(s);
  Plan& p = *plan;
  const float one = 1.0f, zero = 0.0f;  // beta = 0: gradients are written fresh
  if (dx) {
    execute("cudnnConvolutionBackwardData", p, p.bwd_data,
            [&](cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t bytes) {
              return cudnnConvolutionBackwardData(p.handle, &one, p.w, w, p.y, dout, p.conv, algo, ws, bytes, &zero,
                                                  p.x, dx);
            });
  }
  if (dw) {
    execute("cudnnConvolutionBackwardFilter", p, p.bwd_filter,
            [&](cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t bytes) {
              return cudnnConvolutionBackwardFilter(p.handle, &one, p.x, x, p.y, dout, p.conv, algo, ws, bytes, &zero,
                                                    p.w, dw);
            });
  }
  if (db) {
    bias_grad_kernel<<<s.OC, kBiasThreads, 0, stream()>>>(s.N, s.OC, P, dout, db);
    GPUNET_KERNEL_CHECK();
  }
}

}  // namespace gpunet::kernels::cuda
