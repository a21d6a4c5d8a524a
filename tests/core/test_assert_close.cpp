// Self-test of tests/support/assert_close: the check every other test relies on. In particular
// an expected infinity accepts only the same infinity (inf/inf gave NaN, and NaN > 1 is false,
// so the old check accepted any value there), and NaN only NaN.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/assert_close.h"

namespace gpunet::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool close(double actual, double expected, double atol = 1e-5, double rtol = 1e-4) {
  return static_cast<bool>(all_close(std::vector<double>{actual}, std::vector<double>{expected}, atol, rtol));
}

TEST(AssertClose, ExpectedInfinityAcceptsOnlyTheSameInfinity) {
  EXPECT_TRUE(close(kInf, kInf));
  EXPECT_TRUE(close(-kInf, -kInf));
  EXPECT_FALSE(close(1.0, kInf));
  EXPECT_FALSE(close(1e300, kInf));
  EXPECT_FALSE(close(-kInf, kInf));
  EXPECT_FALSE(close(kInf, -kInf));
  EXPECT_FALSE(close(kNaN, kInf));
  EXPECT_FALSE(close(0.0, -kInf, 1.0, 1.0));  // no tolerance makes an infinity close
}

TEST(AssertClose, InfinityWhereAFiniteValueIsExpectedFails) {
  EXPECT_FALSE(close(kInf, 1.0));
  EXPECT_FALSE(close(-kInf, 0.0, 1e300, 1.0));
}

TEST(AssertClose, NaNMatchesOnlyNaN) {
  EXPECT_TRUE(close(kNaN, kNaN));
  EXPECT_FALSE(close(1.0, kNaN));
  EXPECT_FALSE(close(kInf, kNaN));
  EXPECT_FALSE(close(kNaN, 1.0));
}

TEST(AssertClose, FiniteValuesUseAtolPlusRtol) {
  EXPECT_TRUE(close(1.0, 1.0, 0.0, 0.0));    // exact, with no tolerance at all
  EXPECT_FALSE(close(1.0 + 1e-12, 1.0, 0.0, 0.0));
  EXPECT_TRUE(close(100.5, 100.0, 0.0, 0.01));  // 0.5 <= 0.01 * 100
  EXPECT_FALSE(close(101.5, 100.0, 0.0, 0.01));
  EXPECT_TRUE(close(0.05, 0.0, 0.1, 0.0));
  EXPECT_FALSE(close(0.2, 0.0, 0.1, 0.0));
}

TEST(AssertClose, FailureNamesTheWorstElement) {
  const auto r = all_close(std::vector<double>{1.0, 2.0, 5.0}, std::vector<double>{1.0, kInf, 5.0}, 1e-5, 1e-4);
  ASSERT_FALSE(r);
  const std::string msg = r.message();
  EXPECT_NE(msg.find("1 of 3 elements differ"), std::string::npos) << msg;
  EXPECT_NE(msg.find("worst element [1]"), std::string::npos) << msg;
}

TEST(AssertClose, MacrosReportAMismatchedInfinityAsATestFailure) {
  // The macros every test uses, seen from gtest: a finite value where +inf is expected fails.
  EXPECT_NONFATAL_FAILURE(EXPECT_ALL_CLOSE(std::vector<float>{3.0f}, std::vector<float>{INFINITY}, 1e-5, 1e-4),
                          "1 of 1 elements differ");
  EXPECT_NONFATAL_FAILURE(EXPECT_ALL_CLOSE(std::vector<double>{-INFINITY}, std::vector<double>{INFINITY}, 1e-5, 1e-4),
                          "elements differ");
}

}  // namespace
}  // namespace gpunet::test
