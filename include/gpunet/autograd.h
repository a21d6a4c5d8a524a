#pragma once
/// Reverse-mode autograd over a dynamic graph. Ops record a Node on their output when any
/// input requires grad (and grad mode is on); `loss.backward()` walks the graph once, in
/// reverse topological order, and accumulates into the leaves' `.grad()`. The engine is the
/// only place that accumulates; kernels write fresh gradients. The graph's saved tensors are
/// released after backward: a second backward through it throws.
///   { gpunet::NoGradGuard g; auto out = net.forward(x); }   // evaluation: no graph
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet {
namespace autograd {

struct Node {
  virtual ~Node() = default;
  /// The op's name, for error messages ("conv2d").
  virtual const char* name() const = 0;
  /// Gradients for each of `inputs` (an undefined Tensor where none is needed), given the
  /// gradient of the output. Called once.
  virtual std::vector<Tensor> apply(const Tensor& grad_out) = 0;
  /// Drops saved tensors (after backward).
  virtual void release() {}

  /// The op's inputs, in the order apply() returns their gradients; null where an input
  /// does not require grad.
  std::vector<std::shared_ptr<TensorImpl>> inputs;
  bool released = false;
};

/// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();
void set_grad_enabled(bool on);

/// True when an op with these inputs must record a node.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

/// Sets node->inputs from `inputs` and attaches the node to `out` (which then requires grad).
void record(Tensor& out, std::shared_ptr<Node> node, std::initializer_list<const Tensor*> inputs);

/// Called by backward() on this thread once a leaf's gradient for the pass is complete: every
/// node of the graph that feeds the leaf has run and accumulated into its .grad. Leaves the graph
/// does not reach are not reported. Data parallel training starts a bucket's all-reduce here,
/// while backward still runs for the earlier layers (DDP's autograd hooks).
using LeafReadyHook = std::function<void(const TensorImpl* leaf)>;
/// Installs `hook` for this thread's backward passes while alive (the previous one comes back).
///   autograd::LeafReadyScope scope([&](const TensorImpl* p) { mark_ready(p); });
class LeafReadyScope {
 public:
  explicit LeafReadyScope(LeafReadyHook hook);
  ~LeafReadyScope();
  LeafReadyScope(const LeafReadyScope&) = delete;
  LeafReadyScope& operator=(const LeafReadyScope&) = delete;

 private:
  LeafReadyHook prev_;
};

/// Runs the backward pass from `root` seeded with `grad` (ones when undefined and root has one element).
void backward(const Tensor& root, const Tensor& grad);

}  // namespace autograd

/// Disables graph recording on this thread while alive (torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(autograd::grad_enabled()) { autograd::set_grad_enabled(false); }
  ~NoGradGuard() { autograd::set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace gpunet
