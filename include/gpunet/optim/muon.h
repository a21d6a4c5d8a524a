#pragma once
/// optim::Muon, as the airbench94_muon record (Keller Jordan) uses it for the conv filter banks.
/// Per trainable parameter p (its gradient g and buffer viewed as rows = p.shape[0] by
/// cols = numel / rows, e.g. out x in*kh*kw), the record's Muon.step:
///   buf = momentum * buf + g                          (buf starts at zero)
///   u = nesterov ? g + momentum * buf : buf
///   p *= sqrt(rows) / ||p||_F                          (normalize_weight: the record's
///                                                       p.data.mul_(len(p.data)**0.5 / p.data.norm()))
///   U = NewtonSchulz5(u, ns_steps): X = u / (||u||_F + eps), transposed when rows > cols;
///       ns_steps times A = X Xᵀ, B = b A + c A², X = a X + B X, (a, b, c) = (3.4445, -4.7750, 2.0315)
///   U *= sqrt(max(1, rows / cols))                     (shape_scale: the original Muon's factor;
///                                                       the record does not apply it, default off)
///   p -= lr * U
/// Facts: the record's zeropower_via_newtonschulz5(G, steps=3, eps=1e-7) and Muon(filter_params,
/// lr=0.24, momentum=0.6, nesterov=True); the class defaults lr 1e-3, momentum 0, nesterov off.
/// Precision: the Newton-Schulz iteration in float32, or with ns_bf16 as the record runs it
/// (X.bfloat16(), then bf16 products with float32 accumulation and bf16 elementwise results, on
/// both devices: the CPU rounds where PyTorch's bf16 tensors round); everything else in float32.
/// The lr is read from the device scalars and the norms stay on the device: capturable.
///
/// Muon takes matrices only (dim >= 2); the record gives everything else (biases, BatchNorm,
/// the linear head, the whitening bias) to SGD. Combine them as two optimizers over disjoint
/// parameter lists, stepping and zeroing both (the module is attached to one of them):
///   std::vector<Tensor> filters, rest;   // 4-D trainable weights vs the others
///   optim::SGD sgd({{rest, optim::sgd_group({.lr = 0.1, .momentum = 0.85, .nesterov = true})}}, net.get());
///   optim::Muon muon(filters, {.lr = 0.24, .momentum = 0.6, .nesterov = true});
///   sgd.zero_grad(); muon.zero_grad(); loss.backward(); sgd.step(); muon.step();
#include "gpunet/optim/optimizer.h"

namespace gpunet::optim {

struct MuonOptions {
  double lr = 0.001;
  double momentum = 0.0;
  bool nesterov = false;
  int ns_steps = 3;              // Newton-Schulz iterations (the record: 3)
  double eps = 1e-7;             // added to ||u||_F
  bool normalize_weight = true;  // the record's weight normalisation
  bool shape_scale = false;      // the original Muon's sqrt(max(1, rows/cols))
  bool ns_bf16 = false;          // the record's bf16 Newton-Schulz iteration (airbench94_muon sets it)
};

/// A parameter group's options with Muon's per-group hyper-parameters (lr, momentum, nesterov).
GroupOptions muon_group(const MuonOptions& o);

class Muon : public Optimizer {
 public:
  /// Requires: every trainable parameter has dim >= 2 (InputError naming it: give the others to
  /// SGD); lr >= 0, momentum >= 0, nesterov only with momentum > 0, weight_decay and dampening 0
  /// in every group; ns_steps >= 1; eps >= 0.
  Muon(std::vector<Tensor> params, MuonOptions opts);
  Muon(nn::Module& module, MuonOptions opts);
  /// Parameter groups (their lr, momentum, nesterov); `opts` gives ns_steps, eps and the scaling rules.
  Muon(std::vector<ParamGroup> groups, MuonOptions opts, nn::Module* module = nullptr);
  bool capturable() const override { return true; }
  StateDict state_tensors() const override;
  std::map<std::string, std::string> state_scalars() const override;
  void load_state(const StateDict& tensors, const std::map<std::string, std::string>& scalars) override;

 private:
  void update() override;
  void prepare();
  MuonOptions opts_;
  Tensor work_;  // Newton-Schulz scratch for the largest parameter, on the store's device
};

}  // namespace gpunet::optim
