#include "support/assert_close.h"

#include <cmath>
#include <sstream>

namespace gpunet::test {

::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                     double atol, double rtol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size mismatch: actual has " << actual.size() << " elements, expected "
                                         << expected.size();
  size_t bad = 0, worst = 0;
  double worst_ratio = -1.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    // ratio: |diff| / allowed; 0 for an exact match, INFINITY for a mismatch of non-finite values.
    double ratio;
    if (std::isnan(e) || std::isnan(a)) {
      ratio = (std::isnan(e) && std::isnan(a)) ? 0.0 : INFINITY;  // NaN matches NaN only
    } else if (std::isinf(e) || std::isinf(a)) {
      ratio = a == e ? 0.0 : INFINITY;  // inf matches the same infinity only (no tolerance)
    } else {
      const double diff = std::fabs(a - e), allowed = atol + rtol * std::fabs(e);
      ratio = diff == 0.0 ? 0.0 : diff / allowed;  // diff > 0 with allowed == 0 gives INFINITY
    }
    if (ratio > 1.0) ++bad;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  std::ostringstream os;
  os.precision(9);
  if (!actual.empty())
    os << "worst element [" << worst << "]: actual " << actual[worst] << ", expected " << expected[worst]
       << ", |diff| " << std::fabs(actual[worst] - expected[worst]) << ", allowed "
       << atol + rtol * std::fabs(expected[worst]) << " (atol " << atol << ", rtol " << rtol << ")";
  if (bad == 0) return ::testing::AssertionSuccess() << os.str();
  return ::testing::AssertionFailure() << bad << " of " << actual.size() << " elements differ; " << os.str();
}

::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected, double atol,
                                     double rtol) {
  return all_close(std::vector<double>(actual.begin(), actual.end()),
                   std::vector<double>(expected.begin(), expected.end()), atol, rtol);
}

::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<double>& expected,
                                     double atol, double rtol) {
  return all_close(std::vector<double>(actual.begin(), actual.end()), expected, atol, rtol);
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << "undefined tensor (actual " << actual.defined() << ", expected "
                                         << expected.defined() << ")";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape mismatch: actual " << shape_str(actual.shape()) << ", expected "
                                         << shape_str(expected.shape());
  return all_close(actual.to_vector<double>(), expected.to_vector<double>(), atol, rtol);
}

}  // namespace gpunet::test
