#include "support/gradcheck.h"

#include <random>

namespace gpunet::test {

std::vector<double> numeric_grad(const std::function<double()>& f, std::vector<double>& x, double eps) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double fp = f();
    x[i] = saved - eps;
    const double fm = f();
    x[i] = saved;
    g[i] = (fp - fm) / (2.0 * eps);
  }
  return g;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> random_vector(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace gpunet::test
