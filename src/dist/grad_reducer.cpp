// dist::GradReducer: bucketed gradient all-reduce started from the autograd engine's leaf hook.
#include "gpunet/dist/grad_reducer.h"

#include <chrono>

#include "gpunet/ops.h"

namespace gpunet::dist {
namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

GradReducer::GradReducer(ProcessGroup& pg, optim::ParamStore& store, bool overlap)
    : pg_(&pg), store_(store), overlap_(overlap) {
  GPUNET_INPUT_CHECK(store.device().is_cpu(),
                     "GradReducer: the parameters are on ", store.device().str(),
                     "; the MPI gradient all-reduce takes CPU parameters (GPU gradients go over NCCL)");
  refresh();
}

GradReducer::GradReducer(NcclComm& comm, optim::ParamStore& store, double timeout_s, bool overlap)
    : nccl_(&comm), timeout_s_(timeout_s), store_(store), overlap_(overlap) {
  GPUNET_INPUT_CHECK(store.device() == Device::cuda(comm.device()), "GradReducer: the parameters are on ",
                     store.device().str(), "; this NCCL communicator is on cuda:", comm.device());
  refresh();
}

void GradReducer::refresh() {
  if (num_buckets_ && generation_ == store_.generation() && num_buckets_ == store_.buckets().size()) return;
  const auto& buckets = store_.buckets();
  bucket_of_.clear();
  total_.assign(buckets.size(), 0);
  for (size_t b = 0; b < buckets.size(); ++b)
    for (size_t i : buckets[b].params) {
      bucket_of_[store_.params()[i].impl_ptr().get()] = b;
      ++total_[b];
    }
  num_buckets_ = buckets.size();
  generation_ = store_.generation();
}

void GradReducer::start(size_t b) {
  Tensor g = store_.bucket_grads(b);
  {
    NoGradGuard no_grad;
    g.copy_(ops::mul(g, 1.0 / world()));  // DDP divides, then sums: the mean over the ranks
  }
  if (pg_) pg_->iallreduce_sum_start(g);
  else nccl_->allreduce_sum(g);  // its own stream, after the kernels queued so far (the bucket's)
  ++stats_.buckets;
}

void GradReducer::before_backward() {
  store_.sync_layout();
  refresh();
  left_ = total_;
  next_ = 0;
  t_backward0_ = now_s();
  if (overlap_) scope_ = std::make_unique<autograd::LeafReadyScope>([this](const TensorImpl* p) { on_leaf(p); });
}

void GradReducer::on_leaf(const TensorImpl* leaf) {
  auto it = bucket_of_.find(leaf);
  if (it == bucket_of_.end()) return;  // not one of the store's parameters
  --left_[it->second];
  // Buckets start in index order on every rank (MPI matches collectives by order).
  while (next_ < num_buckets_ && left_[next_] == 0) {
    start(next_++);
    ++stats_.buckets_early;
  }
  if (pg_) pg_->progress();
}

void GradReducer::after_backward() {
  scope_.reset();
  const double t1 = now_s();
  stats_.backward_s += t1 - t_backward0_;
  while (next_ < num_buckets_) start(next_++);  // parameters backward did not reach, or no overlap
  if (pg_) pg_->wait_all("the gradient all-reduce");
  else nccl_->wait(timeout_s_);
  stats_.wait_s += now_s() - t1;
  ++stats_.steps;
}

}  // namespace gpunet::dist
