// dist::stats_group: sync batch norm's SumGroup over MPI or NCCL.
#include "gpunet/dist/sync_bn.h"

namespace gpunet::dist {
namespace {

struct MpiSumGroup : SumGroup {
  explicit MpiSumGroup(ProcessGroup& p) : pg(p) {}
  int size() const override { return pg.size(); }
  void allreduce_sum(std::vector<double>& v) override { pg.allreduce_sum(v); }
  ProcessGroup& pg;
};

struct NcclSumGroup : SumGroup {
  NcclSumGroup(NcclComm& c, double t) : comm(c), timeout_s(t) {}
  int size() const override { return comm.size(); }
  void allreduce_sum(std::vector<double>& v) override {
    Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, Device::cuda(comm.device()));
    comm.allreduce_sum(t);
    comm.wait(timeout_s);
    v = t.to_vector<double>();
  }
  NcclComm& comm;
  double timeout_s;
};

}  // namespace

std::shared_ptr<SumGroup> stats_group(ProcessGroup& pg) { return std::make_shared<MpiSumGroup>(pg); }
std::shared_ptr<SumGroup> stats_group(NcclComm& comm, double timeout_s) {
  return std::make_shared<NcclSumGroup>(comm, timeout_s);
}

}  // namespace gpunet::dist
