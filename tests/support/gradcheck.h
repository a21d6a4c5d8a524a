#pragma once
// Finite-difference gradients for checking backward kernels (run them with T = double).
//   std::vector<double> x = ...;
//   auto loss = [&] { forward(x, out); return dot(out, weights); };   // a scalar of x
//   auto num = gpunet::test::numeric_grad(loss, x);                     // central differences
//   EXPECT_ALL_CLOSE(analytic, num, 1e-7, 1e-6);
#include <cstdint>
#include <functional>
#include <vector>

namespace gpunet::test {

/// d f / d x[i] by central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).
/// x is perturbed in place and restored exactly.
std::vector<double> numeric_grad(const std::function<double()>& f, std::vector<double>& x, double eps = 1e-6);

/// sum_i a[i] * b[i]: turns a tensor output into a scalar with fixed random upstream weights.
double dot(const std::vector<double>& a, const std::vector<double>& b);

/// n values uniform in [lo, hi) from a fixed-seed generator (deterministic across runs).
std::vector<double> random_vector(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);

}  // namespace gpunet::test
