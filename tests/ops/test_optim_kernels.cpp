// The optimizer kernels (float32, CPU) against torch.optim.SGD / Adam / AdamW over several
// steps on fixed tensors (tests/golden/ops_optim.json). Same operation order as PyTorch's
// single-tensor path, so the tolerance is tight: atol 1e-6 / rtol 1e-5. The per-step scalars
// (lr, step count, bias corrections) are read from memory laid out as kernels/optim.h says, and
// advanced by the kernels that the optimizers queue after (bias corrections) and before (count).
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/optim.h"
#include "support/assert_close.h"
#include "support/golden.h"

namespace gpunet {
namespace {

using test::golden_floats;

TEST(OptimKernels, SgdMatchesTorch) {
  const auto fx = test::load_golden("ops_optim.json").at("cases").at("optim");
  const auto p0 = golden_floats(fx["p0"]);
  for (const auto& c : fx["sgd"]) {
    const auto& cfg = c["config"];
    SCOPED_TRACE(cfg.dump());
    std::vector<float> p = p0, buf(p0.size());
    test::poison(buf);  // the first step must initialise the buffer, not read it
    const kernels::SgdParams h{cfg["momentum"].get<float>(), cfg["dampening"].get<float>(),
                               cfg["weight_decay"].get<float>(), cfg["nesterov"].get<bool>()};
    double scalars[4] = {0.0, cfg["lr"].get<double>(), 1.0, 1.0};  // steps, group 0: lr, bc1, bc2
    for (size_t step = 0; step < c["params"].size(); ++step) {
      SCOPED_TRACE(step);
      const auto g = golden_floats(fx["grads"][step]);
      kernels::cpu::sgd_step<float>(p.size(), h, scalars + kernels::group_scalars_offset(0), scalars, p.data(), g.data(),
                                    buf.data());
      kernels::cpu::optim_count_step(scalars);
      EXPECT_EQ(scalars[0], static_cast<double>(step + 1));
      EXPECT_ALL_CLOSE(p, golden_floats(c["params"][step]), 1e-6, 1e-5);
    }
  }
}

TEST(OptimKernels, AdamAndAdamWMatchTorch) {
  const auto fx = test::load_golden("ops_optim.json").at("cases").at("optim");
  const auto p0 = golden_floats(fx["p0"]);
  for (const auto& c : fx["adam"]) {
    const auto& cfg = c["config"];
    SCOPED_TRACE(cfg.dump());
    std::vector<float> p = p0, m(p0.size(), 0.0f), v(p0.size(), 0.0f);
    const double beta1 = cfg["beta1"].get<double>(), beta2 = cfg["beta2"].get<double>();
    const kernels::AdamParams h{static_cast<float>(beta1), static_cast<float>(beta2), cfg["eps"].get<float>(),
                                cfg["weight_decay"].get<float>(), cfg["kind"].get<std::string>() == "adamw"};
    double scalars[4] = {0.0, cfg["lr"].get<double>(), -1.0, -1.0};  // bias corrections written per step
    double* group = scalars + kernels::group_scalars_offset(0);
    for (size_t step = 0; step < c["params"].size(); ++step) {
      SCOPED_TRACE(step);
      const auto g = golden_floats(fx["grads"][step]);
      const double t = static_cast<double>(step + 1);
      kernels::cpu::adam_bias_corrections(beta1, beta2, scalars, group);
      EXPECT_EQ(group[1], 1.0 - std::pow(beta1, t));
      EXPECT_EQ(group[2], 1.0 - std::pow(beta2, t));
      kernels::cpu::adam_step<float>(p.size(), h, group, p.data(), g.data(), m.data(), v.data());
      kernels::cpu::optim_count_step(scalars);
      EXPECT_ALL_CLOSE(p, golden_floats(c["params"][step]), 1e-6, 1e-5);
    }
  }
}

TEST(OptimKernels, DoubleTwinAgreesWithFloat) {
  // The double instantiation runs the same rule (checked against the float one).
  std::vector<float> pf{1.0f, -2.0f, 0.5f}, gf{0.1f, 0.2f, -0.3f}, bf(3), mf(3, 0.0f), vf(3, 0.0f);
  std::vector<double> pd(pf.begin(), pf.end()), gd(gf.begin(), gf.end()), bd(3), md(3, 0.0), vd(3, 0.0);
  const kernels::SgdParams s{0.9f, 0.0f, 0.01f, true};
  const double sgd_group[3] = {static_cast<double>(0.1f), 1.0, 1.0}, first = 0.0;
  kernels::cpu::sgd_step<float>(3, s, sgd_group, &first, pf.data(), gf.data(), bf.data());
  kernels::cpu::sgd_step<double>(3, s, sgd_group, &first, pd.data(), gd.data(), bd.data());
  EXPECT_ALL_CLOSE(pf, pd, 1e-6, 1e-6);
  const kernels::AdamParams a{0.9f, 0.999f, 1e-8f, 0.01f, true};
  const double adam_group[3] = {static_cast<double>(0.01f), 0.1, 0.001};
  kernels::cpu::adam_step<float>(3, a, adam_group, pf.data(), gf.data(), mf.data(), vf.data());
  kernels::cpu::adam_step<double>(3, a, adam_group, pd.data(), gd.data(), md.data(), vd.data());
  EXPECT_ALL_CLOSE(pf, pd, 1e-6, 1e-5);
}

}  // namespace
}  // namespace gpunet
