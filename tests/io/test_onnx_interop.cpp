// gpunet's ONNX files in onnxruntime: for LeNet, airbench94 and ResNet-18 (formula weights, so
// BN's statistics are not the defaults), exported with a fixed and with a dynamic batch, onnx's
// checker (full_check=True) accepts the file and onnxruntime's logits on the embedded sample's
// test images equal gpunet's forward() within 1e-4 relative, with the same predictions
// (tools/check_onnx_runtime.py). Skipped when $GPUNET_TORCH_PYTHON (else python3) lacks onnx,
// onnxruntime, numpy or safetensors.
#include <gtest/gtest.h>

#include <iostream>

#include "gpunet/autograd.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/io/onnx.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/models/registry.h"
#include "gpunet/ops.h"
#include "io_test_util.h"
#include "support/formula.h"
#include "support/run_command.h"

namespace gpunet::io {
namespace {

using test::run_command;
using test::torch_python;
using testing::TempDir;

#define SKIP_WITHOUT_ONNXRUNTIME()                                                                            \
  do {                                                                                                        \
    auto [rc, out] = run_command(torch_python() + " -c 'import onnx, onnxruntime, numpy, safetensors'");      \
    if (rc != 0)                                                                                              \
      GTEST_SKIP() << "no Python with onnx, onnxruntime, numpy and safetensors (set GPUNET_TORCH_PYTHON): " \
                   << out;                                                                                    \
  } while (0)

std::string script() { return std::string(GPUNET_SOURCE_DIR) + "/tools/check_onnx_runtime.py"; }

// The first `n` test images of the embedded sample, normalised as the tutorial's transform does.
Tensor test_images(int64_t n) {
  const data::Cifar10 test(data::sample_dir(), data::Split::Test);
  n = std::min(n, test.size());
  std::vector<float> x(static_cast<size_t>(n * test.record_bytes()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = (test.images[i] / 255.f - 0.5f) / 0.5f;
  return Tensor::from_vector(x, {n, test.c, test.h, test.w});
}

// Writes data.safetensors ({input, logits: forward in eval mode}) and the model exported with a
// fixed and with a dynamic batch; returns the script's arguments.
std::string prepare(nn::Module& net, int64_t n, const TempDir& dir, const std::string& name, float perturb = 0) {
  const Tensor x = test_images(n);
  net.eval();
  Tensor logits;
  {
    NoGradGuard g;
    logits = net(x);
  }
  if (perturb != 0) logits = ops::mul(logits, 1.0 + perturb);
  save_safetensors(dir.file("data.safetensors"), {{"input", x}, {"logits", logits}});
  export_onnx(net, dir.file(name + "_fixed.onnx"), {.batch = x.size(0)});
  export_onnx(net, dir.file(name + "_dynamic.onnx"));
  return dir.file("data.safetensors") + " " + dir.file(name + "_fixed.onnx") + " " + dir.file(name + "_dynamic.onnx");
}

struct Case {
  std::string model;
  int64_t images;  // fewer for the big nets: the suite runs on two CPU cores
};

class OnnxRuntimeInterop : public ::testing::TestWithParam<Case> {};

TEST_P(OnnxRuntimeInterop, LogitsEqualGpunetsForward) {
  SKIP_WITHOUT_ONNXRUNTIME();
  const Case c = GetParam();
  TempDir dir;
  Generator gen(3);
  auto net = models::make_model(c.model, gen);
  test::fill_state_by_formula(*net);
  auto [rc, out] = run_command(torch_python() + " " + script() + " " + prepare(*net, c.images, dir, c.model));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("OK: " + dir.file(c.model + "_fixed.onnx") + ": batch " + std::to_string(c.images)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("OK: " + dir.file(c.model + "_dynamic.onnx") + ": dynamic batch 'N'"), std::string::npos) << out;
  std::cout << "[          ] " << out;
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxRuntimeInterop,
                         ::testing::Values(Case{"lenet", 500}, Case{"airbench94", 64}, Case{"resnet18", 16}),
                         [](const auto& info) { return info.param.model; });

// The check can fail: logits off by 1e-3 relative are refused, naming the worst element.
TEST(OnnxRuntimeInteropCheck, RejectsLogitsOffBy1e3) {
  SKIP_WITHOUT_ONNXRUNTIME();
  TempDir dir;
  Generator gen(3);
  auto net = models::make_model("lenet", gen);
  test::fill_state_by_formula(*net);
  auto [rc, out] = run_command(torch_python() + " " + script() + " " + prepare(*net, 50, dir, "lenet", 1e-3f));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_EQ(out.rfind("FAIL: ValueError: " + dir.file("lenet_fixed.onnx") + ": worst relative error", 0), 0u) << out;
}

}  // namespace
}  // namespace gpunet::io
