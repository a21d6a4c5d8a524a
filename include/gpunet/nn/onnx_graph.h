#pragma once
/// nn::OnnxGraph: what a module's ONNX export hook (Module::export_onnx) writes into. Each module
/// that has an ONNX form emits the nodes of its inference-mode computation; the graph names its
/// parameters and buffers by their state_dict keys. This header knows nothing of protobuf: the
/// one implementation (src/io/onnx_export.cpp) turns the calls into an onnx::GraphProto.
///
/// A hook receives the name of its input value and returns the name of its output value:
///   std::string Conv2d::export_onnx(OnnxGraph& g, const std::string& x) const {
///     return g.node("Conv", {x, g.tensor("weight")}, {{"kernel_shape", std::vector<int64_t>{5, 5}}});
///   }
/// A composite module hands each child its input through child(), which sets the scope the
/// child's tensor() names resolve in ("layer1.0." + "conv1." + "weight").
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace gpunet::nn {

class Module;

/// One attribute of an ONNX node: an int, a float, a list of ints or a string.
struct OnnxAttr {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>, std::string> value;
};

class OnnxGraph {
 public:
  virtual ~OnnxGraph() = default;

  /// Adds a node of the default ONNX domain, `op_type` ("Conv"), reading `inputs` (value names;
  /// "" for an absent optional input). Returns the name of its single output.
  virtual std::string node(const std::string& op_type, const std::vector<std::string>& inputs,
                           const std::vector<OnnxAttr>& attrs = {}) = 0;
  /// A float32 scalar constant (a Constant node, not an initializer: the initializers are exactly
  /// the state_dict). Returns its value name.
  virtual std::string scalar(float value) = 0;
  /// The value name of the current module's parameter or buffer `local` ("weight"): its
  /// state_dict key under the current scope ("layer1.0.conv1.weight"), stored as an initializer.
  /// Throws Error when the exported model has no such tensor (a hook naming a wrong child).
  virtual std::string tensor(const std::string& local) = 0;

  /// Emits the child module `m`, registered in the current module as `name`, on input `x`:
  /// m.export_onnx(*this, x) with the scope extended by "name.". Returns the child's output.
  std::string child(const std::string& name, const Module& m, const std::string& x);
  /// The current scope without its trailing dot ("layer1.0"), "" at the top: for messages.
  std::string where() const { return scope_.empty() ? std::string() : scope_.substr(0, scope_.size() - 1); }
  /// The current scope with its trailing dot ("layer1.0."), "" at the top.
  const std::string& scope() const { return scope_; }

  // ---- the functional ops models call between their modules (each one node or a few) ----
  std::string relu(const std::string& x) { return node("Relu", {x}); }
  /// GELU, exact ("none": 0.5 x (1 + erf(x / sqrt 2)), written with Erf: Gelu itself is opset
  /// 20) or "tanh" (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))).
  std::string gelu(const std::string& x, const std::string& approximate = "none");
  std::string silu(const std::string& x) { return node("Mul", {x, node("Sigmoid", {x})}); }
  /// MaxPool, as ops::max_pool2d (stride 0: the kernel size).
  std::string max_pool2d(const std::string& x, int kernel, int stride = 0, int padding = 0, bool ceil_mode = false);
  /// ops::flatten(x, 1): [N, ...] -> [N, rest].
  std::string flatten(const std::string& x) { return node("Flatten", {x}, {{"axis", int64_t{1}}}); }
  std::string add(const std::string& a, const std::string& b) { return node("Add", {a, b}); }
  std::string mul(const std::string& x, float factor) { return node("Mul", {x, scalar(factor)}); }

 private:
  std::string scope_;
};

}  // namespace gpunet::nn
