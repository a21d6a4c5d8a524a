// `gpunet train --recipe NAME`: a short airbench94 run on the embedded sample prints its epoch
// line, the time split and the final JSON line (steps, schedule length, no test when stopped
// early); --metrics gets the same JSON; bad input is one line and exit 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "cli/cli_run.h"

using namespace gpunet::clitest;

namespace {

TEST(CliRecipe, ShortAirbench94RunPrintsTheJsonLine) {
  TempDir d;
  const RunResult r = run_cli("train --recipe airbench94 --max-steps 2 --batch-size 64 --device cpu --metrics " +
                                  sh_quote(d / "m.jsonl") + " --save " + sh_quote(d / "w.safetensors"),
                              "", "GPUNET_DATA= ");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto lines = RunResult::lines(r.out);
  ASSERT_FALSE(lines.empty());
  const nlohmann::json j = nlohmann::json::parse(lines.back());
  EXPECT_EQ(j["recipe"], "airbench94");
  EXPECT_EQ(j["steps"], 2);
  EXPECT_EQ(j["batch_size"], 64);
  EXPECT_EQ(j["total_steps"], 307);  // ceil(floor(2000 / 64) x 9.9): the planned run, not --max-steps
  EXPECT_TRUE(j["test_accuracy"].is_null());  // stopped early: no final ema copy, no test
  EXPECT_GT(j["last_loss_sum"].get<double>(), 0.0);
  EXPECT_GE(j["train_seconds"].get<double>(), j["whiten_seconds"].get<double>());
  EXPECT_NE(r.out.find("time: whitening"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch  steps  train_loss"), std::string::npos) << r.out;
  const auto mlines = RunResult::lines(read_text(d / "m.jsonl"));
  ASSERT_EQ(mlines.size(), 2u);  // the (stopped) epoch, then the final line
  EXPECT_EQ(nlohmann::json::parse(mlines[0])["steps"], 2);
  EXPECT_EQ(nlohmann::json::parse(mlines[1])["recipe"], "airbench94");
  EXPECT_FALSE(read_text(d / "w.safetensors").empty());
}

TEST(CliRecipe, BadInputIsOneLineAndExit2) {
  const RunResult unknown = run_cli("train --recipe airbench95 --device cpu", "", "GPUNET_DATA= ");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(RunResult::lines(unknown.err).size(), 1u) << unknown.err;
  EXPECT_NE(unknown.err.find("unknown recipe 'airbench95'; known recipes: airbench94"), std::string::npos)
      << unknown.err;

  const RunResult lr = run_cli("train --recipe airbench94 --lr 0.1 --device cpu", "", "GPUNET_DATA= ");
  EXPECT_EQ(lr.code, 2);
  EXPECT_EQ(RunResult::lines(lr.err).size(), 1u) << lr.err;
  EXPECT_NE(lr.err.find("--lr cannot be combined with --recipe airbench94"), std::string::npos) << lr.err;

  const RunResult big = run_cli("train --recipe airbench94 --batch-size 4096 --device cpu", "", "GPUNET_DATA= ");
  EXPECT_EQ(big.code, 2);
  EXPECT_NE(big.err.find("batch size 4096"), std::string::npos) << big.err;

  const RunResult model = run_cli("train --recipe airbench94 --model lenet --device cpu", "", "GPUNET_DATA= ");
  EXPECT_EQ(model.code, 2);
  EXPECT_NE(model.err.find("--recipe airbench94 trains airbench94"), std::string::npos) << model.err;
}

}  // namespace
