// The model in the CLI: `eval` and `predict` without --model recognise it from the
// checkpoint's tensor names and say which on stderr; a file no model matches is exit 2 with
// one line naming the closest model and the missing and unexpected tensors; --model and
// --cuda-graph take their values from one place each (the registry, parse_graph_mode).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/lenet.h"
#include "gpunet/models/registry.h"

using namespace gpunet;
using namespace gpunet::clitest;

namespace {

constexpr auto npos = std::string::npos;
const char* kEnv = "GPUNET_DATA= ";
const std::string kSample = std::string(GPUNET_SOURCE_DIR) + "/data/cifar10-sample";
const std::string kLooksLike = "gpunet: checkpoint looks like lenet";

// A 32x32 24-bit BMP (every pixel the same grey), enough for predict.
std::string bmp32() {
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [](uint16_t v) { return std::string(reinterpret_cast<const char*>(&v), 2); };
  const std::string px(32 * 32 * 3, '\x80');
  return "BM" + u32(54 + px.size()) + u32(0) + u32(54) + u32(40) + u32(32) + u32(32) + u16(1) + u16(24) + u32(0) +
         u32(px.size()) + u32(2835) + u32(2835) + u32(0) + u32(0) + px;
}

StateDict lenet_weights() {
  Generator gen(3);
  models::LeNet net(gen);
  return net.state_dict();
}

struct ModelChoice : ::testing::Test {
  TempDir d;
  std::string weights, image;
  void SetUp() override {
    weights = d / "w.safetensors";
    io::save_weights(weights, lenet_weights());
    image = d / "a.bmp";
    write_text(image, bmp32());
  }
  RunResult eval(const std::string& ckpt, const std::string& flags = "") {
    return run_cli("eval --device cpu --threads 1 --json --checkpoint " + sh_quote(ckpt) + " --data " + sh_quote(kSample) +
                       flags,
                   d.path.string(), kEnv);
  }
  RunResult predict(const std::string& ckpt, const std::string& flags = "") {
    return run_cli("predict --device cpu --checkpoint " + sh_quote(ckpt) + " " + sh_quote(image) + flags, d.path.string(),
                   kEnv);
  }
};

void expect_one_line_error(const RunResult& r, const std::vector<std::string>& needles, const std::string& what) {
  EXPECT_EQ(r.code, 2) << what << "\nstderr: " << r.err;
  const auto lines = RunResult::lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << what << "\nstderr: " << r.err;
  EXPECT_EQ(lines[0].rfind("gpunet: error: ", 0), 0u) << what << ": " << lines[0];
  for (const auto& n : needles) EXPECT_NE(lines[0].find(n), npos) << what << ": '" << n << "' not in: " << lines[0];
  EXPECT_TRUE(r.out.empty()) << what << ": " << r.out;
}

}  // namespace

TEST_F(ModelChoice, EvalWithoutModelRecognisesLeNetAndSaysSo) {
  const RunResult r = eval(weights);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = RunResult::lines(r.err);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), kLooksLike), 1) << r.err;
  const auto j = nlohmann::json::parse(RunResult::lines(r.out).at(0));
  EXPECT_EQ(j.at("model"), "lenet");
  EXPECT_EQ(j.at("total"), 500);
}

TEST_F(ModelChoice, EvalWithModelDoesNotGuess) {
  const RunResult r = eval(weights, " --model lenet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("looks like"), npos) << r.err;
  // The same weights give the same result either way.
  EXPECT_EQ(nlohmann::json::parse(r.out).at("correct"), nlohmann::json::parse(eval(weights).out).at("correct"));
}

TEST_F(ModelChoice, PredictWithoutModelRecognisesLeNetAndSaysSo) {
  const RunResult r = predict(weights);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(kLooksLike), npos) << r.err;
  EXPECT_EQ(RunResult::lines(r.out).size(), 1u) << r.out;
  const RunResult given = predict(weights, " --model lenet");
  ASSERT_EQ(given.code, 0) << given.err;
  EXPECT_EQ(given.err.find("looks like"), npos) << given.err;
  EXPECT_EQ(given.out, r.out);
}

TEST_F(ModelChoice, UnrecognisedCheckpointNamesTheClosestModelAndTheDifferences) {
  StateDict sd = lenet_weights();
  sd.erase(std::remove_if(sd.begin(), sd.end(), [](auto& e) { return e.first == "fc2.bias"; }), sd.end());
  sd.emplace_back("head.weight", Tensor::zeros({10, 84}));
  const std::string odd = d / "odd.safetensors";
  io::save_weights(odd, sd);
  const std::vector<std::string> needles = {odd, "matches no known model", "the closest is lenet", "missing tensor fc2.bias",
                                            "unexpected tensor head.weight", "known models: lenet"};
  expect_one_line_error(eval(odd), needles, "eval");
  expect_one_line_error(predict(odd), needles, "predict");
}

TEST_F(ModelChoice, UnrelatedCheckpointListsWhatLeNetMisses) {
  const std::string other = d / "other.safetensors";
  io::save_weights(other, {{"encoder.weight", Tensor::zeros({4, 4})}});
  expect_one_line_error(eval(other),
                        {"the closest is lenet", "missing tensors conv1.weight, conv1.bias, conv2.weight, conv2.bias and 6 more",
                         "unexpected tensor encoder.weight"},
                        "eval");
}

TEST_F(ModelChoice, UnknownModelFlagListsTheKnownModels) {
  const std::string want = "--model resnet: unknown model; known models: lenet";
  expect_one_line_error(eval(weights, " --model resnet"), {want}, "eval");
  expect_one_line_error(predict(weights, " --model resnet"), {want}, "predict");
  expect_one_line_error(run_cli("bench --steps 1 --model resnet --data " + sh_quote(kSample), d.path.string(), kEnv),
                        {want}, "bench");
  const RunResult t = run_cli("train --max-steps 1 --model resnet --device cpu", d.path.string(), kEnv);
  EXPECT_EQ(t.code, 2);
  EXPECT_NE(t.err.find(want), npos) << t.err;
}

TEST_F(ModelChoice, HelpListsTheKnownModels) {
  for (const char* cmd : {"train", "eval", "predict", "bench"}) {
    const RunResult r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("the network: lenet"), npos) << cmd << ": " << r.out;
  }
  EXPECT_NE(run_cli("eval --help").out.find("recognised from the checkpoint"), npos);
}

TEST(CudaGraphFlag, TrainAndBenchShareOneMapping) {
  TempDir d;
  for (const std::string& cmd : std::vector<std::string>{"train --max-steps 1 --device cpu", "bench --steps 1 --device cpu --data " + sh_quote(kSample)}) {
    const RunResult r = run_cli(cmd + " --cuda-graph maybe", d.path.string(), kEnv);
    expect_one_line_error(r, {"--cuda-graph maybe: expected one of auto, on, off"}, cmd);
  }
  // Every accepted value runs (on the CPU the graph mode has no effect).
  for (const char* mode : {"auto", "on", "off"}) {
    const RunResult r = run_cli("bench --steps 1 --warmup 0 --repeats 1 --batch-sizes 4 --json --device cpu --threads 1 --cuda-graph " +
                                    std::string(mode) + " --data " + sh_quote(kSample),
                                d.path.string(), kEnv);
    EXPECT_EQ(r.code, 0) << mode << ": " << r.err;
  }
}

// A ResNet-18 checkpoint whose BatchNorm tensors are missing or misshapen: one line naming the
// tensor, exit 2, before any evaluation.
TEST_F(ModelChoice, ResNetCheckpointWithMissingOrMisshapenBatchNormTensorsIsRefused) {
  Generator gen(5);
  StateDict sd = models::make_model("resnet18", gen)->state_dict();
  StateDict missing;
  for (auto& [n, t] : sd)
    if (n != "layer2.0.bn1.running_var") missing.emplace_back(n, t);
  io::save_weights(d / "missing.safetensors", missing);
  expect_one_line_error(eval(d / "missing.safetensors", " --model resnet18"), {"layer2.0.bn1.running_var", "missing"},
                        "missing BN tensor");
  StateDict bad = sd;
  for (auto& [n, t] : bad)
    if (n == "bn1.running_mean") t = Tensor::zeros({3});
  io::save_weights(d / "bad.safetensors", bad);
  expect_one_line_error(eval(d / "bad.safetensors", " --model resnet18"), {"bn1.running_mean", "[3]", "[64]"},
                        "misshapen BN tensor");
  StateDict wrong_dtype = sd;
  for (auto& [n, t] : wrong_dtype)
    if (n == "bn1.num_batches_tracked") t = Tensor::zeros({});
  io::save_weights(d / "dtype.safetensors", wrong_dtype);
  expect_one_line_error(eval(d / "dtype.safetensors", " --model resnet18"), {"bn1.num_batches_tracked", "I64"},
                        "BN counter with the wrong dtype");
}
