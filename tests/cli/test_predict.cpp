// `gpunet predict`: PNGs written here (tests/support/image_files.h), a checkpoint of a seeded LeNet saved here; the CLI's
// probabilities are checked against an in-process forward pass of the same weights on the
// image normalised by hand ((v/255 - 0.5) / 0.5), tolerance 1e-5 absolute.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "gpunet/autograd.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/lenet.h"
#include "gpunet/ops.h"
#include "support/image_files.h"

using namespace gpunet;
using clitest::RunResult;
using clitest::run_cli;
using clitest::sh_quote;

namespace {

const std::vector<std::string> kTutorial = {"plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

// A deterministic RGB test image, interleaved (h, w, 3).
std::vector<uint8_t> pattern(int w, int h, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) px[(static_cast<size_t>(y) * w + x) * 3 + k] = static_cast<uint8_t>((x * 7 + y * 13 + k * 71 + seed * 37) % 256);
  return px;
}

struct PredictFixture : ::testing::Test {
  clitest::TempDir dir;
  std::string ckpt, png, big;
  std::vector<uint8_t> png_px;
  void SetUp() override {
    Generator gen(7);
    models::LeNet net(gen);
    ckpt = dir / "net.safetensors";
    io::save_weights(ckpt, net.state_dict());
    png = dir / "a.png";
    png_px = pattern(32, 32, 1);
    gpunet::test::write_image(png, 32, 32, png_px);
    big = dir / "big.png";
    const auto bp = pattern(40, 30, 2);
    gpunet::test::write_image(big, 40, 30, bp);
  }
  // Runs in the temp folder with $GPUNET_DATA cleared, so the tutorial's class names are used.
  RunResult predict(const std::string& args) {
    return run_cli("predict --device cpu --checkpoint " + sh_quote(ckpt) + " " + args, dir.path.string(), "GPUNET_DATA= ");
  }
};

TEST_F(PredictFixture, PrintsTopClassesPerImage) {
  RunResult r = predict(sh_quote(png) + " " + sh_quote(big));
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = RunResult::lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0].rfind(png + ": ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind(big + ": ", 0), 0u) << lines[1];
  // "<file>: <class> (0.xx)  <class> 0.xx  <class> 0.xx"
  const std::string rest = lines[0].substr(png.size() + 2);
  const std::string top = rest.substr(0, rest.find(' '));
  EXPECT_NE(std::find(kTutorial.begin(), kTutorial.end(), top), kTutorial.end()) << lines[0];
  EXPECT_NE(rest.find(" ("), std::string::npos);
  EXPECT_NE(r.err.find("40x30 resized to 32x32"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("a.png: 32x32"), std::string::npos) << "a 32x32 image is not resized: " << r.err;
}

TEST_F(PredictFixture, JsonMatchesInProcessForward) {
  RunResult r = predict("--json --top 10 " + sh_quote(png));
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = RunResult::lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j.at("file"), png);
  ASSERT_EQ(j.at("top").size(), 10u);

  // Oracle: the same weights, the image normalised by hand, softmax of the logits.
  Generator gen(7);
  models::LeNet net(gen);
  net.eval();
  std::vector<float> x(3 * 32 * 32);
  for (int k = 0; k < 3; ++k)
    for (int p = 0; p < 32 * 32; ++p) x[k * 1024 + p] = (static_cast<float>(png_px[p * 3 + k]) / 255.0f - 0.5f) / 0.5f;
  NoGradGuard ng;
  const auto prob = ops::softmax(net(Tensor::from_vector(x, {1, 3, 32, 32}))).to_vector<float>();

  double worst = 0, sum = 0, prev = 2;
  for (const auto& e : j.at("top")) {
    const int idx = e.at("index");
    const double p = e.at("probability");
    EXPECT_EQ(e.at("class"), kTutorial.at(idx));
    EXPECT_LE(p, prev + 1e-12) << "not sorted";
    prev = p;
    sum += p;
    worst = std::max(worst, std::fabs(p - prob[idx]));
  }
  EXPECT_LT(worst, 1e-5) << "worst |cli - in-process| probability difference";
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(j.at("class"), j.at("top")[0].at("class"));
}

TEST_F(PredictFixture, ClassNamesFromDataFolder) {
  RunResult r = predict("--data " + sh_quote(std::string(GPUNET_SOURCE_DIR) + "/data/cifar10-sample") + " --json " + sh_quote(png));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(RunResult::lines(r.out).at(0));
  const std::vector<std::string> meta = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  EXPECT_EQ(j.at("class"), meta.at(j.at("top")[0].at("index").get<int>()));
  EXPECT_EQ(j.at("top").size(), 3u);
}

TEST_F(PredictFixture, MissingImageIsOneLineNamingIt) {
  const std::string missing = dir / "nope.png";
  RunResult r = predict(sh_quote(png) + " " + sh_quote(missing));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("nope.png"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << "no partial output: " << r.out;
}

TEST_F(PredictFixture, GarbageImageIsOneLineNamingIt) {
  const std::string garbage = dir / "garbage.png";
  clitest::write_text(garbage, "this is not a PNG file");
  RunResult r = predict(sh_quote(garbage));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("garbage.png"), std::string::npos) << r.err;
}

TEST_F(PredictFixture, MissingCheckpointIsAnError) {
  RunResult r = run_cli("predict --device cpu --checkpoint " + sh_quote(dir / "none.safetensors") + " " + sh_quote(png));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("none.safetensors"), std::string::npos) << r.err;
}

}  // namespace
