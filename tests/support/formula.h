#pragma once
// Deterministic values both gpunet's tests and the PyTorch fixture scripts compute from a formula
// (tools/gen_resnet18_fixture.py: u), so a fixture need not carry the weights it was made with.
#include <cstdint>
#include <vector>

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

}  // namespace gpunet::test
