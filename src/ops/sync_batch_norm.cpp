// sync_batch_norm2d (gpunet/sync_batch_norm.h): per-channel sums in double on the device
// (kernels/batch_norm.h: batch_norm_channel_sums, batch_norm_backward_sums), all-reduced on the
// host through the group, and the elementwise passes with the group's statistics
// (batch_norm_apply, batch_norm_backward_apply), every coefficient in double as batch_norm2d's.
#include "gpunet/sync_batch_norm.h"

#include <algorithm>
#include <cmath>

#include "kernels/batch_norm.h"
#include "ops/common.h"
#include "ops/dispatch.h"

namespace gpunet::ops {
namespace {

struct SyncBatchNormNode : autograd::Node {
  kernels::BatchNormShape s{};
  Tensor x, weight, save_mean, save_invstd;  // saved (contiguous, detached)
  std::shared_ptr<SumGroup> group;
  double count = 0;  // elements per channel over the group
  const char* name() const override { return "sync_batch_norm2d"; }
  std::vector<Tensor> apply(const Tensor& g_in) override {
    GPUNET_CHECK(x.defined(), "sync_batch_norm2d: backward after the saved tensors were released");
    const Tensor g = g_in.contiguous();
    const Device dev = x.device();
    // This rank's sum(dout) and sum(dout * xhat), in double: the bias and weight gradients (this
    // rank's share, as DDP has them) and, summed over the group, the statistics' part of dx.
    Tensor local = Tensor::empty({2 * static_cast<int64_t>(s.C)}, DType::Float64, dev);
    GPUNET_DISPATCH("sync_batch_norm2d", dev, batch_norm_backward_sums, s, x.data<float>(), save_mean.data<float>(),
                    save_invstd.data<float>(), g.data<float>(), local.data<double>());
    std::vector<double> sums = local.to_vector<double>();
    std::vector<float> db(sums.begin(), sums.begin() + s.C), dw(sums.begin() + s.C, sums.end());
    Tensor dx;
    if (inputs[0]) {
      group->allreduce_sum(sums);
      const Tensor total = Tensor::from_vector(sums, {2 * static_cast<int64_t>(s.C)}, dev);
      dx = Tensor::empty(x.shape(), DType::Float32, dev);
      GPUNET_DISPATCH("sync_batch_norm2d", dev, batch_norm_backward_apply, s, x.data<float>(),
                      weight.defined() ? weight.data<float>() : nullptr, save_mean.data<float>(),
                      save_invstd.data<float>(), g.data<float>(), total.data<double>(), count, dx.data<float>());
    }
    return {dx, inputs[1] ? Tensor::from_vector(dw, {s.C}, dev) : Tensor(),
            inputs[2] ? Tensor::from_vector(db, {s.C}, dev) : Tensor()};
  }
  void release() override { x = weight = save_mean = save_invstd = Tensor(); }
};

void check_channel(const char* op, const char* what, const Tensor& x, const Tensor& t) {
  if (!t.defined()) return;
  detail::check_float32(op, what, t);
  check_same_device(op, x, t);
  GPUNET_CHECK(t.dim() == 1 && t.shape()[0] == x.shape()[1], op, ": input has ", x.shape()[1], " channels but ",
               what, " has shape ", shape_str(t.shape()));
}

}  // namespace

Tensor sync_batch_norm2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                         const Tensor& running_mean, const Tensor& running_var, double momentum, double eps,
                         std::shared_ptr<SumGroup> group) {
  const char* op = "sync_batch_norm2d";
  GPUNET_CHECK(group != nullptr, op, ": no process group");
  detail::check_float32(op, "input", x_in);
  detail::check_dim(op, "input", x_in, 4, "NCHW");
  check_channel(op, "weight", x_in, weight_in);
  check_channel(op, "bias", x_in, bias_in);
  check_channel(op, "running_mean", x_in, running_mean);
  check_channel(op, "running_var", x_in, running_var);
  GPUNET_CHECK(running_mean.defined() == running_var.defined(), op,
               ": running_mean and running_var must be given together");
  GPUNET_INPUT_CHECK(eps > 0.0, op, ": eps must be > 0, got ", eps);
  GPUNET_INPUT_CHECK(momentum >= 0.0 && momentum <= 1.0, op, ": momentum must be in [0, 1], got ", momentum);
  kernels::BatchNormShape s{};
  s.N = detail::to_int(op, x_in.shape()[0]);
  s.C = detail::to_int(op, x_in.shape()[1]);
  s.HW = x_in.shape()[2] * x_in.shape()[3];
  const Tensor x = x_in.contiguous();
  const Device dev = x.device();
  const size_t C = static_cast<size_t>(s.C);

  // Pass 1: the count and the sums over the group -> the mean.
  Tensor sums = Tensor::empty({s.C}, DType::Float64, dev);
  GPUNET_DISPATCH(op, dev, batch_norm_channel_sums, s, x.data<float>(), nullptr, sums.data<double>());
  std::vector<double> first(C + 1);
  first[0] = static_cast<double>(s.N) * static_cast<double>(s.HW);
  const auto local = sums.to_vector<double>();
  std::copy(local.begin(), local.end(), first.begin() + 1);
  group->allreduce_sum(first);
  const double count = first[0];
  GPUNET_CHECK(count > 1, op, ": Expected more than 1 value per channel when training, got input size ",
               shape_str(x_in.shape()), " over ", group->size(), " process(es)");
  std::vector<double> mean(C);
  for (size_t c = 0; c < C; ++c) mean[c] = first[c + 1] / count;
  // Pass 2: the sum of squares about the global mean -> the biased and unbiased variance.
  const Tensor center = Tensor::from_vector(mean, {s.C}, dev);
  GPUNET_DISPATCH(op, dev, batch_norm_channel_sums, s, x.data<float>(), center.data<double>(), sums.data<double>());
  std::vector<double> sq = sums.to_vector<double>();
  group->allreduce_sum(sq);
  if (running_mean.defined()) {  // as the batch_norm2d kernels: in double, then rounded
    NoGradGuard no_grad;
    auto rm = running_mean.to_vector<float>(), rv = running_var.to_vector<float>();
    for (size_t c = 0; c < C; ++c) {
      rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean[c]);
      rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * sq[c] / (count - 1));
    }
    Tensor(running_mean).copy_(Tensor::from_vector(rm, {s.C}, dev));
    Tensor(running_var).copy_(Tensor::from_vector(rv, {s.C}, dev));
  }
  // The normalisation with the group's statistics.
  std::vector<double> invstd(C);
  for (size_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(sq[c] / count + eps);
  const Tensor w = weight_in.defined() ? weight_in.contiguous() : Tensor();
  const Tensor b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  const Tensor invstd_t = Tensor::from_vector(invstd, {s.C}, dev);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, dev);
  Tensor save_mean = Tensor::empty({s.C}, DType::Float32, dev), save_invstd = Tensor::empty({s.C}, DType::Float32, dev);
  GPUNET_DISPATCH(op, dev, batch_norm_apply, s, x.data<float>(), w.defined() ? w.data<float>() : nullptr,
                  b.defined() ? b.data<float>() : nullptr, center.data<double>(), invstd_t.data<double>(),
                  out.data<float>(), save_mean.data<float>(), save_invstd.data<float>());
  if (autograd::needs_grad({&x_in, &weight_in, &bias_in})) {
    auto node = std::make_shared<SyncBatchNormNode>();
    node->s = s;
    node->x = x.detach();
    node->weight = w.defined() ? w.detach() : Tensor();
    node->save_mean = save_mean;
    node->save_invstd = save_invstd;
    node->group = std::move(group);
    node->count = count;
    autograd::record(out, node, {&x_in, &weight_in, &bias_in});
  }
  return out;
}

}  // namespace gpunet::ops
