#pragma once
// The GPU parity tests' comparison (expect_match: one printed line per case with its error
// measure, threshold and worst element) and poisoning.
//
// Poisoning for the GPU parity tests: a kernel that leaves an output element unwritten must
// fail, not pass on whatever the memory held (often the right answer from a previous run).
//
// Kernel-level tests allocate their outputs poisoned (poisoned_on_gpu). Op-level tests cannot
// reach the outputs an op allocates, so poison_gpu_cache() fills the caching allocator's free
// lists with NaN blocks of the sizes the op is about to ask for: the allocator hands freed blocks
// of the same size class back first, so the op's outputs start as NaN. The test
// CudaPoison.CacheHandsOutPoisonedBlocks checks that this holds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet::test {

// A float32 GPU tensor of `n` NaNs.
inline Tensor poisoned_on_gpu(int64_t n, Device dev = Device::cuda(0)) {
  return Tensor::full({n}, std::nan(""), DType::Float32, dev);
}

// Empties `dev`'s cache, then leaves `copies` freed NaN blocks of each size in `numels` (float32
// elements) in it. Call after uploading the inputs and right before the op under test.
inline void poison_gpu_cache(const std::vector<int64_t>& numels, int copies = 3, Device dev = Device::cuda(0)) {
  memory::empty_cache(dev);
  std::vector<Tensor> hold;
  for (int64_t n : numels)
    for (int c = 0; c < copies; ++c) hold.push_back(poisoned_on_gpu(n > 0 ? n : 1, dev));
  // `hold` is freed here: its NaN blocks go back to the free lists.
}

// The error measure of one output: max over elements of |got - ref| / (atol + rtol * |ref|)
// (threshold 1), or, when atol = rtol = 0, max |got - ref| (threshold 0: bit for bit). An
// element where exactly one side is non-finite, or the infinities differ, counts as +inf; a
// NaN matches a NaN. Prints the case's line and fails when the measure exceeds the threshold.
inline void expect_match(const std::string& what, const std::vector<double>& got, const std::vector<double>& ref,
                         double atol, double rtol) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  const bool exact = atol == 0 && rtol == 0;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], r = ref[i];
    double e;
    if (std::isnan(r) || std::isnan(g))
      e = std::isnan(r) && std::isnan(g) ? 0 : INFINITY;
    else if (std::isinf(r) || std::isinf(g))
      e = g == r ? 0 : INFINITY;
    else
      e = exact ? std::fabs(g - r) : std::fabs(g - r) / (atol + rtol * std::fabs(r));
    if (e > worst || i == 0) {
      worst = e;
      at = i;
    }
  }
  const double threshold = exact ? 0.0 : 1.0;
  char line[512];
  std::snprintf(line, sizeof line, "%-58s %s %.3g (threshold %g; atol %g, rtol %g), worst [%zu]: got %.9g, ref %.9g",
                what.c_str(), exact ? "max |diff|" : "err", worst, threshold, atol, rtol, at,
                got.empty() ? 0.0 : got[at], ref.empty() ? 0.0 : ref[at]);
  std::printf("[ sweep    ] %s\n", line);
  EXPECT_LE(worst, threshold) << line;
}

// A tensor's values on the host, as double (any device, any dtype).
inline std::vector<double> read_back(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::Float64).to_vector<double>();
}

}  // namespace gpunet::test
