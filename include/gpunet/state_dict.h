#pragma once
/// A state dict: named tensors in a fixed order, with PyTorch's state_dict names
/// ("conv1.weight", "fc3.bias"). nn::Module::state_dict() returns one whose tensors share
/// storage with the parameters; Module::load_state_dict() and io::load_weights() copy into them.
///   gpunet::StateDict sd = net.state_dict();
///   for (auto& [name, t] : sd) std::cout << name << " " << gpunet::shape_str(t.shape()) << "\n";
#include <string>
#include <utility>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

/// The tensor called `name`, or nullptr when there is none (a linear search: state dicts are small).
inline const Tensor* state_dict_find(const StateDict& sd, const std::string& name) {
  for (const auto& [n, t] : sd)
    if (n == name) return &t;
  return nullptr;
}

}  // namespace gpunet
