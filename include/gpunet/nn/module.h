#pragma once
/// nn::Module: named parameters and submodules (names as PyTorch's state_dict:
/// "conv1.weight", "fc3.bias"), device moves, train/eval mode, gradients.
///   auto net = std::make_shared<gpunet::models::LeNet>();
///   net->to(gpunet::Device::best());
///   for (auto& [name, p] : net->named_parameters()) std::cout << name << "\n";
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpunet/io/state_dict.h"
#include "gpunet/tensor.h"

namespace gpunet {
namespace nn {

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The module's computation. Single-input modules override this.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  /// PyTorch-style class name, for printing ("Conv2d(3, 6, kernel_size=5)").
  virtual std::string repr() const { return "Module"; }

  /// Parameters of this module and its submodules, depth first in registration order,
  /// named "child.name".
  StateDict named_parameters() const;
  std::vector<Tensor> parameters() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  /// Moves every parameter (and gradient) to `device`, in place: tensors handed out before
  /// (to an optimizer) see the move. Returns *this.
  Module& to(Device device);
  Device device() const;
  /// Training mode (the default) or evaluation mode, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears every parameter's gradient (zeroes it in place when gradients live in a flat buffer).
  void zero_grad();

  /// The parameters as a state dict (the tensors themselves, not copies).
  StateDict state_dict() const { return named_parameters(); }
  /// Copies `sd` into the parameters. strict: every parameter must be present and no extra
  /// names. Shapes must match. Throws InputError naming the tensor otherwise.
  void load_state_dict(const StateDict& sd, bool strict = true);

  /// Puts all parameters in one contiguous buffer and their gradients in another (each
  /// parameter a view), so that an optimizer updates them all in one kernel. Called by the
  /// optimizers; idempotent.
  void flatten_parameters();
  bool parameters_flat() const;

  /// Number of scalar parameters.
  int64_t num_parameters() const;

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, StateDict& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// Prints the module tree as PyTorch does.
std::string describe(const Module& m, int indent = 0);

}  // namespace nn
}  // namespace gpunet
