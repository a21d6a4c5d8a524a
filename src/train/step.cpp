#include <cmath>
#include <iostream>
#include <memory>
#include <string>

#include "gpunet/autograd.h"
#include "gpunet/config.h"
#include "gpunet/data/loader.h"
#include "gpunet/ops.h"
#include "gpunet/train.h"
#include "ops/loss_sum.h"
#if GPUNET_HAVE_CUDA
#include "core/cuda/graph.h"
#include "core/device_api.h"
#endif

namespace gpunet {

namespace {

// Why the step cannot be captured ("" when it can): the declared capability flags.
std::string not_capturable(const nn::Module& model, const optim::Optimizer& opt) {
  if (!opt.capturable())
    return "the optimizer is not capturable (it keeps per-step values on the host, which a graph would freeze)";
  if (!model.capturable())
    return "the model is not capturable (a module keeps host-side per-step state, which a graph would freeze)";
  return "";
}

#if GPUNET_HAVE_CUDA
constexpr int kWarmupSteps = 2;  // eager steps with the same inputs before a capture

void push_tensor(std::vector<int64_t>& fp, const Tensor& t) {
  if (!t.defined()) {
    fp.push_back(0);
    return;
  }
  fp.push_back(static_cast<int64_t>(reinterpret_cast<intptr_t>(t.raw_data())));
  fp.push_back(static_cast<int64_t>(t.dtype()));
  fp.push_back(t.dim());
  for (int64_t d : t.shape()) fp.push_back(d);
  for (int64_t s : t.strides()) fp.push_back(s);
}
#endif

}  // namespace

// The CUDA-graph bookkeeping of a TrainStep: the inputs seen by the last steps, the warm-up
// count, and the captured graph (CUDA builds only).
struct TrainStep::GraphState {
  bool disabled = false;  // Auto after a failed capture or with an optimizer that cannot be graphed
  int warm = 0;
  std::vector<int64_t> batch_fp, state_fp;  // of the warm-up steps, then of the captured step
#if GPUNET_HAVE_CUDA
  std::unique_ptr<cuda::detail::Graph> graph;
#endif
};

TrainStep::TrainStep(nn::Module& model, optim::Optimizer& opt, GraphMode graph)
    : model_(model), opt_(opt), graph_mode_(graph), graph_(std::make_unique<GraphState>()) {
  running_ = Tensor::zeros({1}, DType::Float64, model.device());
  const std::string why = not_capturable(model, opt);
  if (graph_mode_ == GraphMode::On && model.device().is_cuda() && !why.empty())
    throw Error("TrainStep: CUDA graph mode On, but " + why + "; use GraphMode Auto or Off (--cuda-graph auto|off)");
}

TrainStep::~TrainStep() = default;

void TrainStep::eager_step(const Tensor& x, const Tensor& y) {
  opt_.zero_grad();
  Tensor loss = ops::cross_entropy(model_.forward(x), y);
  if (sync_) sync_->before_backward();
  loss.backward();
  if (sync_) sync_->after_backward();
  opt_.step();
  // running += loss, in double on the device (the seed sums loss.item() in a Python float).
  ops::add_to_running_loss(loss, running_);
}

void TrainStep::operator()(const Tensor& x, const Tensor& y) {
  if (running_.device() != model_.device()) running_ = Tensor::zeros({1}, DType::Float64, model_.device());
#if GPUNET_HAVE_CUDA
  // Kernels run on the current device's stream; not every call on the path sets it (zero_grad's
  // fill, the optimizer's update, the running-loss add), so set it once here for cuda:N.
  if (model_.device().is_cuda()) cuda::detail::set_device(model_.device().index());
#endif
  if (graph_mode_ == GraphMode::Off || !model_.device().is_cuda() || sync_ || !graph_step(x, y)) eager_step(x, y);
  ++count_;
}

bool TrainStep::graph_step(const Tensor& x, const Tensor& y) {
#if GPUNET_HAVE_CUDA
  GraphState& g = *graph_;
  if (g.disabled) return false;
  const std::string why = not_capturable(model_, opt_);
  if (!why.empty()) {
    if (graph_mode_ == GraphMode::On)
      throw Error("TrainStep: CUDA graph mode On, but " + why + "; use GraphMode Auto or Off (--cuda-graph auto|off)");
    g.disabled = true;
    return false;
  }
  // What the captured work depends on beyond its own memory: the batch buffers, and the layout
  // of the parameters, gradients and optimizer state (the store's generation, brought up to date
  // first: a changed requires_grad or a move re-lays the store out here, outside any capture).
  opt_.sync_device();
  std::vector<int64_t> batch_fp, state_fp;
  push_tensor(batch_fp, x);
  push_tensor(batch_fp, y);
  state_fp.push_back(model_.device().index());
  state_fp.push_back(model_.is_training() ? 1 : 0);
  state_fp.push_back(autograd::grad_enabled() ? 1 : 0);
  push_tensor(state_fp, running_);
  push_tensor(state_fp, opt_.step_scalars());
  push_tensor(state_fp, opt_.schedule_table());  // a schedule attached, replaced or cleared: capture again
  state_fp.push_back(static_cast<int64_t>(opt_.store().generation()));

  if (g.graph) {
    if (state_fp == g.state_fp) {
      if (batch_fp != g.batch_fp) return false;  // another batch buffer or shape (the last, partial batch)
      g.graph->launch();  // the optimizer's step count advances on the device
      ++graph_steps_;
      return true;
    }
    g.graph.reset();  // the model or optimizer buffers moved: capture again after a warm-up
  }
  if (batch_fp != g.batch_fp || state_fp != g.state_fp) {
    g.batch_fp = std::move(batch_fp);
    g.state_fp = std::move(state_fp);
    g.warm = 0;
  }
  if (g.warm < kWarmupSteps) {  // fills the allocator's cache, picks cuDNN algorithms, loads kernels
    ++g.warm;
    return false;
  }
  auto graph = std::make_unique<cuda::detail::Graph>(model_.device().index());
  try {
    graph->capture([&] { eager_step(x, y); });
  } catch (const std::exception& e) {
    if (graph_mode_ == GraphMode::On)
      throw Error(detail::cat("TrainStep: capturing the training step as a CUDA graph failed (graph mode On): ", e.what()));
    std::cerr << "gpunet: capturing the training step as a CUDA graph failed; continuing without graphs (" << e.what()
              << ")\n";
    g.disabled = true;
    return false;
  }
  g.graph = std::move(graph);
  g.graph->launch();  // the capture ran nothing: this performs the step
  ++graph_steps_;
  return true;
#else
  (void)x;
  (void)y;
  return false;
#endif
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

EvalResult evaluate(nn::Module& model, const data::ImageDataset& ds, Device device, int64_t batch_size,
                    const data::Transforms& t) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto view = std::shared_ptr<const data::ImageDataset>(&ds, [](const data::ImageDataset*) {});
  auto opts = data::LoaderOptions::evaluation(batch_size, device, t);
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
