// The GPU parity tests' comparison (tests/ops/cuda_check.h) cannot be fooled: an element left
// NaN by a kernel, a finite value where an infinity is expected, and a 1-ulp difference in a
// bit-for-bit case all fail; values within the tolerance pass. Runs on every build (no GPU).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ops/cuda_check.h"

namespace gpunet {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(CudaCheck, AnUnwrittenPoisonedElementFails) {
  EXPECT_NONFATAL_FAILURE(test::expect_match("poisoned", {1.0, kNaN, 3.0}, {1.0, 2.0, 3.0}, 1e-3, 1e-3), "worst [1]");
}

TEST(CudaCheck, NonFiniteExpectedValuesAreComparedExactly) {
  EXPECT_NONFATAL_FAILURE(test::expect_match("inf", {1.0, 1e30}, {1.0, kInf}, 1e-3, 1e-3), "worst [1]");
  EXPECT_NONFATAL_FAILURE(test::expect_match("-inf", {-kInf}, {kInf}, 1e-3, 1e-3), "worst [0]");
  EXPECT_NONFATAL_FAILURE(test::expect_match("nan", {0.0}, {kNaN}, 1e-3, 1e-3), "worst [0]");
  test::expect_match("matching non-finite", {kNaN, kInf, -kInf}, {kNaN, kInf, -kInf}, 1e-3, 1e-3);
}

TEST(CudaCheck, BitForBitCasesCatchOneUlp) {
  const float one = 1.0f, next = std::nextafter(1.0f, 2.0f);
  EXPECT_NONFATAL_FAILURE(test::expect_match("1 ulp", {double(next)}, {double(one)}, 0, 0), "threshold 0");
  test::expect_match("equal", {double(one)}, {double(one)}, 0, 0);
}

TEST(CudaCheck, WithinToleranceItPassesBeyondItFails) {
  // |diff| <= atol + rtol * |ref| passes (numpy.allclose); just beyond fails.
  test::expect_match("within", {1.0 + 0.9e-3}, {1.0}, 0.5e-3, 0.5e-3);
  EXPECT_NONFATAL_FAILURE(test::expect_match("beyond", {1.0 + 1.1e-3}, {1.0}, 0.5e-3, 0.5e-3), "err");
}

}  // namespace
}  // namespace gpunet
