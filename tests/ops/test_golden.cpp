// The op front ends (float32, CPU), forward and backward through autograd, against PyTorch
// fixtures from tools/gen_golden.py. Tolerance atol 1e-5 / rtol 1e-4: float32 sums in a
// different order than PyTorch's kernels (values are O(1), sums of <= 30 terms).
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

TEST(GoldenOps, FixturesNameTheirTorchVersion) {
  for (const char* f : {"ops_conv2d.json", "ops_max_pool2d.json", "ops_linear.json", "ops_activations.json",
                        "ops_loss.json", "ops_optim.json", "ops_batch_norm.json", "ops_cnn_activations.json",
                        "ops_pooling.json", "ops_cross_entropy.json", "ops_broadcast.json"}) {
    const auto j = load_golden(f);
    EXPECT_FALSE(j.at("torch_version").get<std::string>().empty()) << f;
  }
}

TEST(GoldenOps, Conv2d) {
  const auto fx = load_golden("ops_conv2d.json");
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    Tensor x = param(c["x"]), w = param(c["w"]);
    Tensor b = c.contains("b") ? param(c["b"]) : Tensor();
    Tensor out = ops::conv2d(x, w, b, c["stride"].get<int>(), c["padding"].get<int>());
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), kAtol, kRtol);
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(w.grad(), golden_tensor(c["dw"]), kAtol, kRtol);
    if (b.defined()) EXPECT_ALL_CLOSE(b.grad(), golden_tensor(c["db"]), kAtol, kRtol);
  }
}

TEST(GoldenOps, MaxPool2d) {
  const auto fx = load_golden("ops_max_pool2d.json");
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    Tensor x = param(c["x"]);
    Tensor out = ops::max_pool2d(x, c["kernel"].get<int>(), c["stride"].get<int>());
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), 0.0, 0.0);  // a selection: exact
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), 1e-6, 1e-6);
  }
}

TEST(GoldenOps, Linear) {
  const auto fx = load_golden("ops_linear.json");
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    Tensor x = param(c["x"]), w = param(c["w"]);
    Tensor b = c.contains("b") ? param(c["b"]) : Tensor();
    Tensor out = ops::linear(x, w, b);
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), kAtol, kRtol);
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(w.grad(), golden_tensor(c["dw"]), kAtol, kRtol);
    if (b.defined()) EXPECT_ALL_CLOSE(b.grad(), golden_tensor(c["db"]), kAtol, kRtol);
  }
}

TEST(GoldenOps, Relu) {
  const auto fx = load_golden("ops_activations.json");
  const auto& c = golden_case(fx, "relu");
  Tensor x = param(c["x"]);
  Tensor out = ops::relu(x);
  EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), 0.0, 0.0);
  out.backward(golden_tensor(c["dout"]));
  EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), 0.0, 0.0);
}

TEST(GoldenOps, LogSoftmaxAndSoftmax) {
  const auto fx = load_golden("ops_activations.json");
  for (const char* key : {"log_softmax_x1", "log_softmax_x30"}) {
    SCOPED_TRACE(key);
    const auto& c = golden_case(fx, key);
    Tensor x = param(c["x"]);
    Tensor out = ops::log_softmax(x);
    EXPECT_ALL_CLOSE(out, golden_tensor(c["out"]), kAtol, kRtol);
    EXPECT_ALL_CLOSE(ops::softmax(x), golden_tensor(c["softmax"]), 1e-6, 1e-5);
    out.backward(golden_tensor(c["dout"]));
    EXPECT_ALL_CLOSE(x.grad(), golden_tensor(c["dx"]), kAtol, kRtol);
  }
}

TEST(GoldenOps, ArgmaxFirstIndexOnTies) {
  const auto fx = load_golden("ops_activations.json");
  const auto& c = golden_case(fx, "argmax");
  Tensor idx = ops::argmax(golden_tensor(c["x"]), 1);
  EXPECT_EQ(idx.dtype(), DType::Int64);
  EXPECT_EQ(idx.to_vector<int64_t>(), test::golden_ints(c["out"]));
  EXPECT_EQ(golden_tensor(c["x"]).argmax(-1).to_vector<int64_t>(), test::golden_ints(c["out"]));
}

TEST(GoldenOps, CrossEntropyAndNllLoss) {
  const auto fx = load_golden("ops_loss.json");
  for (const auto& [name, c] : fx.at("cases").items()) {
    SCOPED_TRACE(name);
    const Tensor target = golden_tensor(c["target"], DType::Int64);
    Tensor logits = param(c["logits"]);
    Tensor loss = ops::cross_entropy(logits, target);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_ALL_CLOSE(loss, golden_tensor(c["loss"]), kAtol, kRtol);
    loss.backward();
    EXPECT_ALL_CLOSE(logits.grad(), golden_tensor(c["dlogits"]), 1e-6, 1e-4);

    Tensor logp = param(c["logp"]);
    Tensor nll = ops::nll_loss(logp, target);
    EXPECT_ALL_CLOSE(nll, golden_tensor(c["nll"]), kAtol, kRtol);
    nll.backward(Tensor::full({}, 2.0));
    EXPECT_ALL_CLOSE(logp.grad(), golden_tensor(c["dlogp_x2"]), 1e-7, 1e-6);

    // The composition log_softmax -> nll_loss gives the fused op's loss and gradient.
    Tensor logits2 = param(c["logits"]);
    Tensor loss2 = ops::nll_loss(ops::log_softmax(logits2), target);
    EXPECT_ALL_CLOSE(loss2, loss, kAtol, kRtol);
    loss2.backward();
    EXPECT_ALL_CLOSE(logits2.grad(), logits.grad(), 1e-6, 1e-4);
  }
}

}  // namespace
}  // namespace gpunet
