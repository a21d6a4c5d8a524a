// `gpunet train --lr-schedule`: bad schedule strings are one line and exit 2, the --metrics
// lines carry the scheduled lr, and a checkpoint keeps the schedule (its spec, length and
// position) so that --resume continues bit for bit.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "gpunet/io/checkpoint.h"

using namespace gpunet::clitest;

namespace {
const char* kEnv = "GPUNET_DATA= ";  // the embedded sample: 2,000 training images, 125 batches of 16
const std::string kFast = " --device cpu --threads 1 --batch-size 16 ";

std::vector<nlohmann::json> loss_lines(const std::string& path) {
  std::vector<nlohmann::json> v;
  for (const std::string& l : RunResult::lines(read_text(path))) {
    nlohmann::json j = nlohmann::json::parse(l);
    if (j.contains("loss")) v.push_back(j);
  }
  return v;
}
}  // namespace

TEST(ScheduleCli, BadSchedulesAreOneLineErrorsWithExitCode2) {
  TempDir d;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"linear", "unknown schedule"},
      {"step:0:0.5", "step_size"},
      {"step:10", "step:SIZE:GAMMA"},
      {"step:10:abc", "'abc'"},
      {"cosine:-3", "warmup_steps"},
      {"onecycle:2", "pct_start"},
      {"piecewise:0:1,50:0.5,50:0.1", "does not come after breakpoint 1"},
      {"piecewise:0:1,10", "STEP:FACTOR"},
  };
  for (const auto& [spec, needle] : cases) {
    auto r = run_cli("train --max-steps 1 --lr-schedule " + sh_quote(spec) + kFast, d.path.string(), kEnv);
    EXPECT_EQ(r.code, 2) << spec << ": " << r.err;
    const auto lines = RunResult::lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << spec << ": " << r.err;
    EXPECT_NE(lines[0].find("--lr-schedule"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find(needle), std::string::npos) << spec << ": " << lines[0];
  }
}

TEST(ScheduleCli, MetricsCarryTheScheduledLr) {
  TempDir d;
  auto r = run_cli("train --epochs 1 --max-steps 40 --log-every 10 --lr 0.01 --lr-schedule step:10:0.5 "
                   "--metrics m.jsonl --quiet" + kFast,
                   d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = loss_lines(d / "m.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  // After step 10k the next step's lr is 0.01 * 0.5^k (StepLR's repeated product).
  double want = 0.01;
  for (size_t k = 0; k < lines.size(); ++k) {
    want = want * 0.5;
    EXPECT_EQ(lines[k].at("step").get<int64_t>(), 10 * static_cast<int64_t>(k + 1));
    EXPECT_EQ(lines[k].at("lr").get<double>(), want) << lines[k].dump();
  }
  // Without a schedule, the lr is --lr.
  r = run_cli("train --epochs 1 --max-steps 20 --log-every 10 --lr 0.01 --metrics n.jsonl --quiet" + kFast,
              d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& j : loss_lines(d / "n.jsonl")) EXPECT_EQ(j.at("lr").get<double>(), 0.01);
}

TEST(ScheduleCli, ResumeContinuesTheScheduleBitForBit) {
  TempDir d;
  const std::string sched = " --lr 0.01 --lr-schedule onecycle:0.2 ";
  auto a = run_cli("train --epochs 1 --save full.safetensors --quiet" + sched + kFast, d.path.string(), kEnv);
  ASSERT_EQ(a.code, 0) << a.err;
  // Stopped after 70 of 125 steps; the schedule still spans the epoch.
  auto b1 = run_cli("train --epochs 1 --max-steps 70 --checkpoint ck.safetensors --quiet" + sched + kFast,
                    d.path.string(), kEnv);
  ASSERT_EQ(b1.code, 0) << b1.err;
  const auto st = gpunet::io::load_train_state(d / "ck.safetensors");
  EXPECT_EQ(st.scalars.at("lr_schedule"), "onecycle:0.2");
  EXPECT_EQ(st.scalars.at("lr_schedule_steps"), "125");
  EXPECT_EQ(st.scalars.at("optimizer.steps"), "70");
  // The resumed run takes the schedule from the checkpoint (no --lr-schedule given).
  auto b2 = run_cli("train --epochs 1 --resume ck.safetensors --save resumed.safetensors --quiet" + kFast,
                    d.path.string(), kEnv);
  ASSERT_EQ(b2.code, 0) << b2.err;
  const std::string full = read_text(d / "full.safetensors"), resumed = read_text(d / "resumed.safetensors");
  ASSERT_FALSE(full.empty());
  EXPECT_TRUE(full == resumed) << "resumed weights differ from the uninterrupted run";
  // And the schedule mattered: the same run without it ends elsewhere.
  auto c = run_cli("train --epochs 1 --lr 0.01 --save plain.safetensors --quiet" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_FALSE(read_text(d / "plain.safetensors") == full);
}
