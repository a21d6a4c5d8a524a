#pragma once
/// nn::Module: named parameters, buffers and submodules (names as PyTorch's state_dict:
/// "conv1.weight", "bn1.running_mean"), device moves, train/eval mode, gradients.
/// Parameters are float32 tensors that train; buffers are state of any dtype that does not
/// (BatchNorm's running_mean, running_var and int64 num_batches_tracked). Both are saved,
/// loaded and moved; only parameters reach optimizers. The flat storage an optimizer lays the
/// parameters out in belongs to its optim::ParamStore, which the module is told about
/// (attach_param_store) so that zero_grad() and to() act on it.
///   auto net = std::make_shared<gpunet::models::LeNet>();
///   net->to(gpunet::Device::best());
///   for (auto& [name, p] : net->named_parameters()) std::cout << name << "\n";
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpunet/state_dict.h"
#include "gpunet/tensor.h"

namespace gpunet {
namespace optim {
class ParamStore;
}
namespace nn {

class OnnxGraph;

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
  /// Buffers of this module and its submodules, in the same order and naming.
  StateDict named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  /// Moves every parameter (and gradient) and every buffer to `device`, in place: tensors
  /// handed out before (to an optimizer) see the move. An attached parameter store moves as a
  /// whole (its optimizer state with it, generation bumped). Returns *this.
  Module& to(Device device);
  /// The device of the first parameter (else the first buffer; the CPU when there is neither).
  Device device() const;
  /// Training mode (the default) or evaluation mode, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears every parameter's gradient: zeroes the flat gradient buffer of an attached
  /// parameter store (one fill), sets the others' to none (PyTorch's default).
  void zero_grad();

  /// Whether a training step through this module can be captured as a CUDA graph and replayed:
  /// true unless the module or a child keeps host-side per-step state (a counter or random
  /// draw made on the host in forward(), which a replay would freeze). Modules with such state
  /// override this to return false.
  virtual bool capturable() const;

  /// ONNX export hook (see nn/onnx_graph.h, io/onnx.h): emits this module's inference-mode
  /// computation on the value `x` into `g` and returns the output value's name. Modules with an
  /// ONNX form override it; this default throws InputError naming the module and its repr()
  /// ("ONNX export: module 'block' (MyOp()) has no ONNX form"), which the CLI prints as one line.
  virtual std::string export_onnx(OnnxGraph& g, const std::string& x) const;

  /// Parameters then buffers, module by module (PyTorch's order: a module's parameters, its
  /// buffers, then its children, recursively). The tensors themselves, not copies.
  StateDict state_dict() const;
  /// Copies `sd` into the parameters and buffers. strict: every one must be present and no
  /// extra names. Shapes and dtypes must match. Throws InputError naming the tensor otherwise
  /// ("tensor 'bn.num_batches_tracked' has dtype float32, expected int64"); checks everything
  /// before copying anything.
  void load_state_dict(const StateDict& sd, bool strict = true);

  /// Tells the module that an optimizer laid its parameters out in `store` (called by the
  /// optimizers; the module keeps a weak reference: the optimizer owns the store).
  void attach_param_store(const std::shared_ptr<optim::ParamStore>& store) { store_ = store; }
  std::shared_ptr<optim::ParamStore> param_store() const { return store_.lock(); }

  /// Number of scalar parameters.
  int64_t num_parameters() const;

 protected:
  /// Registers a float32 parameter (requires_grad set); an undefined tensor (an absent bias)
  /// is skipped by every listing. Returns the stored tensor.
  Tensor& register_parameter(const std::string& name, Tensor t);
  /// Registers a buffer of any dtype: saved, loaded and moved with the module, never trained.
  ///   running_mean = register_buffer("running_mean", Tensor::zeros({C}));
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  enum What { kParams = 1, kBuffers = 2 };
  void collect(const std::string& prefix, int what, StateDict& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::weak_ptr<optim::ParamStore> store_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// Prints the module tree as PyTorch does.
std::string describe(const Module& m, int indent = 0);

}  // namespace nn
}  // namespace gpunet
