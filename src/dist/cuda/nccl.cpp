// dist::NcclComm over NCCL (CUDA builds with MPI): the communicator, its stream and events.
#include "gpunet/config.h"
#if GPUNET_HAVE_NCCL
#include <nccl.h>

#include <chrono>
#include <thread>

#include "core/cuda/context.h"
#include "gpunet/dist/nccl.h"

namespace gpunet::dist {
namespace {
void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess && r != ncclInProgress)
    throw DistError(detail::cat("distributed: NCCL ", what, " failed: ", ncclGetErrorString(r), " (",
                                ncclGetLastError(nullptr), ")"));
}
}  // namespace

bool nccl_built() { return true; }

struct NcclComm::Impl {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;    // the communicator's own stream
  cudaEvent_t ready = nullptr;      // compute stream -> comm stream: the gradients are written
  cudaEvent_t done = nullptr;       // comm stream -> compute stream: the sums are in
  bool aborted = false;
};

NcclComm::NcclComm(ProcessGroup* pg, int device) : impl_(std::make_unique<Impl>()) {
  size_ = pg ? pg->size() : 1;
  rank_ = pg ? pg->rank() : 0;
  impl_->device = device;
  device_ = device;
  cuda::detail::DeviceGuard guard(device);
  ncclUniqueId id;
  if (rank_ == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  if (pg) pg->broadcast_bytes(&id, sizeof id, 0);  // the bootstrap over MPI
  nccl_check(ncclCommInitRank(&impl_->comm, size_, id, rank_), "ncclCommInitRank");
  GPUNET_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  GPUNET_CUDA_CHECK(cudaEventCreateWithFlags(&impl_->ready, cudaEventDisableTiming));
  GPUNET_CUDA_CHECK(cudaEventCreateWithFlags(&impl_->done, cudaEventDisableTiming));
}

NcclComm::~NcclComm() {
  if (!impl_) return;
  cuda::detail::DeviceGuard guard(impl_->device);
  if (impl_->comm) {
    if (impl_->aborted) ncclCommAbort(impl_->comm);
    else ncclCommDestroy(impl_->comm);
  }
  if (impl_->ready) cudaEventDestroy(impl_->ready);
  if (impl_->done) cudaEventDestroy(impl_->done);
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

void NcclComm::allreduce_sum(Tensor& t) {
  GPUNET_CHECK(t.device().is_cuda() && t.device().index() == impl_->device &&
                   (t.dtype() == DType::Float32 || t.dtype() == DType::Float64) && t.is_contiguous(),
               "NcclComm::allreduce_sum: needs a contiguous float32/float64 tensor on cuda:", impl_->device, ", got ",
               t.device().str());
  cuda::detail::DeviceGuard guard(impl_->device);
  cudaStream_t compute = cuda::detail::stream(impl_->device);
  GPUNET_CUDA_CHECK(cudaEventRecord(impl_->ready, compute));
  GPUNET_CUDA_CHECK(cudaStreamWaitEvent(impl_->stream, impl_->ready, 0));
  nccl_check(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                           t.dtype() == DType::Float64 ? ncclDouble : ncclFloat, ncclSum, impl_->comm,
                           impl_->stream),
             "ncclAllReduce");
  GPUNET_CUDA_CHECK(cudaEventRecord(impl_->done, impl_->stream));
  GPUNET_CUDA_CHECK(cudaStreamWaitEvent(compute, impl_->done, 0));
}

void NcclComm::wait(double timeout_s) {
  cuda::detail::DeviceGuard guard(impl_->device);
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    const cudaError_t q = cudaEventQuery(impl_->done);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) GPUNET_CUDA_CHECK(q);
    ncclResult_t async = ncclSuccess;
    nccl_check(ncclCommGetAsyncError(impl_->comm, &async), "ncclCommGetAsyncError");
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (async != ncclSuccess || waited > timeout_s) {
      impl_->aborted = true;
      throw DistError(detail::cat("distributed: rank ", rank_, ": the NCCL all-reduce ",
                                  async != ncclSuccess ? std::string("failed: ") + ncclGetErrorString(async)
                                                       : "had no answer for " + std::to_string(static_cast<int>(waited)) + " s",
                                  "; a rank was lost (the communicator is aborted)"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace gpunet::dist
#endif
