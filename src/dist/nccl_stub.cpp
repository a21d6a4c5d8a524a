// dist::NcclComm in a build without NCCL (the CPU build, or CUDA without MPI): says so.
#include "gpunet/config.h"
#if !GPUNET_HAVE_NCCL
#include "gpunet/dist/nccl.h"

namespace gpunet::dist {

bool nccl_built() { return false; }
struct NcclComm::Impl {};
NcclComm::NcclComm(ProcessGroup*, int) {
  throw Error("distributed: this gpunet was built without NCCL (it comes with the CUDA backend and MPI)");
}
NcclComm::~NcclComm() = default;
void NcclComm::allreduce_sum(Tensor&) {}
void NcclComm::wait(double) {}

}  // namespace gpunet::dist
#endif
