#pragma once
// Shared test helpers: closeness checks that report the worst element.
//   EXPECT_ALL_CLOSE(out.to_vector<float>(), expected, 1e-5, 1e-4);
// An element passes when |actual - expected| <= atol + rtol * |expected| (numpy.allclose).
// Non-finite values are compared exactly: NaN passes only against NaN, +inf only against
// +inf, -inf only against -inf (no tolerance applies; tested in tests/core/test_assert_close.cpp).
// On failure the message names the count of bad elements and the worst one (index, actual,
// expected, |diff|, allowed).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet::test {

::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                     double atol, double rtol);
::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected, double atol,
                                     double rtol);
::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<double>& expected,
                                     double atol, double rtol);
/// Compares shapes first, then values (any devices/dtypes: both are read back as double).
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol);

/// Fills `v` with a poison value (NaN) so a kernel that forgets to write an element fails loudly.
template <typename T>
void poison(std::vector<T>& v) {
  for (auto& x : v) x = std::numeric_limits<T>::quiet_NaN();
}

}  // namespace gpunet::test

// EXPECT_ALL_CLOSE(actual, expected, atol, rtol); variadic so braced initialisers pass through.
#define EXPECT_ALL_CLOSE(...) EXPECT_TRUE(::gpunet::test::all_close(__VA_ARGS__))
#define ASSERT_ALL_CLOSE(...) ASSERT_TRUE(::gpunet::test::all_close(__VA_ARGS__))
