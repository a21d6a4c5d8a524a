// Muon (optim/muon.h): one Newton-Schulz update per trainable matrix, through GPUNET_DISPATCH.
#include "gpunet/optim/muon.h"

#include <algorithm>
#include <cmath>

#include "kernels/muon.h"
#include "ops/dispatch.h"

namespace gpunet::optim {
namespace {

constexpr const char* kMomentum = "momentum_buffer";

std::vector<ParamGroup> checked(std::vector<ParamGroup> groups, const MuonOptions& opts) {
  GPUNET_INPUT_CHECK(opts.ns_steps >= 1, "Muon: invalid ns_steps ", opts.ns_steps, " (must be >= 1)");
  GPUNET_INPUT_CHECK(std::isfinite(opts.eps) && opts.eps >= 0, "Muon: invalid eps ", opts.eps, " (must be >= 0)");
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupOptions& o = groups[g].options;
    GPUNET_INPUT_CHECK(std::isfinite(o.lr) && o.lr >= 0, "Muon: invalid learning rate ", o.lr, " in group ", g,
                       " (must be >= 0)");
    GPUNET_INPUT_CHECK(std::isfinite(o.momentum) && o.momentum >= 0, "Muon: invalid momentum ", o.momentum,
                       " in group ", g, " (must be >= 0)");
    GPUNET_INPUT_CHECK(!o.nesterov || o.momentum > 0, "Muon: nesterov momentum requires a momentum (group ", g, ")");
    GPUNET_INPUT_CHECK(o.weight_decay == 0, "Muon: weight_decay ", o.weight_decay, " in group ", g,
                       " is not part of the record's Muon rule (must be 0)");
    GPUNET_INPUT_CHECK(o.dampening == 0, "Muon: dampening ", o.dampening, " in group ", g,
                       " is not part of the record's Muon rule (must be 0)");
    for (size_t i = 0; i < groups[g].params.size(); ++i) {
      const Tensor& p = groups[g].params[i];
      GPUNET_INPUT_CHECK(p.defined() && p.dim() >= 2, "Muon: group ", g, ", parameter ", i, " has shape ",
                         p.defined() ? shape_str(p.shape()) : std::string("(undefined)"),
                         "; Muon updates matrices and conv filter banks only (dim >= 2): give biases, norms and "
                         "other vectors to SGD");
    }
  }
  return groups;
}

std::vector<ParamGroup> one_group(std::vector<Tensor> params, const MuonOptions& o) {
  return checked({ParamGroup{std::move(params), muon_group(o)}}, o);
}

int64_t rows_of(const Tensor& p) { return p.shape()[0]; }
int64_t cols_of(const Tensor& p) { return rows_of(p) == 0 ? 0 : p.numel() / rows_of(p); }

}  // namespace

GroupOptions muon_group(const MuonOptions& o) {
  GroupOptions g;
  g.lr = o.lr;
  g.momentum = o.momentum;
  g.nesterov = o.nesterov;
  return g;
}

Muon::Muon(std::vector<Tensor> params, MuonOptions opts)
    : Optimizer(nullptr, one_group(std::move(params), opts)), opts_(opts) {
  prepare();
}
Muon::Muon(nn::Module& module, MuonOptions opts)
    : Optimizer(&module, one_group(module.parameters(), opts)), opts_(opts) {
  prepare();
}
Muon::Muon(std::vector<ParamGroup> groups, MuonOptions opts, nn::Module* module)
    : Optimizer(module, checked(std::move(groups), opts)), opts_(opts) {
  prepare();
}

// The momentum buffers (zero: the first step gives buf = g, as the record's zeros_like start)
// and the Newton-Schulz scratch are made here, before any step, and kept: a step captured in a
// CUDA graph allocates nothing. Redone only after a move to another device.
void Muon::prepare() {
  ParamStore& s = *store_;
  const Device dev = s.device();
  int64_t need = 1;
  for (const Tensor& p : s.params()) need = std::max(need, kernels::muon_workspace(rows_of(p), cols_of(p)));
  if (!work_.defined() || work_.device() != dev || work_.numel() < need) work_ = Tensor::empty({need}, DType::Float32, dev);
  s.slot(kMomentum);
}

void Muon::update() {
  prepare();
  ParamStore& s = *store_;
  const Device dev = s.device();
  const kernels::MuonParams h{static_cast<float>(0), false, opts_.ns_steps, static_cast<float>(opts_.eps),
                              opts_.normalize_weight, opts_.shape_scale, opts_.ns_bf16};
  for (size_t i = 0; i < s.params().size(); ++i) {
    Tensor buf = s.slot_view(kMomentum, i);
    if (!buf.defined()) continue;  // frozen: no update of any kind
    const size_t g = s.group_of(i);
    const GroupOptions& o = s.options(g);
    kernels::MuonParams hp = h;
    hp.momentum = static_cast<float>(o.momentum);
    hp.nesterov = o.nesterov;
    const Tensor& p = s.params()[i];
    GPUNET_DISPATCH("Muon.step", dev, muon_step, rows_of(p), cols_of(p), hp, group_scalars(g), p.data<float>(),
                    p.grad().data<float>(), buf.data<float>(), work_.data<float>());
  }
}

StateDict Muon::state_tensors() const { return steps() > 0 ? slot_tensors({kMomentum}) : StateDict{}; }

std::map<std::string, std::string> Muon::state_scalars() const {
  return {{"optimizer", "muon"}, {"optimizer.steps", std::to_string(steps())}};
}

void Muon::load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) {
  auto it = scalars.find("optimizer");
  GPUNET_INPUT_CHECK(it != scalars.end() && it->second == "muon", "the training state was saved by optimizer '",
                     it == scalars.end() ? std::string("?") : it->second, "', not muon; resume with the same --optimizer");
  auto st = scalars.find("optimizer.steps");
  GPUNET_INPUT_CHECK(st != scalars.end(), "the training state has no optimizer.steps");
  const int64_t n = std::stoll(st->second);
  GPUNET_INPUT_CHECK(n >= 0, "the training state's optimizer.steps is ", n);
  if (n > 0) {
    store_->slot(kMomentum);
    load_slots(tensors, {kMomentum});
  }
  set_steps(n);
}

}  // namespace gpunet::optim
