// The lookahead EMA over a module's floating-point state (optim/lookahead.h): one kernel over the
// attached parameter store's flat weights, one per other tensor, through GPUNET_DISPATCH.
#include "gpunet/optim/lookahead.h"

#include <cmath>

#include "kernels/lookahead.h"
#include "ops/dispatch.h"

namespace gpunet::optim {
namespace {

bool floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

// True when the tensor is a contiguous view into `buffer`'s storage.
bool inside(const Tensor& t, const Tensor& buffer) {
  return t.storage() == buffer.storage() && t.is_contiguous() && t.storage_offset() >= buffer.storage_offset() &&
         t.storage_offset() + t.numel() <= buffer.storage_offset() + buffer.numel();
}

}  // namespace

double lookahead_decay(int64_t step, int64_t total_steps, int every, double base) {
  GPUNET_INPUT_CHECK(total_steps >= 1, "lookahead_decay: invalid total_steps ", total_steps, " (must be >= 1)");
  GPUNET_INPUT_CHECK(step >= 0 && step <= total_steps, "lookahead_decay: step ", step, " is outside [0, ",
                     total_steps, "]");
  return std::pow(base, every) * std::pow(static_cast<double>(step) / static_cast<double>(total_steps), 3.0);
}

Lookahead::Lookahead(nn::Module& module) : module_(module) { layout(); }

void Lookahead::layout() {
  std::vector<Entry> old = std::move(entries_);  // carried over by identity (their ema keeps its storage)
  entries_.clear();
  loose_.clear();
  flat_ema_ = Tensor();
  std::shared_ptr<ParamStore> store = module_.param_store();
  if (store) store->sync_layout();

  for (const auto& [name, t] : module_.state_dict()) {
    if (!t.defined() || !floating(t.dtype())) continue;  // integer buffers (num_batches_tracked) are left alone
    GPUNET_INPUT_CHECK(t.dtype() == DType::Float32, "Lookahead: tensor '", name, "' is ", dtype_name(t.dtype()),
                       "; only float32 state is supported");
    GPUNET_INPUT_CHECK(entries_.empty() || t.device() == entries_.front().net.device(), "Lookahead: tensor '", name,
                       "' is on ", t.device().str(), " but '", entries_.front().name, "' is on ",
                       entries_.front().net.device().str(), "; move the module to one device");
    entries_.push_back(Entry{name, t, Tensor(), false});
  }
  const Device dev = entries_.empty() ? Device::cpu() : entries_.front().net.device();

  // The store's weights form one flat ema when every store parameter is one of the module's.
  bool flat = store != nullptr && !entries_.empty() && store->device() == dev;
  if (flat)
    for (const Tensor& p : store->params()) {
      bool found = false;
      for (const Entry& e : entries_) found = found || e.net.is_same(p);
      if (!found || !inside(p, store->master())) flat = false;
    }
  if (flat) {
    const Tensor& master = store->master();
    flat_ema_ = master.detach().clone();
    for (Entry& e : entries_) {
      if (!store->contains(e.net) || !inside(e.net, master)) continue;
      e.ema = flat_ema_.narrow(0, e.net.storage_offset() - master.storage_offset(), e.net.numel()).view(e.net.shape());
      e.flat = true;
    }
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (!e.flat) {
      e.ema = e.net.detach().clone();
      loose_.push_back(i);
    }
    for (const Entry& o : old)
      if (o.net.is_same(e.net) && o.ema.defined()) {
        e.ema.copy_(o.ema);  // the ema so far, across devices if the module moved
        break;
      }
  }
  store_ = store;
  generation_ = store ? store->generation() : 0;
  decay_ = Tensor::zeros({1}, DType::Float64, dev);
}

void Lookahead::sync() {
  std::shared_ptr<ParamStore> store = module_.param_store();
  bool stale = store != store_.lock() || (flat_ema_.defined() && store_.expired());
  if (store) {
    store->sync_layout();
    stale = stale || store->generation() != generation_;
  }
  for (size_t i : loose_) stale = stale || entries_[i].ema.device() != entries_[i].net.device();
  if (stale) layout();
}

void Lookahead::update(double decay) {
  GPUNET_INPUT_CHECK(std::isfinite(decay), "Lookahead.update: invalid decay ", decay, " (must be finite)");
  sync();
  decay_.copy_(Tensor::from_vector<double>({decay}, {1}));
  update(decay_);
}

void Lookahead::update(const Tensor& decay) {
  sync();
  const Device dev = entries_.empty() ? Device::cpu() : entries_.front().net.device();
  GPUNET_INPUT_CHECK(decay.defined() && decay.numel() == 1 && decay.dtype() == DType::Float64,
                     "Lookahead.update: the decay must be a 1-element float64 tensor, got ",
                     decay.defined() ? shape_str(decay.shape()) : std::string("an undefined tensor"), " ",
                     decay.defined() ? dtype_name(decay.dtype()) : "");
  GPUNET_INPUT_CHECK(decay.device() == dev, "Lookahead.update: the decay is on ", decay.device().str(),
                     ", the state on ", dev.str());
  const double* d = decay.data<double>();
  if (flat_ema_.defined()) {
    std::shared_ptr<ParamStore> store = store_.lock();
    GPUNET_DISPATCH("Lookahead.update", dev, lookahead_update, flat_ema_.numel(), d, flat_ema_.data<float>(),
                    store->master().data<float>());
  }
  for (size_t i : loose_) {
    const Entry& e = entries_[i];
    GPUNET_DISPATCH("Lookahead.update", dev, lookahead_update, e.net.numel(), d, e.ema.data<float>(),
                    e.net.data<float>());
  }
}

void Lookahead::copy_to_net() {
  sync();
  if (flat_ema_.defined()) {
    Tensor master = store_.lock()->master();
    master.copy_(flat_ema_);
  }
  for (size_t i : loose_) {
    Tensor net = entries_[i].net;
    net.copy_(entries_[i].ema);
  }
}

StateDict Lookahead::ema() const {
  StateDict sd;
  for (const Entry& e : entries_) sd.emplace_back(e.name, e.ema);
  return sd;
}

}  // namespace gpunet::optim
