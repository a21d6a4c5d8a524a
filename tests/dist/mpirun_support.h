#pragma once
// Helpers of the `mpirun ... gpunet train` tests (test_mpirun.cpp, test_netns.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cli/cli_run.h"
#include "gpunet/config.h"
#include "gpunet/io/safetensors.h"

namespace gpunet::disttest {

using clitest::sh_quote;

#define SKIP_WITHOUT_MPI()                                                                     \
  do {                                                                                         \
    if (!GPUNET_HAVE_MPI) GTEST_SKIP() << "this build has no MPI (-DGPUNET_MPI=OFF or not found)"; \
    if (std::string(GPUNET_TEST_MPIEXEC).empty() || std::string(GPUNET_TEST_MPIEXEC).find("NOTFOUND") != std::string::npos) GTEST_SKIP() << "no mpirun found at configure time"; \
  } while (0)

inline std::string mpirun_prefix(int np) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none "
         "timeout -k 5 150 " + sh_quote(GPUNET_TEST_MPIEXEC) + " --oversubscribe --bind-to none -np " + std::to_string(np) + " ";
}
inline std::string cli() { return sh_quote(GPUNET_CLI_PATH); }
// A short LeNet run on the embedded sample, on the CPU, 1 thread a process.
inline std::string train_args(int64_t batch, int64_t steps, bool shuffle) {
  return " train --device cpu --threads 1 --quiet --lr 0.01 --log-every 1000000 --batch-size " + std::to_string(batch) +
         " --max-steps " + std::to_string(steps) + (shuffle ? "" : " --no-shuffle");
}

// Largest |a - b| / max|b| over every tensor of two weight files: each element's difference
// relative to its tensor's scale. (Relative to the element itself, with a floor of 1e-3 of the
// scale, a weight near zero measured float32 noise: 30 LeNet steps of 4 x 4 against 1 x 16 gave
// 1.1e-5 at fc2.bias[77] in the ASan build, 3.7e-6 in the release build, the same arithmetic
// compiled differently.)
inline double max_rel_diff(const std::string& a, const std::string& b, std::string* where) {
  const auto fa = io::load_safetensors(a), fb = io::load_safetensors(b);
  EXPECT_EQ(fa.tensors.size(), fb.tensors.size());
  double worst = 0;
  for (size_t i = 0; i < fa.tensors.size() && i < fb.tensors.size(); ++i) {
    const auto& [name, ta] = fa.tensors[i];
    const Tensor& tb = fb.tensors[i].second;
    if (ta.dtype() != DType::Float32) continue;
    const auto va = ta.to_vector<float>(), vb = tb.to_vector<float>();
    double scale = 1e-30;
    for (float v : vb) scale = std::max(scale, double(std::fabs(v)));
    for (size_t k = 0; k < va.size(); ++k) {
      const double d = std::fabs(double(va[k]) - vb[k]) / scale;
      if (d > worst) {
        worst = d;
        *where = name + "[" + std::to_string(k) + "]";
      }
    }
  }
  return worst;
}

}  // namespace gpunet::disttest
