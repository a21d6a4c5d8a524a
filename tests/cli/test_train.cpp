// `gpunet train`, `eval` and `doctor` end to end on the embedded sample: output format, exit
// codes on bad input, checkpoints, exact resume after --max-steps and after SIGINT.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli_run.h"
#include "gpunet/config.h"

using namespace gpunet::clitest;

namespace {
// Runs in a temp folder with no ./data and GPUNET_DATA unset, so the sample is used.
const char* kEnv = "GPUNET_DATA= ";
const std::string kFast = " --device cpu --threads 1 --batch-size 16 ";
}  // namespace

TEST(TrainCli, SeedOutputFormatOnTheSample) {
  TempDir d;
  auto r = run_cli("train --epochs 1 --max-steps 60 --log-every 20" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("embedded sample"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gpunet data download cifar10"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("using cpu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1,    20] loss: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1,    60] loss: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Finished Training"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Accuracy of the network on the 500 test images:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Accuracy for class: airplane is"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("\r"), std::string::npos) << "progress bar printed to a pipe";
}

TEST(TrainCli, BadFlagsAreOneLineErrorsWithExitCode2) {
  TempDir d;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--batch-size 0", "--batch-size"},  {"--lr -1", "--lr"},        {"--lr nan", "--lr"},
      {"--epochs 0", "--epochs"},          {"--device gpu", "device"}, {"--device cuda:7", "cuda:7"},
      {"--model resnet", "--model"},       {"--bogus", "bogus"},       {"--momentum 1.5", "--momentum"},
      {"--data /nonexistent/x", "/nonexistent/x"}, {"--init /nonexistent.safetensors", "nonexistent"},
      {"--resume /nonexistent.safetensors", "nonexistent"}, {"--checkpoint-every 5", "--checkpoint"}};
  for (auto& [flags, needle] : cases) {
    auto r = run_cli("train --max-steps 1 " + flags, d.path.string(), kEnv);
    EXPECT_EQ(r.code, 2) << flags << ": " << r.err;
    auto lines = RunResult::lines(r.err);
    ASSERT_GE(lines.size(), 1u) << flags;
    const std::string& last = lines.back();
    EXPECT_NE(last.find("error"), std::string::npos) << flags << ": " << r.err;
    EXPECT_NE(last.find(needle), std::string::npos) << flags << ": " << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << flags;
  }
}

// --precision: fp16 is GPU-only (one line, exit 2, before any work), for plain and recipe runs;
// bf16 runs on the CPU and says how it runs.
TEST(TrainCli, PrecisionFlag) {
  TempDir d;
  for (const std::string& extra : {std::string(""), std::string("--recipe airbench94 ")}) {
    auto r = run_cli("train " + extra + "--max-steps 1 --precision fp16" + kFast, d.path.string(), kEnv);
    EXPECT_EQ(r.code, 2) << extra << r.err;
    EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << extra << r.err;
    EXPECT_NE(r.err.find("GPU-only"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    r = run_cli("train " + extra + "--max-steps 1 --precision fp8" + kFast, d.path.string(), kEnv);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("expected fp32, bf16 or fp16"), std::string::npos) << r.err;
  }
  auto r = run_cli("train --recipe airbench94 --max-steps 2 --precision bf16 --quiet --device cpu --threads 1 "
                   "--batch-size 32", d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"precision\":\"bf16\""), std::string::npos) << r.out;
  r = run_cli("train --max-steps 3 --precision bf16" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("bf16 on the CPU"), std::string::npos) << r.out;
}

TEST(TrainCli, SaveThenEvalJson) {
  TempDir d;
  auto r = run_cli("train --epochs 1 --max-steps 30 --save w.safetensors --quiet" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(r.code, 0) << r.err;
  auto e = run_cli("eval --checkpoint w.safetensors --json --device cpu", d.path.string(), kEnv);
  ASSERT_EQ(e.code, 0) << e.err;
  for (const char* key : {"\"correct\":", "\"total\":500", "\"accuracy\":", "\"mean_loss\":", "\"per_class_correct\":["})
    EXPECT_NE(e.out.find(key), std::string::npos) << key << " in " << e.out;
  auto bad = run_cli("eval --checkpoint missing.safetensors", d.path.string(), kEnv);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("missing.safetensors"), std::string::npos) << bad.err;
}

TEST(TrainCli, ResumeAfterMaxStepsIsBitwiseIdentical) {
  TempDir d;
  // Uninterrupted: 2 epochs of 125 batches. Interrupted after 190 steps (mid-epoch 2), resumed.
  auto a = run_cli("train --epochs 2 --save full.safetensors --quiet" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(a.code, 0) << a.err;
  auto b1 = run_cli("train --epochs 2 --max-steps 190 --checkpoint ck.safetensors --quiet" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(b1.code, 0) << b1.err;
  auto b2 = run_cli("train --epochs 2 --resume ck.safetensors --save resumed.safetensors --quiet" + kFast,
                    d.path.string(), kEnv);
  ASSERT_EQ(b2.code, 0) << b2.err;
  const std::string full = read_text(d / "full.safetensors"), resumed = read_text(d / "resumed.safetensors");
  ASSERT_FALSE(full.empty());
  EXPECT_TRUE(full == resumed) << "resumed weights differ from the uninterrupted run";
}

TEST(TrainCli, SigintSavesStateAndResumesExactly) {
  TempDir d;
  auto a = run_cli("train --epochs 1 --save full.safetensors --quiet" + kFast, d.path.string(), kEnv);
  ASSERT_EQ(a.code, 0) << a.err;
  // Start a run that logs every step, interrupt it after its 40th log line.
  const std::string log = d / "log.txt";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (chdir(d.path.c_str()) != 0) _exit(99);
    setenv("GPUNET_DATA", "", 1);
    FILE* f = freopen(log.c_str(), "w", stdout);
    (void)f;
    execl(GPUNET_CLI_PATH, GPUNET_CLI_PATH, "train", "--epochs", "1", "--device", "cpu", "--threads", "1", "--batch-size",
          "16", "--log-every", "1", "--checkpoint", "ck.safetensors", (char*)nullptr);
    _exit(98);
  }
  bool sent = false;
  for (int i = 0; i < 3000 && !sent; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::string text = read_text(log);
    if (std::count(text.begin(), text.end(), '\n') >= 41) {
      kill(pid, SIGINT);
      sent = true;
    }
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(sent) << "the run never logged 40 steps";
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 130);
  auto b = run_cli("train --epochs 1 --resume ck.safetensors --save resumed.safetensors --quiet" + kFast,
                   d.path.string(), kEnv);
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(read_text(d / "full.safetensors") == read_text(d / "resumed.safetensors"));
}

TEST(DoctorCli, SaysWhyNoGpu) {
  auto r = run_cli("doctor");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("gpunet " GPUNET_VERSION), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default device:"), std::string::npos) << r.out;
  if (r.out.find("default device: cpu") != std::string::npos)
    EXPECT_NE(r.out.find("because"), std::string::npos) << r.out;
}
