#pragma once
/// Batches for training and evaluation: x float32 (B, C, H, W) and y int64 (B) on the loader's
/// device, gathered, normalised and augmented by one kernel (src/kernels/batch.h).
///
/// Order: with shuffle, epoch e visits the records in epoch_permutation(n, seed, e) (Fisher-Yates
/// from a gpunet::Generator seeded by mix(seed, e)); without, in file order. The same seed gives
/// the same batches on every device and on both paths, and set_position() resumes exactly.
/// Two paths (the batches are identical):
///  - device-resident (default for a CUDA device when the data fits): the uint8 dataset is
///    uploaded once (DeviceDataset), each epoch's permutation once per epoch, and the batch
///    kernel writes into preallocated device tensors: nothing is allocated or copied per batch;
///  - host: the CPU gathers the batch into a host buffer (the next one is prepared on a
///    background thread while the current one trains) and, for a CUDA device, copies it up.
///
///   gpunet::data::DataLoader train(data, {.batch_size = 4, .seed = 0, .device = dev});
///   for (int e = 0; e < 2; ++e)
///     for (gpunet::data::Batch b; train.next(b);) { auto out = net(b.x); ... b.y ... }
///
/// The returned tensors are reused buffers: they stay valid until the next call to next() or
/// set_position(); clone() them to keep a batch longer. The last batch of an epoch is smaller
/// unless drop_last (views of the buffers).
#include <cstdint>
#include <memory>
#include <vector>

#include "gpunet/data/dataset.h"
#include "gpunet/data/transforms.h"
#include "gpunet/device.h"
#include "gpunet/tensor.h"

namespace gpunet::data {

enum class Residency { Auto, Host, Device };

struct LoaderOptions {
  int64_t batch_size = 4;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  Transforms transforms = Transforms::tutorial();
  Device device = Device::cpu();
  Residency residency = Residency::Auto;  // Auto: Device for a CUDA device when the data fits
  bool prefetch = true;                   // host path: prepare the next batch in the background
  /// Data parallel (DistributedSampler's rule): this process is `rank` of `num_replicas` and
  /// takes distributed_indices() of each epoch's order, floor(n / num_replicas) records. With
  /// augmentation, each rank draws from its own stream (the seed mixed with the rank).
  int num_replicas = 1;
  int rank = 0;

  /// In file order, every record once (drop_last off), no augmentation: for evaluation.
  static LoaderOptions evaluation(int64_t batch_size, Device device, const Transforms& t = Transforms::tutorial()) {
    LoaderOptions o;
    o.batch_size = batch_size;
    o.shuffle = false;
    o.transforms = t.without_augmentation();
    o.device = device;
    return o;
  }
};

struct Batch {
  Tensor x;            // (B, C, H, W) float32 on the loader's device (a reused buffer)
  Tensor y;            // (B) int64 (a reused buffer)
  int64_t size = 0;    // B
  uint64_t epoch = 0;  // the epoch and batch index this batch is
  int64_t index = 0;
};

/// The record order of one epoch: a permutation of 0..n-1 (Fisher-Yates, gpunet::Generator
/// seeded with mix64(seed ^ mix64(epoch))).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch);

/// Rank `rank` of `num_replicas`'s share of an epoch's `order` (torch's DistributedSampler with
/// drop_last): order[rank], order[rank + N], ... over the first floor(n / N) * N entries, so
/// every rank gets floor(n / N) records. Requires 1 <= N <= n and 0 <= rank < N.
///   distributed_indices({5, 3, 0, 1, 4, 2, 6}, 2, 1) == {3, 1, 2}
std::vector<int64_t> distributed_indices(const std::vector<int64_t>& order, int num_replicas, int rank);

/// A dataset uploaded once to a device: images uint8 (N, C, H, W), labels uint8 (N).
/// (On the CPU device it is a copy in gpunet tensors; the loader then uses the same code.)
class DeviceDataset {
 public:
  DeviceDataset(const ImageDataset& data, Device device);
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  int64_t size() const { return images_.size(0); }
  Device device() const { return images_.device(); }
  /// x[j], y[j] <- record indices[start + j] transformed, for j < B; the batch's first sample is
  /// at `position` of epoch `epoch` (which fixes its augmentation). Requires: indices int64 on the
  /// device, x float32 (>= B, C, H, W) and y int64 (>= B) contiguous on the device. Allocates nothing.
  void gather(const Transforms& t, uint64_t seed, uint64_t epoch, int64_t position, const Tensor& indices,
              int64_t start, int64_t B, Tensor& x, Tensor& y) const;

 private:
  Tensor images_, labels_;
};

class DataLoader {
 public:
  /// Requires: batch_size >= 1, a non-empty, consistent dataset (data->check()), C <= 4, the
  /// device available. Throws Error/InputError otherwise.
  DataLoader(std::shared_ptr<const ImageDataset> data, LoaderOptions opts);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Batches per epoch: ceil(n / batch_size), or floor with drop_last.
  int64_t epoch_size() const;
  int64_t num_samples() const { return data_->n; }
  /// The position of the next batch.
  uint64_t epoch() const { return epoch_; }
  int64_t batch_index() const { return index_; }
  /// Continue from batch `batch_index` of epoch `epoch` (0 <= batch_index <= epoch_size()).
  void set_position(uint64_t epoch, int64_t batch_index);
  /// The next batch of the current epoch into `b`; false (b untouched) when the epoch is over,
  /// and the position moves to (epoch + 1, 0).
  bool next(Batch& b);
  /// True when batches are made on the device from a DeviceDataset.
  bool device_resident() const { return resident_ != nullptr; }
  const LoaderOptions& options() const { return opts_; }
  const ImageDataset& dataset() const { return *data_; }

 private:
  struct Slot;
  class Worker;
  void ensure_permutation();
  void fill(Slot& s, uint64_t epoch, int64_t index);
  int64_t batch_len(int64_t index) const;
  int64_t samples() const;      // records per epoch for this rank
  uint64_t aug_seed() const;    // the augmentation's seed (mixed with the rank when N > 1)
  void cancel_prefetch();

  std::shared_ptr<const ImageDataset> data_;
  LoaderOptions opts_;
  uint64_t epoch_ = 0;
  int64_t index_ = 0;
  std::vector<int64_t> perm_;  // the current epoch's order (host)
  uint64_t perm_epoch_ = 0;
  bool perm_valid_ = false;
  // device-resident path
  std::unique_ptr<DeviceDataset> resident_;
  Tensor perm_dev_;
  // host path: two host slots (one being trained on, one being prepared)
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<Worker> worker_;
  int pending_ = -1;  // slot being prepared, or -1
  uint64_t pending_epoch_ = 0;
  int64_t pending_index_ = 0;
  int returned_ = 1;  // slot last returned
  Tensor x_, y_;      // output buffers on the device (both paths)
};

}  // namespace gpunet::data
