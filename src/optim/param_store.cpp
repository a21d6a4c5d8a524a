// optim::ParamStore: lays out parameters, gradients and optimizer state in flat buffers (see
// include/gpunet/optim/param_store.h for the layout and its invariants).
#include "gpunet/optim/param_store.h"

#include <atomic>

namespace gpunet::optim {
namespace {

// Store generations are unique across stores, so that a cache keyed on one never mistakes a
// new store for an old one.
std::atomic<uint64_t> g_next_generation{1};

// A contiguous view of `numel(shape)` elements of `base` (1-D, contiguous) from `offset`,
// made directly so that no autograd record or reshape rule is involved.
Tensor view_of(const Tensor& base, int64_t offset, const Shape& shape) {
  auto im = std::make_shared<TensorImpl>();
  im->storage = base.storage();
  im->offset = base.storage_offset() + offset;
  im->shape = shape;
  im->strides = contiguous_strides(shape);
  im->dtype = base.dtype();
  return Tensor(im);
}

// Points `dst` at `src`'s memory, keeping dst's identity (requires_grad, grad, grad_fn).
void rebind(const Tensor& dst, const Tensor& src) {
  auto& d = dst.impl();
  d.storage = src.storage();
  d.offset = src.storage_offset();
  d.strides = src.strides();
}

}  // namespace

ParamStore::ParamStore(std::vector<ParamGroup> groups, size_t bucket_bytes)
    : groups_(std::move(groups)), bucket_bytes_(bucket_bytes) {
  GPUNET_INPUT_CHECK(bucket_bytes_ > 0, "ParamStore: bucket size must be > 0 bytes");
  GPUNET_INPUT_CHECK(!groups_.empty(), "optimizer got no parameter groups");
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      GPUNET_INPUT_CHECK(p.defined(), "optimizer: group ", g, ", parameter ", i, " is an undefined tensor");
      for (size_t j = 0; j < params_.size(); ++j)
        GPUNET_INPUT_CHECK(!params_[j].is_same(p), "optimizer: group ", g, ", parameter ", i, " (shape ",
                           shape_str(p.shape()), ") is already in group ", group_of_[j],
                           "; a parameter may appear in only one parameter group");
      GPUNET_INPUT_CHECK(p.dtype() == DType::Float32, "optimizer: group ", g, ", parameter ", i, " is ",
                         dtype_name(p.dtype()), "; parameters must be float32");
      GPUNET_INPUT_CHECK(p.is_leaf(), "optimizer: group ", g, ", parameter ", i,
                         " is not a leaf tensor (it was computed from others); optimize leaves only");
      params_.push_back(p);
      group_of_.push_back(g);
    }
  }
  GPUNET_INPUT_CHECK(!params_.empty(), "optimizer got an empty parameter list");
  const Device dev = params_.front().device();
  for (size_t i = 0; i < params_.size(); ++i)
    GPUNET_INPUT_CHECK(params_[i].device() == dev, "optimizer: parameter ", i, " is on ", params_[i].device().str(),
                       ", parameter 0 on ", dev.str(), "; all parameters must be on one device");
  layout(dev);
}

bool ParamStore::contains(const Tensor& t) const {
  for (const auto& p : params_)
    if (p.is_same(t)) return true;
  return false;
}

Tensor ParamStore::bucket_grads(size_t b) const {
  const Bucket& k = buckets_.at(b);
  return view_of(grads_, k.offset, {k.numel});
}

void ParamStore::layout(Device device) {
  const size_t n = params_.size();
  std::vector<bool> trainable(n);
  std::vector<int64_t> woff(n), goff(n, -1);
  std::vector<GroupRange> ranges(groups_.size());
  int64_t wtotal = 0, gtotal = 0;
  // Per group: trainable parameters first, then frozen ones (weights); trainable only (grads).
  for (size_t g = 0; g < groups_.size(); ++g) {
    ranges[g].weight_offset = wtotal;
    ranges[g].grad_offset = gtotal;
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = 0; i < n; ++i) {
        if (group_of_[i] != g) continue;
        const bool t = params_[i].requires_grad();
        if (t != (pass == 0)) continue;
        trainable[i] = t;
        woff[i] = wtotal;
        wtotal += params_[i].numel();
        if (t) {
          goff[i] = gtotal;
          gtotal += params_[i].numel();
        }
      }
    ranges[g].trainable = gtotal - ranges[g].grad_offset;
  }

  Tensor master = Tensor::empty({wtotal}, DType::Float32, device);
  Tensor grads = Tensor::zeros({gtotal}, DType::Float32, device);
  std::map<std::string, Tensor> slots;
  for (auto& [name, old] : slots_) {
    Tensor s = Tensor::zeros({gtotal}, DType::Float32, device);
    for (size_t i = 0; i < n; ++i)  // keep the state of parameters trainable before and after
      if (trainable[i] && !grad_off_.empty() && grad_off_[i] >= 0)
        view_of(s, goff[i], {params_[i].numel()}).copy_(view_of(old, grad_off_[i], {params_[i].numel()}));
    slots.emplace(name, s);
  }
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params_[i];
    Tensor pv = view_of(master, woff[i], p.shape());
    pv.copy_(p.detach());
    Tensor old_grad = p.grad();
    rebind(p, pv);
    if (trainable[i]) {
      Tensor gv = view_of(grads, goff[i], p.shape());
      if (old_grad.defined()) gv.copy_(old_grad);
      p.impl().grad = gv.impl_ptr();
    } else {
      p.impl().grad.reset();
    }
  }
  master_ = master;
  grads_ = grads;
  slots_ = std::move(slots);
  trainable_ = std::move(trainable);
  weight_off_ = std::move(woff);
  grad_off_ = std::move(goff);
  ranges_ = std::move(ranges);

  make_buckets();
  generation_ = g_next_generation.fetch_add(1);
}

void ParamStore::set_bucket_bytes(size_t bytes) {
  GPUNET_INPUT_CHECK(bytes > 0, "ParamStore: bucket size must be > 0 bytes");
  bucket_bytes_ = bytes;
  make_buckets();
}

void ParamStore::make_buckets() {
  const size_t n = params_.size();
  // Buckets: trainable parameters from the last to the first, closed at bucket_bytes_.
  buckets_.clear();
  Bucket cur;
  size_t cur_bytes = 0;
  for (size_t k = n; k-- > 0;) {
    if (!trainable_[k]) continue;
    cur.params.push_back(k);
    cur.offset = grad_off_[k];
    cur.numel += params_[k].numel();
    cur_bytes += params_[k].nbytes();
    if (cur_bytes >= bucket_bytes_) {
      buckets_.push_back(std::move(cur));
      cur = Bucket{};
      cur_bytes = 0;
    }
  }
  if (!cur.params.empty()) buckets_.push_back(std::move(cur));
}

Tensor ParamStore::slot(const std::string& name) {
  auto it = slots_.find(name);
  if (it == slots_.end()) it = slots_.emplace(name, Tensor::zeros({grads_.numel()}, DType::Float32, device())).first;
  return it->second;
}

Tensor ParamStore::slot_view(const std::string& name, size_t i) {
  Tensor s = slot(name);
  if (grad_off_.at(i) < 0) return Tensor();
  return view_of(s, grad_off_[i], params_[i].shape());
}

bool ParamStore::layout_current() const {
  const Device dev = master_.device();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (p.requires_grad() != trainable_[i]) return false;
    if (p.storage() != master_.storage() || p.storage_offset() != master_.storage_offset() + weight_off_[i] ||
        !p.is_contiguous() || p.device() != dev)
      return false;
  }
  return true;
}

void ParamStore::sync_layout() {
  if (!layout_current()) {
    const Device dev = params_.front().device();
    for (size_t i = 0; i < params_.size(); ++i)
      GPUNET_INPUT_CHECK(params_[i].device() == dev, "optimizer: parameter ", i, " is on ", params_[i].device().str(),
                         ", parameter 0 on ", dev.str(), "; all parameters must be on one device");
    layout(dev);
    return;
  }
  // Gradients set to none (or replaced) since: point them back at the flat buffer.
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!trainable_[i]) continue;
    const Tensor& p = params_[i];
    Tensor g = p.grad();
    if (g.defined() && g.storage() == grads_.storage() &&
        g.storage_offset() == grads_.storage_offset() + grad_off_[i] && g.is_contiguous())
      continue;
    Tensor gv = view_of(grads_, grad_off_[i], p.shape());
    if (g.defined()) gv.copy_(g);
    else gv.zero_();
    p.impl().grad = gv.impl_ptr();
  }
}

void ParamStore::zero_grad() {
  sync_layout();
  grads_.zero_();
}

void ParamStore::to(Device device) {
  if (device == master_.device() && layout_current()) return;
  device.check_available();
  layout(device);
}

}  // namespace gpunet::optim
