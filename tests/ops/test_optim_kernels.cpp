// The optimizer kernels (float32, CPU) against torch.optim.SGD / Adam / AdamW over several
// steps on fixed tensors (tests/golden/ops_optim.json). Same operation order as PyTorch's
// single-tensor path, so the tolerance is tight: atol 1e-6 / rtol 1e-5.
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
    kernels::SgdParams h{cfg["lr"].get<float>(), cfg["momentum"].get<float>(), cfg["dampening"].get<float>(),
                         cfg["weight_decay"].get<float>(), cfg["nesterov"].get<bool>(), true};
    for (size_t step = 0; step < c["params"].size(); ++step) {
      SCOPED_TRACE(step);
      const auto g = golden_floats(fx["grads"][step]);
      h.first_step = step == 0;
      kernels::cpu::sgd_step<float>(p.size(), h, p.data(), g.data(), buf.data());
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
    for (size_t step = 0; step < c["params"].size(); ++step) {
      SCOPED_TRACE(step);
      const auto g = golden_floats(fx["grads"][step]);
      const double t = static_cast<double>(step + 1);
      kernels::AdamParams h{cfg["lr"].get<float>(),
                            static_cast<float>(beta1),
                            static_cast<float>(beta2),
                            cfg["eps"].get<float>(),
                            cfg["weight_decay"].get<float>(),
                            cfg["kind"].get<std::string>() == "adamw",
                            static_cast<float>(1.0 - std::pow(beta1, t)),
                            static_cast<float>(1.0 - std::pow(beta2, t))};
      kernels::cpu::adam_step<float>(p.size(), h, p.data(), g.data(), m.data(), v.data());
      EXPECT_ALL_CLOSE(p, golden_floats(c["params"][step]), 1e-6, 1e-5);
    }
  }
}

TEST(OptimKernels, DoubleTwinAgreesWithFloat) {
  // The double instantiation runs the same rule (checked against the float one).
  std::vector<float> pf{1.0f, -2.0f, 0.5f}, gf{0.1f, 0.2f, -0.3f}, bf(3), mf(3, 0.0f), vf(3, 0.0f);
  std::vector<double> pd(pf.begin(), pf.end()), gd(gf.begin(), gf.end()), bd(3), md(3, 0.0), vd(3, 0.0);
  kernels::SgdParams s{0.1f, 0.9f, 0.0f, 0.01f, true, true};
  kernels::cpu::sgd_step<float>(3, s, pf.data(), gf.data(), bf.data());
  kernels::cpu::sgd_step<double>(3, s, pd.data(), gd.data(), bd.data());
  EXPECT_ALL_CLOSE(pf, pd, 1e-6, 1e-6);
  kernels::AdamParams a{0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, true, 0.1f, 0.001f};
  kernels::cpu::adam_step<float>(3, a, pf.data(), gf.data(), mf.data(), vf.data());
  kernels::cpu::adam_step<double>(3, a, pd.data(), gd.data(), md.data(), vd.data());
  EXPECT_ALL_CLOSE(pf, pd, 1e-6, 1e-5);
}

}  // namespace
}  // namespace gpunet
