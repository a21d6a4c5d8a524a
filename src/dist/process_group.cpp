// dist::ProcessGroup over MPI: initialisation from the launcher's environment, collectives on
// host memory, and every wait polled with a timeout so that a lost peer is an error, not a hang.
#include "gpunet/dist/process_group.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "gpunet/config.h"
#if GPUNET_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (Open MPI would pull in its deprecated C++ bindings)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace gpunet::dist {

bool mpi_built() { return GPUNET_HAVE_MPI != 0; }

int launcher_world_size() {
  // Open MPI's mpirun, PMIx launchers (prterun, srun --mpi=pmix), PMI-1/2 (srun --mpi=pmi2, MPICH).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    const char* v = std::getenv(name);
    if (v && *v) return std::atoi(v);
  }
  // PMIx sets PMIX_RANK but not always a size: MPI_Init will tell.
  if (const char* r = std::getenv("PMIX_RANK"); r && *r) return -1;
  return 0;
}

#if GPUNET_HAVE_MPI

namespace {

std::string mpi_message(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, static_cast<size_t>(len));
}

void check(int code, const char* what, int rank) {
  if (code != MPI_SUCCESS)
    throw DistError(detail::cat("distributed: ", what, " failed on rank ", rank, ": ", mpi_message(code),
                                " (a rank was lost or the network failed)"));
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}

}  // namespace

struct ProcessGroup::Impl {
  std::vector<MPI_Request> pending;
};

ProcessGroup::ProcessGroup() : impl_(std::make_unique<Impl>()) {}

std::unique_ptr<ProcessGroup> ProcessGroup::from_launcher() {
  if (launcher_world_size() == 0) return nullptr;
  std::unique_ptr<ProcessGroup> pg(new ProcessGroup());
  int provided = 0;
  // Only the main thread calls MPI (the autograd hook runs on it).
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw DistError("distributed: MPI_Init_thread failed (is this process started by mpirun?)");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &pg->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &pg->size_);
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, pg->rank_, MPI_INFO_NULL, &local),
        "finding the ranks on this machine", pg->rank_);
  MPI_Comm_rank(local, &pg->local_rank_);
  MPI_Comm_size(local, &pg->local_size_);
  MPI_Comm_free(&local);
  if (const char* t = std::getenv("GPUNET_DIST_TIMEOUT_S"); t && *t) {
    const double v = std::atof(t);
    GPUNET_INPUT_CHECK(v > 0, "GPUNET_DIST_TIMEOUT_S must be a positive number of seconds, got '", t, "'");
    pg->timeout_s_ = v;
  }
  return pg;
}

ProcessGroup::~ProcessGroup() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// Polls `reqs` until they complete; DistError after `timeout_s` (a lost peer never answers).
static void poll(std::vector<MPI_Request>& reqs, const char* what, int rank, int size, double timeout_s) {
  if (reqs.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  auto nap = std::chrono::microseconds(2);
  for (;;) {
    int done = 0;
    check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), what, rank);
    if (done) break;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (waited > timeout_s)
      throw DistError(detail::cat("distributed: rank ", rank, " waited ", static_cast<int>(waited), " s in ", what,
                                  " without an answer from the other ", size - 1,
                                  " rank(s): a rank was lost or stopped (GPUNET_DIST_TIMEOUT_S sets the limit)"));
    std::this_thread::sleep_for(nap);  // leave the cores to the other ranks' compute
    nap = std::min(nap * 2, std::chrono::microseconds(500));
  }
  reqs.clear();
}

void ProcessGroup::wait_all(const char* what) { poll(impl_->pending, what, rank_, size_, timeout_s_); }

void ProcessGroup::allreduce_sum(std::vector<double>& v) {
  std::vector<MPI_Request> one(1);
  check(MPI_Iallreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD,
                       one.data()),
        "an all-reduce", rank_);
  poll(one, "the batch-norm statistics all-reduce", rank_, size_, timeout_s_);
}

void ProcessGroup::progress() {
  auto& reqs = impl_->pending;
  if (reqs.empty()) return;
  int done = 0;
  check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), "an all-reduce", rank_);
}

void ProcessGroup::broadcast_bytes(void* data, size_t bytes, int root) {
  MPI_Request r;
  check(MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD, &r), "broadcast", rank_);
  impl_->pending.push_back(r);
  wait_all("a broadcast from rank 0");
}

void ProcessGroup::broadcast(Tensor& t, int root) {
  GPUNET_CHECK(t.is_contiguous(), "ProcessGroup::broadcast: the tensor must be contiguous");
  if (t.device().is_cpu()) {
    broadcast_bytes(t.raw_data(), t.nbytes(), root);
    return;
  }
  Tensor host = t.to(Device::cpu()).contiguous();
  broadcast_bytes(host.raw_data(), host.nbytes(), root);
  t.copy_(host);
}

void ProcessGroup::iallreduce_sum_start(Tensor& t) {
  GPUNET_CHECK(t.device().is_cpu() && t.is_contiguous() && mpi_type(t.dtype()) != MPI_DATATYPE_NULL,
               "ProcessGroup::allreduce: needs a contiguous float32/float64/int64 CPU tensor");
  MPI_Request r;
  check(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), MPI_SUM,
                       MPI_COMM_WORLD, &r),
        "an all-reduce", rank_);
  impl_->pending.push_back(r);
}

void ProcessGroup::allreduce_sum(Tensor& t) {
  iallreduce_sum_start(t);
  wait_all("an all-reduce");
}

std::vector<std::string> ProcessGroup::allgather(const std::string& s) {
  std::vector<int> lens(static_cast<size_t>(size_));
  int mine = static_cast<int>(s.size());
  MPI_Request r;
  check(MPI_Iallgather(&mine, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD, &r), "an all-gather", rank_);
  impl_->pending.push_back(r);
  wait_all("the start-up check");
  std::vector<int> displs(lens.size());
  int total = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    displs[i] = total;
    total += lens[i];
  }
  std::string all(static_cast<size_t>(total), '\0');
  check(MPI_Iallgatherv(s.data(), mine, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD, &r),
        "an all-gather", rank_);
  impl_->pending.push_back(r);
  wait_all("the start-up check");
  std::vector<std::string> out;
  for (size_t i = 0; i < lens.size(); ++i) out.push_back(all.substr(static_cast<size_t>(displs[i]), static_cast<size_t>(lens[i])));
  return out;
}

void ProcessGroup::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else  // built without MPI

struct ProcessGroup::Impl {};
ProcessGroup::ProcessGroup() : impl_(std::make_unique<Impl>()) {}
ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup> ProcessGroup::from_launcher() {
  const int n = launcher_world_size();
  if (n == 0 || n == 1) return nullptr;
  throw InputError(detail::cat("distributed: started by an MPI launcher as one of ", n < 0 ? std::string("several") : std::to_string(n),
                               " processes, but this gpunet was built without MPI (every rank would train alone); "
                               "install libopenmpi-dev and rebuild with -DGPUNET_MPI=ON"));
}

namespace {
[[noreturn]] void no_mpi() { throw Error("distributed: this gpunet was built without MPI"); }
}  // namespace
void ProcessGroup::wait_all(const char*) {}
void ProcessGroup::progress() {}
void ProcessGroup::broadcast_bytes(void*, size_t, int) { no_mpi(); }
void ProcessGroup::broadcast(Tensor&, int) { no_mpi(); }
void ProcessGroup::iallreduce_sum_start(Tensor&) { no_mpi(); }
void ProcessGroup::allreduce_sum(Tensor&) { no_mpi(); }
void ProcessGroup::allreduce_sum(std::vector<double>&) { no_mpi(); }
std::vector<std::string> ProcessGroup::allgather(const std::string&) { no_mpi(); }
void ProcessGroup::abort(int code) { std::_Exit(code); }

#endif

}  // namespace gpunet::dist
