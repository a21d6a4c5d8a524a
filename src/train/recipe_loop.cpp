// The training loop of a recipe (include/gpunet/train/recipe_run.h), in the order of the
// recipe's reference program (../shared/peers/pytorch_airbench.py, main()).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "gpunet/models/airbench.h"
#include "gpunet/ops.h"
#include "gpunet/optim/lookahead.h"
#include "gpunet/optim/muon.h"
#include "gpunet/optim/sgd.h"
#include "gpunet/train/recipe_run.h"
#include "ops/loss_sum.h"
#include "recipe_state.h"

namespace gpunet::train {
namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t0, Device device) {
  if (device.is_cuda()) cuda::synchronize(device.index());
  return std::chrono::duration<double>(clock::now() - t0).count();
}

// The recipe's optimizers over net's trainable parameters (at this moment), in named_parameters
// order: each parameter goes to the first group whose name_contains its name holds; the SGD
// groups to one optim::SGD (the module attached to it), the Muon groups to one optim::Muon. Each
// group's lr follows its schedule (group_lr_schedule) through the optimizer's device table.
struct RecipeOptimizers {
  std::unique_ptr<optim::SGD> sgd;
  std::unique_ptr<optim::Muon> muon;
  std::vector<detail::NamedOptimizer> named() const {
    std::vector<detail::NamedOptimizer> v;
    if (sgd) v.push_back({"", sgd.get()});
    if (muon) v.push_back({"muon.", muon.get()});
    return v;
  }
  void zero_grad() {
    if (sgd) sgd->zero_grad();
    if (muon) muon->zero_grad();
  }
  void step() {  // the reference's order: SGD, then Muon
    if (sgd) sgd->step();
    if (muon) muon->step();
  }
};

RecipeOptimizers make_optimizers(const Recipe& r, nn::Module& net, int64_t batch_size, int64_t total,
                                 int64_t steps_per_epoch) {
  const std::vector<GroupNumbers> nums = group_numbers(r, batch_size);
  std::vector<std::vector<Tensor>> params(r.groups.size());
  for (auto& [name, p] : net.named_parameters()) {
    if (!p.requires_grad()) continue;
    for (size_t g = 0; g < r.groups.size(); ++g) {
      if (r.groups[g].name_contains.empty() || name.find(r.groups[g].name_contains) != std::string::npos) {
        params[g].push_back(p);
        break;
      }
    }
  }
  std::vector<optim::ParamGroup> sgd_groups, muon_groups;
  std::vector<optim::Schedule> sgd_schedules, muon_schedules;
  for (size_t g = 0; g < r.groups.size(); ++g) {
    GPUNET_INPUT_CHECK(!params[g].empty(), "recipe ", r.name, ": the parameter group '", r.groups[g].label,
                       "' matches no trainable parameter of the model");
    const GroupNumbers& n = nums[g];
    const optim::Schedule sched = group_lr_schedule(r, g, total, steps_per_epoch);
    if (r.groups[g].optimizer == GroupOptimizer::Muon) {
      optim::MuonOptions mo = r.muon;
      mo.lr = n.lr, mo.momentum = n.momentum, mo.nesterov = n.nesterov;
      muon_groups.push_back({params[g], optim::muon_group(mo)});
      muon_schedules.push_back(sched);
    } else {
      sgd_groups.push_back({params[g], optim::sgd_group({n.lr, n.momentum, 0.0, n.weight_decay, n.nesterov})});
      sgd_schedules.push_back(sched);
    }
  }
  RecipeOptimizers o;
  if (!sgd_groups.empty()) {
    o.sgd = std::make_unique<optim::SGD>(sgd_groups, &net);
    o.sgd->set_schedule(sgd_schedules, total);
  }
  if (!muon_groups.empty()) {
    o.muon = std::make_unique<optim::Muon>(muon_groups, r.muon, o.sgd ? nullptr : &net);
    o.muon->set_schedule(muon_schedules, total);
  }
  return o;
}

Tensor named_parameter(nn::Module& net, const std::string& name) {
  for (auto& [n, p] : net.named_parameters())
    if (n == name) return p;
  throw InputError("recipe: the model has no parameter '" + name + "'");
}


}  // namespace

RecipeResult run_recipe(const Recipe& r, nn::Module& net, std::shared_ptr<const data::ImageDataset> train,
                        std::shared_ptr<const data::ImageDataset> test, const RecipeRunOptions& o) {
  GPUNET_INPUT_CHECK(train && train->n > 0, "recipe ", r.name, ": the training set is empty");
  GPUNET_INPUT_CHECK(train->c == 3 && train->h == 32 && train->w == 32 && train->num_classes() == 10,
                     "recipe ", r.name, ": needs CIFAR-10-shaped data (3x32x32 images, 10 classes), got ", train->c,
                     "x", train->h, "x", train->w, " with ", train->num_classes(), " classes");
  // 0: the recipe's; anything else as given (total_steps refuses a negative one).
  const int64_t batch = o.batch_size != 0 ? o.batch_size : r.batch_size;
  const double epochs = o.epochs != 0 ? o.epochs : r.epochs;
  // The test passes in batches of 2000 as the reference does; on the CPU no larger than the
  // training batch, so that evaluation does not raise the peak memory over training's. Eval
  // mode makes each image's logits independent of the split.
  const int64_t eval_batch = o.device.is_cuda() ? 2000 : std::min<int64_t>(2000, batch);
  // On the CPU the evaluation's blocks have other sizes than training's: the host allocator
  // hands back the cached ones (training's before, the evaluation's after), so that the run's
  // peak stays training's. The pages come back on first touch (about 0.1 s per evaluation).
  auto accuracy = [&](bool with_tta) {
    if (o.device.is_cpu()) memory::empty_cache(o.device);
    const double a = recipe_accuracy(r, net, test, o.device, with_tta, eval_batch);
    if (o.device.is_cpu()) memory::empty_cache(o.device);
    return a;
  };
  RecipeResult res;
  res.total_steps = total_steps(r, train->n, batch, epochs);  // checks batch <= n and epochs > 0
  const int64_t run_steps = o.max_steps > 0 ? std::min(o.max_steps, res.total_steps) : res.total_steps;
  const std::vector<double> factors = lr_factors(r, res.total_steps);
  net.to(o.device);
  net.train();

  // The optimizers over the parameters trainable now, and the lookahead's ema taken now (before
  // the whitening, as the reference does). The lr factor per step is a device-side table each
  // optimizer steps through (no host work).
  RecipeOptimizers opt = make_optimizers(r, net, batch, res.total_steps, steps_per_epoch(r, train->n, batch));
  const double shown_lr = group_numbers(r, batch).back().lr;  // the table's lr: the last group's
  std::unique_ptr<optim::Lookahead> lookahead;
  if (r.lookahead_every > 0) lookahead = std::make_unique<optim::Lookahead>(net);
  Tensor frozen_later = r.frozen_after_name.empty() ? Tensor() : named_parameter(net, r.frozen_after_name);

  const detail::RecipePlan plan{r.name, batch, res.total_steps, o.seed, o.augment, o.shuffle};
  detail::RecipePosition at;
  if (o.resume) {
    // The state's net (whitening included), optimizer, ema and position; the frozen-after
    // parameters as at that epoch before the optimizer's layout is read.
    detail::check_plan(*o.resume, plan);
    at = detail::recipe_position(*o.resume);
    GPUNET_INPUT_CHECK(at.step <= res.total_steps, "--resume: the training state is at step ", at.step, " of ",
                       res.total_steps, "; the file is corrupt");
    if (frozen_later.defined()) frozen_later.requires_grad_(at.epoch < r.frozen_after_epochs);
    detail::load_recipe_state(*o.resume, net, opt.named(), lookahead.get());
    res.resumed_at = at.step;
  }
  const auto t0 = clock::now();
  if (o.whiten_from_data && !o.resume) {
    auto* ab = dynamic_cast<models::Airbench94*>(&net);
    GPUNET_INPUT_CHECK(ab != nullptr, "recipe ", r.name, ": the whitening needs an Airbench94 model");
    ab->whiten_from(*train, r.transforms, r.whitening);
  }
  res.whiten_seconds = seconds_since(t0, o.device);
  if (o.initialise_only) return res;

  const auto t_data = clock::now();
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = o.shuffle;
  lo.drop_last = r.drop_last;
  lo.seed = o.seed;
  lo.transforms = o.augment ? r.transforms : r.transforms.without_augmentation();
  lo.device = o.device;
  data::DataLoader loader(train, lo);
  res.data_seconds = seconds_since(t_data, o.device);

  const auto t_loop = clock::now();
  clock::time_point t_after_first = t_loop;
  int64_t& step = res.steps;
  step = at.step;
  // A position at an epoch's end is the next epoch's start.
  if (at.batch >= loader.epoch_size()) at = {at.step, at.epoch + 1, 0};
  auto checkpoint = [&](int64_t epoch, int64_t next_batch) {
    if (!o.on_checkpoint) return;
    if (next_batch >= loader.epoch_size()) ++epoch, next_batch = 0;
    o.on_checkpoint(detail::recipe_state(plan, {step, epoch, next_batch}, net, opt.named(), lookahead.get()));
  };
  for (int64_t epoch = at.epoch; step < run_steps && !res.interrupted; ++epoch) {
    const auto t_epoch = clock::now();
    if (frozen_later.defined()) frozen_later.requires_grad_(epoch < r.frozen_after_epochs);
    int64_t batch_index = epoch == at.epoch ? at.batch : 0;
    loader.set_position(static_cast<uint64_t>(epoch), batch_index);
    // The epoch's summed loss and correct count, in double on the device (read at its end).
    const Tensor loss_sum = Tensor::zeros({1}, DType::Float64, o.device), correct = Tensor::zeros({1}, DType::Float64, o.device);
    Tensor last_loss;
    EpochStats st;
    st.epoch = epoch;
    for (data::Batch b; step < run_steps && loader.next(b);) {
      st.lr = shown_lr * factors[static_cast<size_t>(step)];  // the schedule's row, on the host
      opt.zero_grad();
      Tensor logits = net.forward(b.x);
      Tensor loss = ops::cross_entropy(logits, b.y, r.label_smoothing,
                                       r.loss_sum ? ops::Reduction::Sum : ops::Reduction::Mean);
      loss.backward();
      opt.step();
      ++step;
      if (lookahead && step % r.lookahead_every == 0)
        lookahead->update(optim::lookahead_decay(step, res.total_steps, r.lookahead_every, r.lookahead_base));
      {
        NoGradGuard g;
        last_loss = loss.detach();
        const Tensor per_batch = r.loss_sum ? last_loss : ops::mul(last_loss, static_cast<double>(b.size));
        ops::add_to_running_loss(per_batch.reshape({1}), loss_sum);
        ops::add_to_running_loss(
            ops::sum(ops::eq(ops::argmax(logits.detach(), 1), b.y).to(DType::Float32)).reshape({1}), correct);
      }
      st.images += b.size;
      ++st.steps;
      ++batch_index;
      if (o.on_step) o.on_step(step, last_loss.item());
      if (o.stop && o.stop()) {
        res.interrupted = true;
        checkpoint(epoch, batch_index);
        break;
      }
      if (o.checkpoint_every > 0 && step % o.checkpoint_every == 0) checkpoint(epoch, batch_index);
      if (step == at.step + 1) {
        if (o.device.is_cuda()) cuda::synchronize(o.device.index());
        t_after_first = clock::now();
      }
    }
    if (st.steps == 0) break;
    res.last_loss_sum = last_loss.item();
    st.train_loss = loss_sum.item() / static_cast<double>(st.images);
    st.train_accuracy = correct.item() / static_cast<double>(st.images);
    st.seconds = seconds_since(t_epoch, o.device);
    // At an epoch's end, the planned run's last (partial) epoch included; not after a stop inside one.
    if (o.validate_each_epoch && test && (batch_index >= loader.epoch_size() || step == res.total_steps)) {
      // The reference stops its clock for this: the time goes to val_seconds, not the training.
      const auto t_val = clock::now();
      st.val_accuracy = accuracy(false);
      st.val_seconds = seconds_since(t_val, o.device);
      res.val_seconds += st.val_seconds;
    }
    if (o.on_epoch) o.on_epoch(st);
    if (!res.interrupted) checkpoint(epoch, batch_index);  // the epoch's end, or a max_steps stop in it
  }
  res.completed = step == res.total_steps;
  if (res.completed && lookahead) lookahead->copy_to_net();
  res.loop_seconds = seconds_since(t_loop, o.device) - res.val_seconds;
  res.train_seconds = res.whiten_seconds + res.data_seconds + res.loop_seconds;
  const double timed = std::chrono::duration<double>(clock::now() - t_after_first).count() - res.val_seconds;
  if (step > at.step + 1 && timed > 0)
    res.images_per_second = static_cast<double>((step - at.step - 1) * batch) / timed;

  if (res.completed && test) {
    const auto t_eval = clock::now();
    res.test_accuracy = accuracy(false);
    if (o.tta && !r.tta.empty()) res.tta_accuracy = accuracy(true);
    res.eval_seconds = seconds_since(t_eval, o.device);
  }
  return res;
}

}  // namespace gpunet::train
