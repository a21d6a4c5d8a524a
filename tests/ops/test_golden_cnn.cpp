// The CNN ops of issue 12 (float32, CPU) through their front ends and autograd against PyTorch
// fixtures from tools/gen_golden.py: batch_norm2d (three training steps with running statistics,
// eval, no affine, no running statistics), gelu/silu, max/avg/adaptive pooling with padding and
// ceil_mode, cross_entropy with label smoothing and every reduction, broadcasting binary ops.
// Tolerances atol 1e-5 / rtol 1e-4 (float32 sums in another order) unless a comment says why;
// a failure names the worst element.
#include <gtest/gtest.h>

#include "gpunet/autograd.h"
#include "gpunet/ops.h"
#include "support/assert_close.h"
#include "support/golden.h"

namespace gpunet {
namespace {

using test::golden_case;
using test::golden_tensor;
using test::load_golden;
constexpr double kAtol = 1e-5, kRtol = 1e-4;

Tensor param(const nlohmann::json& t) { return golden_tensor(t).requires_grad_(); }

TEST(GoldenCnn, BatchNormRunningStatisticsAfterThreeSteps) {
  const auto fx = load_golden("ops_batch_norm.json");
  const auto& c = golden_case(fx, "train_affine_3steps");
  const Tensor w0 = golden_tensor(c["weight"]), b0 = golden_tensor(c["bias"]);
  Tensor rm = Tensor::zeros({w0.numel()}), rv = Tensor::ones({w0.numel()});
  int step = 0;
  for (const auto& s : c["steps"]) {
    SCOPED_TRACE("step " + std::to_string(++step));
    Tensor x = param(s["x"]);
    Tensor w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor out = ops::batch_norm2d(x, w, b, rm, rv, true, c["momentum"].get<double>(), c["eps"].get<double>());
    EXPECT_ALL_CLOSE(out, golden_tensor(s["out"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(rm, golden_tensor(s["running_mean"]), 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(rv, golden_tensor(s["running_var"]), 1e-6, 1e-5);
    out.backward(golden_tensor(s["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(s["dx"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(w.grad(), golden_tensor(s["dw"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(b.grad(), golden_tensor(s["db"]), kAtol, kRtol);
  }
}

TEST(GoldenCnn, BatchNormModes) {
  const auto fx = load_golden("ops_batch_norm.json");
  for (const char* key : {"eval_affine", "train_noaffine_norunning", "eval_norunning", "train_batch1",
                          "train_spatial1"}) {
    SCOPED_TRACE(key);
    const auto& c = golden_case(fx, key);
    Tensor x = param(c["x"]);
    Tensor w = c.contains("weight") ? param(c["weight"]) : Tensor();
    Tensor b = c.contains("bias") ? param(c["bias"]) : Tensor();
    Tensor rm = c.contains("running_mean_in") ? golden_tensor(c["running_mean_in"]) : Tensor();
    Tensor rv = c.contains("running_var_in") ? golden_tensor(c["running_var_in"]) : Tensor();
    Tensor out = ops::batch_norm2d(x, w, b, rm, rv, c["training"].get<bool>(), c["momentum"].get<double>(),
                                   c["eps"].get<double>());
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), kAtol, kRtol);
    if (rm.defined()) {
      EXPECT_ALL_CLOSE(rm, golden_tensor(c["running_mean"]), 1e-6, 1e-5);
      EXPECT_ALL_CLOSE(rv, golden_tensor(c["running_var"]), 1e-6, 1e-5);
    }
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), kAtol, kRtol);
    if (w.defined()) {
      EXPECT_ALL_CLOSE(w.grad(), golden_tensor(c["dw"]), kAtol, kRtol);
      EXPECT_ALL_CLOSE(b.grad(), golden_tensor(c["db"]), kAtol, kRtol);
    }
  }
}

TEST(GoldenCnn, GeluAndSilu) {
  const auto fx = load_golden("ops_cnn_activations.json");
  for (const char* key : {"gelu", "gelu_tanh", "silu"}) {
    SCOPED_TRACE(key);
    const auto& c = golden_case(fx, key);
    Tensor x = param(c["x"]);
    const std::string k = key;
    Tensor out = k == "silu" ? ops::silu(x) : ops::gelu(x, k == "gelu" ? "none" : "tanh");
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), 1e-6, 1e-5);
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), 1e-6, 1e-5);
  }
}

TEST(GoldenCnn, Pooling) {
  const auto fx = load_golden("ops_pooling.json");
  int count = 0;
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    ++count;
    Tensor x = param(c["x"]);
    const std::string kind = c["kind"];
    Tensor out;
    if (kind == "adaptive") {
      out = ops::adaptive_avg_pool2d(x, c["output_h"].get<int>(), c["output_w"].get<int>());
    } else {
      const int k = c["kernel"], s = c["stride"], p = c["padding"];
      const bool ceil = c["ceil_mode"];
      out = kind == "max" ? ops::max_pool2d(x, k, s, p, ceil)
                          : ops::avg_pool2d(x, k, s, p, ceil, c["count_include_pad"].get<bool>());
    }
    // max: a selection (exact); averages: float32 sums of <= 16 terms.
    const double atol = kind == "max" ? 0.0 : 1e-6;
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), atol, kind == "max" ? 0.0 : 1e-5);
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), 1e-6, 1e-5);
  }
  EXPECT_EQ(count, 20);
}

TEST(GoldenCnn, CrossEntropyLabelSmoothingAndReductions) {
  const auto fx = load_golden("ops_cross_entropy.json");
  int count = 0;
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    ++count;
    const std::string red = c["reduction"];
    const ops::Reduction r = red == "mean" ? ops::Reduction::Mean : red == "sum" ? ops::Reduction::Sum
                                                                                 : ops::Reduction::None;
    Tensor logits = param(c["logits"]);
    Tensor loss = ops::cross_entropy(logits, golden_tensor(c["target"], DType::Int64),
                                     c["label_smoothing"].get<double>(), r);
    EXPECT_EQ(loss.shape(), golden_tensor(c["loss"]).shape());
    EXPECT_ALL_CLOSE(loss, golden_tensor(c["loss"]), kAtol, kRtol);
    loss.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(logits.grad(), golden_tensor(c["dlogits"]), 1e-6, 1e-4);
  }
  EXPECT_EQ(count, 9);
}

TEST(GoldenCnn, BroadcastingBinaryOps) {
  const auto fx = load_golden("ops_broadcast.json");
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    Tensor a = param(c["a"]), b = param(c["b"]);
    const std::string op = c["op"];
    Tensor out = op == "add" ? ops::add(a, b) : op == "sub" ? ops::sub(a, b) : op == "mul" ? ops::mul(a, b)
                                                                                           : ops::div(a, b);
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), 1e-6, 1e-5);
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(a.grad(), golden_tensor(c["da"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(b.grad(), golden_tensor(c["db"]), kAtol, kRtol);
  }
}

}  // namespace
}  // namespace gpunet
