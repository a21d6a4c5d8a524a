#include <cmath>
#include <memory>

#include "gpunet/autograd.h"
#include "gpunet/data/loader.h"
#include "gpunet/ops.h"
#include "gpunet/train.h"
#include "kernels/loss_sum.h"

namespace gpunet {

TrainStep::TrainStep(nn::Module& model, optim::Optimizer& opt) : model_(model), opt_(opt) {
  running_ = Tensor::zeros({1}, DType::Float64, model.device());
}

void TrainStep::operator()(const Tensor& x, const Tensor& y) {
  if (running_.device() != model_.device()) running_ = Tensor::zeros({1}, DType::Float64, model_.device());
  opt_.zero_grad();
  Tensor loss = ops::cross_entropy(model_.forward(x), y);
  loss.backward();
  opt_.step();
  // running += loss, in double on the device (the seed sums loss.item() in a Python float).
  if (running_.device().is_cpu()) {
    kernels::cpu::add_to_double(loss.data<float>(), running_.data<double>());
  } else {
#if GPUNET_HAVE_CUDA
    kernels::cuda::add_to_double(loss.data<float>(), running_.data<double>());
#endif
  }
  ++count_;
}

double TrainStep::running_sum() const { return running_.item(); }

double TrainStep::take_running_loss() {
  const double sum = running_.item();
  const double mean = count_ ? sum / static_cast<double>(count_) : std::nan("");
  running_.zero_();
  count_ = 0;
  return mean;
}

void TrainStep::set_running(double sum, int64_t count) {
  running_.fill_(sum);
  count_ = count;
}

EvalResult evaluate(nn::Module& model, const data::ImageDataset& ds, Device device, int64_t batch_size) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto view = std::shared_ptr<const data::ImageDataset>(&ds, [](const data::ImageDataset*) {});
  auto opts = data::LoaderOptions::evaluation(batch_size, device);
  opts.prefetch = false;
  data::DataLoader loader(view, opts);
  EvalResult r;
  const int nc = ds.num_classes();
  r.per_class_correct.assign(nc, 0);
  r.per_class_total.assign(nc, 0);
  double loss_sum = 0;
  for (data::Batch b; loader.next(b);) {
    Tensor logits = model.forward(b.x);
    loss_sum += ops::cross_entropy(logits, b.y).item() * static_cast<double>(b.size);
    auto pred = ops::argmax(logits, 1).to_vector<int64_t>();
    auto truth = b.y.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) {
      r.per_class_total[truth[i]]++;
      if (pred[i] == truth[i]) {
        r.per_class_correct[truth[i]]++;
        r.correct++;
      }
    }
    r.total += b.size;
  }
  r.mean_loss = r.total ? loss_sum / static_cast<double>(r.total) : 0.0;
  model.train(was_training);
  return r;
}

}  // namespace gpunet
