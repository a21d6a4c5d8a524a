// The backward engine: the one place that accumulates into .grad.
#include <unordered_map>
#include <unordered_set>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "ops/copy.h"

namespace gpunet::autograd {
namespace {

thread_local bool g_grad_enabled = true;
thread_local LeafReadyHook g_leaf_ready;  // LeafReadyScope

// y += x, in place (y is a leaf's .grad): the engine is the only caller, so the only place
// that accumulates into .grad. The arithmetic is an op (src/ops/copy.cpp), which dispatches to
// the axpy kernel twins on y's device.
void accumulate_into(Tensor& y, const Tensor& x) { ops::detail::accumulate_(y, x); }

}  // namespace

LeafReadyScope::LeafReadyScope(LeafReadyHook hook) : prev_(std::move(g_leaf_ready)) { g_leaf_ready = std::move(hook); }
LeafReadyScope::~LeafReadyScope() { g_leaf_ready = std::move(prev_); }

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

void record(Tensor& out, std::shared_ptr<Node> node, std::initializer_list<const Tensor*> inputs) {
  node->inputs.clear();
  for (const Tensor* t : inputs) {
    if (!t || !t->defined() || !t->requires_grad()) {
      node->inputs.push_back(nullptr);
    } else if (const auto& fn = t->impl().grad_fn) {
      // A non-leaf: the backward pass needs only its grad_fn, so the edge is a TensorImpl without
      // storage. Holding the input itself kept every intermediate of the forward pass alive
      // until backward (airbench94 at batch 1024: each conv output before its max-pool, 0.5 GB).
      auto edge = std::make_shared<TensorImpl>();
      edge->dtype = t->dtype();
      edge->requires_grad = true;
      edge->grad_fn = fn;
      node->inputs.push_back(std::move(edge));
    } else {
      node->inputs.push_back(t->impl_ptr());  // a leaf: the engine accumulates into its .grad
    }
  }
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
}

void backward(const Tensor& root, const Tensor& grad) {
  GPUNET_CHECK(root.requires_grad(),
               "backward: the tensor does not require grad and has no grad_fn (was it computed under NoGradGuard, "
               "or from tensors that do not require grad?)");
  Tensor seed = grad;
  if (!seed.defined()) {
    GPUNET_CHECK(root.numel() == 1, "backward: grad can be implicitly created only for scalar outputs; this tensor has shape ",
                 shape_str(root.shape()), ", pass a gradient of that shape");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  } else {
    GPUNET_CHECK(seed.shape() == root.shape(), "backward: gradient shape ", shape_str(seed.shape()),
                 " does not match the tensor's ", shape_str(root.shape()));
    check_same_device("backward", root, seed);
  }

  if (!root.grad_fn()) {  // a leaf: accumulate directly
    Tensor r = root;
    Tensor g = r.grad();
    if (g.defined()) accumulate_into(g, seed);
    else r.set_grad(seed.clone());
    return;
  }

  // Topological order of the nodes reachable from root (iterative DFS, post-order).
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, i] = stack.back();
    if (node->released)
      throw Error(detail::cat("backward: trying to backward through the graph a second time (", node->name(),
                              "'s saved tensors were freed after the first backward); compute the loss again"));
    if (i < node->inputs.size()) {
      auto& in = node->inputs[i++];
      if (in && in->grad_fn && !seen.count(in->grad_fn.get())) {
        seen.insert(in->grad_fn.get());
        stack.push_back({in->grad_fn.get(), 0});
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // With a LeafReadyHook: how many edges into each leaf are still to run; 0 = its grad is final.
  std::unordered_map<const TensorImpl*, int> leaf_pending;
  if (g_leaf_ready)
    for (Node* node : order)
      for (auto& in : node->inputs)
        if (in && !in->grad_fn && in->requires_grad) ++leaf_pending[in.get()];
  auto leaves_done = [&](Node* node) {
    if (!g_leaf_ready) return;
    for (auto& in : node->inputs)
      if (in && !in->grad_fn && in->requires_grad && --leaf_pending[in.get()] == 0) g_leaf_ready(in.get());
  };

  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end()) {
      leaves_done(node);
      continue;
    }
    Tensor g_out = found->second;
    grads.erase(found);
    std::vector<Tensor> g_in;
    {
      NoGradGuard no_grad;  // backward formulas record nothing
      g_in = node->apply(g_out);
    }
    GPUNET_CHECK(g_in.size() == node->inputs.size(), node->name(), " backward returned ", g_in.size(),
                 " gradients for ", node->inputs.size(), " inputs");
    for (size_t k = 0; k < g_in.size(); ++k) {
      auto& in = node->inputs[k];
      if (!in || !g_in[k].defined()) continue;
      if (in->grad_fn) {
        auto slot = grads.find(in->grad_fn.get());
        if (slot == grads.end()) {
          grads.emplace(in->grad_fn.get(), g_in[k]);
        } else {
          NoGradGuard no_grad;
          slot->second = ops::add(slot->second, g_in[k]);
        }
      } else if (in->requires_grad) {
        if (in->grad) {
          Tensor acc(in->grad);
          accumulate_into(acc, g_in[k]);
        } else {
          Tensor fresh = g_in[k].contiguous();
          // Own the memory: the gradient a node returns may alias a tensor it still uses.
          in->grad = fresh.clone().reshape(in->shape).impl_ptr();
        }
      }
    }
    node->release();
    node->released = true;
    leaves_done(node);
  }
}

}  // namespace gpunet::autograd
