// `gpunet train --tensorboard DIR`: the event file read back by tensorboard's own reader
// (tools/read_tensorboard.py through $GPUNET_TORCH_PYTHON; skipped without tensorboard), its
// values against the printed and --metrics values, the record count (the reader drops a record
// with a bad checksum silently), and a folder that cannot be written (exit 2 before training).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <vector>

#include "cli_run.h"
#include "io/tfrecord.h"
#include "support/run_command.h"

using namespace gpunet::clitest;
using nlohmann::json;

namespace {

const char* kEnv = "GPUNET_DATA= ";

// The one event file in `dir`, its records counted with their checksums checked.
std::string event_file(const std::string& dir, size_t* records) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().string());
  EXPECT_EQ(files.size(), 1u);
  if (files.empty()) return "";
  EXPECT_NE(files[0].find("events.out.tfevents."), std::string::npos) << files[0];
  const std::string bytes = read_text(files[0]);
  size_t at = 0;
  *records = 0;
  while (gpunet::io::tfrecord::read_record(bytes, &at)) ++*records;  // throws on a bad checksum
  return files[0];
}

// tensorboard's reading of `file` as JSON; skips the test when tensorboard is missing.
json read_with_tensorboard(const std::string& file) {
  const auto [rc, out] = gpunet::test::run_command(gpunet::test::torch_python() + " " +
                                                   sh_quote(std::string(GPUNET_SOURCE_DIR) + "/tools/read_tensorboard.py") +
                                                   " " + sh_quote(file));
  if (rc != 0) return json{{"skip", out}};
  return json::parse(out.substr(out.find('{')));
}

std::vector<json> json_lines(const std::string& path) {
  std::vector<json> v;
  for (const std::string& l : RunResult::lines(read_text(path))) v.push_back(json::parse(l));
  return v;
}

// Same float32 value (TensorBoard stores scalars as float32).
void expect_f32(double tb, double want, const std::string& what) {
  EXPECT_EQ(static_cast<float>(tb), static_cast<float>(want)) << what << ": tensorboard " << tb << " vs " << want;
}

}  // namespace

TEST(TensorBoardCli, LeNetRunReadBackByTensorBoard) {
  TempDir d;
  const RunResult r = run_cli("train --epochs 2 --batch-size 100 --log-every 5 --device cpu --threads 1 --metrics m.jsonl "
                              "--tensorboard tb",
                              d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  size_t records = 0;
  const std::string file = event_file(d / "tb", &records);
  const json tb = read_with_tensorboard(file);
  if (tb.contains("skip")) GTEST_SKIP() << "tensorboard's reader is not available (set GPUNET_TORCH_PYTHON): " << tb["skip"];
  EXPECT_EQ(tb["file_version"].get<double>(), 2.0);  // the reader parses "brain.Event:2"
  EXPECT_EQ(tb["events"].get<size_t>(), records) << "the reader dropped records (bad checksums?)";

  // train/loss: every log line, the printed value and the --metrics value.
  std::vector<double> printed;
  const std::regex line(R"(\[\d+, +\d+\] loss: ([0-9.]+))");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), line), end; it != end; ++it) printed.push_back(std::stod((*it)[1]));
  std::vector<json> loss_lines, epoch_lines;
  for (const json& j : json_lines(d / "m.jsonl")) (j.contains("loss") ? loss_lines : epoch_lines).push_back(j);
  const json& loss = tb["scalars"]["train/loss"];
  ASSERT_EQ(printed.size(), 8u) << r.out;  // 20 steps an epoch, a line every 5, 2 epochs
  ASSERT_EQ(loss.size(), printed.size());
  ASSERT_EQ(loss_lines.size(), printed.size());
  for (size_t i = 0; i < printed.size(); ++i) {
    EXPECT_EQ(loss[i][0].get<int64_t>(), loss_lines[i]["step"].get<int64_t>());
    expect_f32(loss[i][1], loss_lines[i]["loss"], "train/loss " + std::to_string(i));
    EXPECT_NEAR(loss[i][1].get<double>(), printed[i], 0.0005 + 1e-7) << "printed with 3 decimals";
    expect_f32(tb["scalars"]["train/lr"][i][1], loss_lines[i]["lr"], "train/lr");
    expect_f32(tb["scalars"]["train/images_per_second"][i][1], loss_lines[i]["images_per_second"], "images/s");
  }
  // Per epoch: test accuracy (as --metrics) and train accuracy; the final test accuracy.
  ASSERT_EQ(epoch_lines.size(), 2u);
  ASSERT_EQ(tb["scalars"]["test/accuracy"].size(), 2u);
  ASSERT_EQ(tb["scalars"]["train/accuracy"].size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    expect_f32(tb["scalars"]["test/accuracy"][e][1], epoch_lines[e]["test_accuracy"], "test/accuracy");
    const double a = tb["scalars"]["train/accuracy"][e][1];
    EXPECT_TRUE(a >= 0 && a <= 1) << a;
  }
  ASSERT_EQ(tb["scalars"]["test/final_accuracy"].size(), 1u);
  const double final_acc = tb["scalars"]["test/final_accuracy"][0][1];
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(on the (\d+) test images: (\d+) %)"))) << r.out;
  EXPECT_EQ(std::stoll(m[2]), static_cast<long long>(100 * std::llround(final_acc * std::stod(m[1])) / std::stoll(m[1])));
  expect_f32(final_acc, epoch_lines[1]["test_accuracy"], "final accuracy = the last epoch's");
  // The hyper-parameters as text.
  ASSERT_EQ(tb["texts"]["hparams"].size(), 1u);
  const std::string hp = tb["texts"]["hparams"][0][1];
  EXPECT_NE(hp.find("| lr | 0.001"), std::string::npos) << hp;
  EXPECT_NE(hp.find("| batch_size | 100 |"), std::string::npos) << hp;
}

TEST(TensorBoardCli, RecipeRunLogsTheEpochLine) {
  TempDir d;
  const RunResult r = run_cli("train --recipe airbench94 --max-steps 2 --batch-size 64 --device cpu --tensorboard tb",
                              d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  size_t records = 0;
  const std::string file = event_file(d / "tb", &records);
  const json tb = read_with_tensorboard(file);
  if (tb.contains("skip")) GTEST_SKIP() << "tensorboard's reader is not available (set GPUNET_TORCH_PYTHON): " << tb["skip"];
  EXPECT_EQ(tb["events"].get<size_t>(), records);
  std::smatch m;  // "    1      2      2.3456     10.94%  ..."
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\n +1 +2 +([0-9.]+) +([0-9.]+)%)"))) << r.out;
  ASSERT_EQ(tb["scalars"]["train/loss"].size(), 1u);
  EXPECT_EQ(tb["scalars"]["train/loss"][0][0].get<int64_t>(), 2);
  EXPECT_NEAR(tb["scalars"]["train/loss"][0][1].get<double>(), std::stod(m[1]), 0.00005 + 1e-6);
  EXPECT_NEAR(100 * tb["scalars"]["train/accuracy"][0][1].get<double>(), std::stod(m[2]), 0.005 + 1e-4);
  EXPECT_EQ(tb["scalars"]["train/lr"].size(), 1u);
  EXPECT_EQ(tb["scalars"]["train/images_per_second"].size(), 1u);
  EXPECT_NE(tb["texts"]["hparams"][0][1].get<std::string>().find("| recipe | airbench94 |"), std::string::npos);
}

TEST(TensorBoardCli, UnwritableFolderStopsBeforeTraining) {
  TempDir d;
  write_text(d / "file", "x");
  for (const std::string& extra : {std::string("--max-steps 5"), std::string("--recipe airbench94 --max-steps 1")}) {
    const RunResult r = run_cli("train --device cpu --threads 1 --tensorboard file/tb " + extra, d.path.string(), kEnv);
    EXPECT_EQ(r.code, 2) << extra << "\n" << r.err;
    const auto lines = RunResult::lines(r.err);
    ASSERT_FALSE(lines.empty()) << extra;
    EXPECT_NE(lines.back().find("--tensorboard file/tb"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("loss"), std::string::npos) << "trained before failing: " << r.out;
    EXPECT_EQ(r.err.find("embedded sample"), std::string::npos) << "opened the data before failing: " << r.err;
  }
}
