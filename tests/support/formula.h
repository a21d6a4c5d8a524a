#pragma once
// Deterministic values both gpunet's tests and the PyTorch fixture scripts compute from a formula
// (tools/gen_resnet18_fixture.py: u, fill), so a fixture need not carry the weights it was made with.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/nn/module.h"
#include "gpunet/random.h"

namespace gpunet::test {

/// u(k, i) = (mix64(mix64(k) ^ i) >> 11) * 2^-52 - 1, uniform in [-1, 1), for i in [0, n).
inline std::vector<double> formula_u(uint64_t k, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  const uint64_t hk = mix64(k);
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = static_cast<double>(mix64(hk ^ static_cast<uint64_t>(i)) >> 11) * 0x1p-52 - 1.0;
  return v;
}

/// The fixture scripts' fill of a state_dict (gen_resnet18_fixture.py: fill): tensor k, in order,
/// gets u(k, .) scaled by sqrt(3 / fan_in) (dim > 1), 0.5 + u^2 (running_var), 1 + 0.2 u (other
/// weights), 0.1 u (the rest); int64 tensors get k.
inline void fill_state_by_formula(nn::Module& m) {
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  NoGradGuard g;
  int k = 0;
  for (auto& [name, t] : m.state_dict()) {
    if (t.dtype() == DType::Int64) {
      Tensor(t).fill_(static_cast<double>(k++));
      continue;
    }
    const std::vector<double> u = formula_u(static_cast<uint64_t>(k++), t.numel());
    std::vector<float> v(u.size());
    for (size_t i = 0; i < u.size(); ++i) {
      double x = u[i];
      if (t.dim() > 1) x *= std::sqrt(3.0 / static_cast<double>(t.numel() / t.size(0)));
      else if (ends_with(name, "running_var")) x = 0.5 + x * x;
      else if (ends_with(name, "weight")) x = 1 + 0.2 * x;
      else x = 0.1 * x;
      v[i] = static_cast<float>(x);
    }
    Tensor(t).copy_(Tensor::from_vector(v, t.shape()));
  }
}

}  // namespace gpunet::test
