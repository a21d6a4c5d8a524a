// DataLoader and DeviceDataset: the per-epoch order, the two batch paths, the prefetch thread.
#include "gpunet/data/loader.h"

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "gpunet/error.h"
#include "gpunet/random.h"
#include "ops/batch.h"

namespace gpunet::data {
namespace {

// The largest dataset the Auto residency uploads (images + labels); CIFAR-10's train split is 150 MB.
constexpr size_t kMaxResidentBytes = size_t{4} << 30;

ops::detail::BatchParams make_params(const Transforms& t, int C, int H, int W, uint64_t seed, uint64_t epoch,
                                     int64_t position) {
  GPUNET_CHECK(C >= 1 && C <= 4, "DataLoader: images must have 1-4 channels, got ", C);
  auto pick = [&](const std::vector<float>& v, const char* what, int c) {
    GPUNET_CHECK(v.size() == 1 || static_cast<int>(v.size()) == C, "Transforms: ", what, " has ", v.size(),
                 " values for ", C, " channels (give one, or one per channel)");
    return v.size() == 1 ? v[0] : v[c];
  };
  ops::detail::BatchParams p{};
  p.C = C;
  p.H = H;
  p.W = W;
  for (int c = 0; c < 4; ++c) {
    p.mean[c] = c < C ? pick(t.mean, "mean", c) : 0.f;
    p.std[c] = c < C ? pick(t.std, "std", c) : 1.f;
    GPUNET_CHECK(p.std[c] != 0.f, "Transforms: std[", c, "] is zero");
  }
  GPUNET_INPUT_CHECK(t.crop_padding >= 0, "Transforms: crop_padding must be >= 0, got ", t.crop_padding);
  const bool reflect = t.padding_mode == PaddingMode::Reflect;
  GPUNET_INPUT_CHECK(!reflect || (t.crop_padding < H && t.crop_padding < W), "Transforms: reflect padding ",
                     t.crop_padding, " needs a padding smaller than the image side (", H, "x", W, ")");
  p.crop_pad = t.crop_padding;
  p.reflect = reflect;
  p.hflip = t.horizontal_flip;
  p.alternating_flip = t.flip_mode == FlipMode::Alternating;
  p.seed = seed;
  p.epoch = epoch;
  p.position = position;
  return p;
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  Generator g(mix64(seed ^ mix64(epoch)));
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(g.randint(static_cast<uint64_t>(i + 1)))]);
  return p;
}

// ---- DeviceDataset ------------------------------------------------------------------------
DeviceDataset::DeviceDataset(const ImageDataset& data, Device device) {
  data.check();
  images_ = Tensor::from_blob(data.image_data(), {data.n, data.c, data.h, data.w}, DType::UInt8, device);
  labels_ = Tensor::from_blob(data.labels.data(), {data.n}, DType::UInt8, device);
}

void DeviceDataset::gather(const Transforms& t, uint64_t seed, uint64_t epoch, int64_t position, const Tensor& indices,
                           int64_t start, int64_t B, Tensor& x, Tensor& y) const {
  const int C = static_cast<int>(images_.size(1)), H = static_cast<int>(images_.size(2)),
            W = static_cast<int>(images_.size(3));
  GPUNET_CHECK(indices.dtype() == DType::Int64 && indices.device() == device() && indices.is_contiguous() &&
                   start >= 0 && B >= 0 && start + B <= indices.numel(),
               "DeviceDataset::gather: indices must be contiguous int64 on ", device().str(), " with at least start+B=",
               start + B, " elements");
  GPUNET_CHECK(x.dtype() == DType::Float32 && x.device() == device() && x.is_contiguous() && x.dim() == 4 &&
                   x.size(0) >= B && x.size(1) == C && x.size(2) == H && x.size(3) == W,
               "DeviceDataset::gather: x must be contiguous float32 (>=", B, ", ", C, ", ", H, ", ", W, ") on ",
               device().str(), ", got ", shape_str(x.shape()));
  GPUNET_CHECK(y.dtype() == DType::Int64 && y.device() == device() && y.is_contiguous() && y.numel() >= B,
               "DeviceDataset::gather: y must be contiguous int64 with >= ", B, " elements on ", device().str());
  if (B == 0) return;
  const ops::detail::BatchParams p = make_params(t, C, H, W, seed, epoch, position);
  const int64_t* idx = indices.data<int64_t>() + start;
  ops::detail::gather_batch(device(), p, B, images_.data<uint8_t>(), labels_.data<uint8_t>(), idx, x.data<float>(),
                            y.data<int64_t>());
}

// ---- the prefetch thread ----------------------------------------------------------------
// One job at a time: submit() hands it over, wait() blocks until it is done and rethrows its error.
class DataLoader::Worker {
 public:
  Worker() : thread_([this] { loop(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = std::move(job);
      busy_ = true;
      error_ = nullptr;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [this] { return !busy_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || (busy_ && job_); });
      if (stop_) return;
      auto job = std::move(job_);
      job_ = nullptr;
      lk.unlock();
      std::exception_ptr err;
      try {
        job();
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      error_ = err;
      busy_ = false;
      cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

struct DataLoader::Slot {
  Tensor x, y;  // host: (batch_size, C, H, W) float32, (batch_size) int64
};

std::vector<int64_t> distributed_indices(const std::vector<int64_t>& order, int num_replicas, int rank) {
  const int64_t n = static_cast<int64_t>(order.size());
  GPUNET_INPUT_CHECK(num_replicas >= 1 && num_replicas <= n, "distributed sampler: ", num_replicas,
                     " processes for ", n, " records; every process needs at least one record");
  GPUNET_INPUT_CHECK(rank >= 0 && rank < num_replicas, "distributed sampler: rank ", rank, " is outside 0..",
                     num_replicas - 1);
  const int64_t per_rank = n / num_replicas;
  std::vector<int64_t> mine(static_cast<size_t>(per_rank));
  for (int64_t i = 0; i < per_rank; ++i) mine[i] = order[static_cast<size_t>(rank + i * num_replicas)];
  return mine;
}

// ---- DataLoader -------------------------------------------------------------------------
DataLoader::DataLoader(std::shared_ptr<const ImageDataset> data, LoaderOptions opts)
    : data_(std::move(data)), opts_(std::move(opts)) {
  GPUNET_CHECK(data_ != nullptr, "DataLoader: no dataset");
  data_->check();
  GPUNET_INPUT_CHECK(data_->n > 0, "DataLoader: the dataset is empty");
  GPUNET_INPUT_CHECK(opts_.batch_size >= 1, "DataLoader: batch size must be >= 1, got ", opts_.batch_size);
  make_params(opts_.transforms, data_->c, data_->h, data_->w, 0, 0, 0);  // validates the transforms once
  opts_.device.check_available();
  GPUNET_INPUT_CHECK(opts_.num_replicas >= 1 && opts_.rank >= 0 && opts_.rank < opts_.num_replicas,
                     "DataLoader: rank ", opts_.rank, " of ", opts_.num_replicas, " processes is not a valid rank");
  GPUNET_INPUT_CHECK(data_->n >= opts_.num_replicas, "DataLoader: ", data_->n, " records for ", opts_.num_replicas,
                     " processes; every process needs at least one record (use fewer processes)");
  const Shape xs{opts_.batch_size, data_->c, data_->h, data_->w};
  const size_t bytes = static_cast<size_t>(data_->image_bytes()) + data_->labels.size();
  bool resident = opts_.residency == Residency::Device ||
                  (opts_.residency == Residency::Auto && opts_.device.is_cuda() && bytes <= kMaxResidentBytes);
  if (resident) {
    resident_ = std::make_unique<DeviceDataset>(*data_, opts_.device);
  } else {
    for (int k = 0; k < 2; ++k) {
      auto s = std::make_unique<Slot>();
      s->x = Tensor::empty(xs, DType::Float32, Device::cpu());
      s->y = Tensor::empty({opts_.batch_size}, DType::Int64, Device::cpu());
      slots_.push_back(std::move(s));
    }
    // The background thread pays when the batch goes to a GPU (the copy overlaps the GPU's
    // work) or is large; for small CPU batches the hand-off costs more than the gather
    // (batch 4 on a busy 2-core machine: 85 us a batch with the thread, ~10 us without).
    if (opts_.prefetch && (opts_.device.is_cuda() || opts_.batch_size >= 64)) worker_ = std::make_unique<Worker>();
  }
  if (resident || opts_.device.is_cuda()) {
    x_ = Tensor::empty(xs, DType::Float32, opts_.device);
    y_ = Tensor::empty({opts_.batch_size}, DType::Int64, opts_.device);
  }
}

DataLoader::~DataLoader() {
  try {
    cancel_prefetch();
  } catch (...) {
  }
}

int64_t DataLoader::samples() const { return data_->n / opts_.num_replicas; }

uint64_t DataLoader::aug_seed() const {
  return opts_.num_replicas > 1 ? opts_.seed ^ mix64(0x9e3779b97f4a7c15ull * static_cast<uint64_t>(opts_.rank + 1))
                                : opts_.seed;
}

int64_t DataLoader::epoch_size() const {
  const int64_t n = samples(), b = opts_.batch_size;
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

int64_t DataLoader::batch_len(int64_t index) const {
  return std::min(opts_.batch_size, samples() - index * opts_.batch_size);
}

void DataLoader::cancel_prefetch() {
  if (pending_ < 0) return;
  pending_ = -1;
  worker_->wait();
}

void DataLoader::set_position(uint64_t epoch, int64_t batch_index) {
  GPUNET_INPUT_CHECK(batch_index >= 0 && batch_index <= epoch_size(), "DataLoader::set_position: batch index ",
                     batch_index, " is outside the epoch's 0..", epoch_size(), " batches");
  try {
    cancel_prefetch();
  } catch (...) {
    // the discarded batch's error does not matter: it will be made again if needed
  }
  epoch_ = epoch;
  index_ = batch_index;
}

void DataLoader::ensure_permutation() {
  if (perm_valid_ && perm_epoch_ == epoch_) return;
  if (opts_.shuffle) {
    perm_ = epoch_permutation(data_->n, opts_.seed, epoch_);
  } else if (!perm_valid_) {
    perm_.resize(static_cast<size_t>(data_->n));
    for (int64_t i = 0; i < data_->n; ++i) perm_[i] = i;
  }
  if (opts_.num_replicas > 1 && (opts_.shuffle || !perm_valid_))
    perm_ = distributed_indices(perm_, opts_.num_replicas, opts_.rank);
  perm_epoch_ = epoch_;
  if (resident_ && (opts_.shuffle || !perm_valid_))
    perm_dev_ = Tensor::from_blob(perm_.data(), {static_cast<int64_t>(perm_.size())}, DType::Int64, opts_.device);  // once per epoch
  perm_valid_ = true;
}

void DataLoader::fill(Slot& s, uint64_t epoch, int64_t index) {
  const ops::detail::BatchParams p = make_params(opts_.transforms, data_->c, data_->h, data_->w, aug_seed(),
                                                 epoch, index * opts_.batch_size);
  ops::detail::gather_batch(Device::cpu(), p, batch_len(index), data_->image_data(), data_->labels.data(),
                            perm_.data() + index * opts_.batch_size, s.x.data<float>(), s.y.data<int64_t>());
}

bool DataLoader::next(Batch& b) {
  if (index_ >= epoch_size()) {
    cancel_prefetch();
    ++epoch_;
    index_ = 0;
    return false;
  }
  ensure_permutation();
  const int64_t B = batch_len(index_);
  if (resident_) {
    resident_->gather(opts_.transforms, aug_seed(), epoch_, index_ * opts_.batch_size, perm_dev_,
                      index_ * opts_.batch_size, B, x_, y_);
    b.x = B == opts_.batch_size ? x_ : x_.narrow(0, 0, B);
    b.y = B == opts_.batch_size ? y_ : y_.narrow(0, 0, B);
  } else {
    int slot;
    if (pending_ >= 0) {
      slot = pending_;
      const bool match = pending_epoch_ == epoch_ && pending_index_ == index_;
      pending_ = -1;
      if (match) {
        worker_->wait();  // rethrows the preparation's error
      } else {
        try {
          worker_->wait();
        } catch (...) {  // a batch nobody asked for any more
        }
        fill(*slots_[slot], epoch_, index_);
      }
    } else {
      slot = 1 - returned_;
      fill(*slots_[slot], epoch_, index_);
    }
    returned_ = slot;
    Slot& s = *slots_[slot];
    Tensor hx = B == opts_.batch_size ? s.x : s.x.narrow(0, 0, B);
    Tensor hy = B == opts_.batch_size ? s.y : s.y.narrow(0, 0, B);
    if (opts_.device.is_cpu()) {
      b.x = hx;
      b.y = hy;
    } else {
      b.x = B == opts_.batch_size ? x_ : x_.narrow(0, 0, B);
      b.y = B == opts_.batch_size ? y_ : y_.narrow(0, 0, B);
      b.x.copy_(hx);  // returns once the host buffer may be reused
      b.y.copy_(hy);
    }
    if (worker_ && index_ + 1 < epoch_size()) {
      const int other = 1 - slot;
      const uint64_t e = epoch_;
      const int64_t i = index_ + 1;
      pending_ = other;
      pending_epoch_ = e;
      pending_index_ = i;
      worker_->submit([this, other, e, i] { fill(*slots_[other], e, i); });
    }
  }
  b.size = B;
  b.epoch = epoch_;
  b.index = index_;
  ++index_;
  return true;
}

}  // namespace gpunet::data
