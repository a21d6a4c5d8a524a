// conv2d on the GPU with cuDNN (legacy convolution API of cuDNN 9). Descriptors and the
// algorithm choice are made once per (device, shape) and cached. Only deterministic FP32
// algorithms without tensor-core (TF32) math are used (CUDNN_FMA_MATH), so results repeat
// bit for bit and stay within 1e-5 of the CPU twin. The bias is added by our own kernels.
#include "kernels/conv2d.h"

#include <map>
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
};

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

Plan make_plan(const Conv2dShape& s) {
  Plan p;
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
  return p;
}

// Plans live for the whole process (descriptors are never destroyed). A plan is changed
// after creation only to drop an algorithm cuDNN refused to run (see execute).
Plan& plan_for(const Conv2dShape& s) {
  static std::mutex mutex;
  static auto* plans = new std::map<Key, Plan>();
  const Key key{::gpunet::cuda::detail::current_device(), s.N, s.IC, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad,
                s.OH, s.OW};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(s)).first;
  return it->second;
}

// Runs `run(algo, workspace, bytes)`; when cuDNN answers NOT_SUPPORTED for the chosen algorithm,
// moves on to the next candidate for good (the choice stays cached), else throws.
template <typename Algo, typename RunFn>
void execute(const char* call, const Plan& p, Choice<Algo>& c, RunFn run) {
  for (;;) {
    void* ws = ::gpunet::cuda::detail::workspace(c.ws);
    const cudnnStatus_t st = run(c.algo(), ws, c.ws);
    if (st == CUDNN_STATUS_SUCCESS) return;
    if (!not_supported(st) || !select_from(p, c, c.index + 1))
      ::gpunet::cuda::detail::throw_cudnn_error(st, call, __FILE__, __LINE__);
  }
}

// out: (N, OC, OH, OW) += b[oc]
__global__ void add_bias_kernel(int64_t total, int OC, int64_t P, const float* b, float* out) {
  GPUNET_GRID_STRIDE(i, total) { out[i] += b[(i / P) % OC]; }
}

// db[oc] = sum over n and the OH*OW plane of dout: one block per channel, a fixed tree.
__global__ void bias_grad_kernel(int N, int OC, int64_t P, const float* dout, float* db) {
  const int oc = blockIdx.x;
  float acc = 0.0f;
  for (int n = 0; n < N; ++n) {
    const float* plane = dout + (static_cast<int64_t>(n) * OC + oc) * P;
    for (int64_t k = threadIdx.x; k < P; k += blockDim.x) acc += plane[k];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) db[oc] = acc;
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* out) {
  if (static_cast<int64_t>(s.N) * s.OC * s.OH * s.OW <= 0) return;
  Plan& p = plan_for(s);
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
  Plan& p = plan_for(s);
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
    bias_grad_kernel<<<s.OC, kThreads, 0, stream()>>>(s.N, s.OC, P, dout, db);
    GPUNET_KERNEL_CHECK();
  }
}

}  // namespace gpunet::kernels::cuda
