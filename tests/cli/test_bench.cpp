// `gpunet bench`: a short run on the embedded sample gives one JSON line per batch size with
// every documented key and sane values; bad flags are exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "support/gpu.h"

using gpunet::clitest::RunResult;
using gpunet::clitest::run_cli;
using gpunet::clitest::sh_quote;

namespace {

const std::string kSample = std::string(GPUNET_SOURCE_DIR) + "/data/cifar10-sample";

TEST(Bench, JsonLinePerConfiguration) {
  RunResult r = run_cli("bench --steps 3 --warmup 1 --repeats 3 --batch-sizes 4 --json --device cpu --threads 1 --data " +
                        sh_quote(kSample));
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = RunResult::lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const auto j = nlohmann::json::parse(lines[0]);
  for (const char* key : {"device", "batch_size", "images_per_second", "ms_per_step", "steps", "repeats", "threads",
                          "peak_host_bytes", "peak_device_bytes", "data_path"})
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << lines[0];
  EXPECT_EQ(j.at("device"), "cpu");
  EXPECT_EQ(j.at("batch_size"), 4);
  EXPECT_EQ(j.at("steps"), 3);
  EXPECT_EQ(j.at("repeats"), 3);
  EXPECT_EQ(j.at("threads"), 1);
  EXPECT_EQ(j.at("data_path"), "host");
  EXPECT_EQ(j.at("peak_device_bytes"), 0);
  EXPECT_GT(j.at("peak_host_bytes").get<double>(), 0.0);
  // What the allocator held covers what was in use; the process's resident set covers both.
  EXPECT_GE(j.at("peak_host_reserved_bytes").get<double>(), j.at("peak_host_bytes").get<double>());
  EXPECT_GE(j.at("peak_rss_bytes").get<double>(), j.at("peak_host_reserved_bytes").get<double>());
  const double ips = j.at("images_per_second"), ms = j.at("ms_per_step");
  ASSERT_GT(ips, 0.0);
  ASSERT_GT(ms, 0.0);
  // With an odd number of repeats both medians come from the same repeat: ips * ms/1000 = batch
  // (up to the rounding of the printed values, 1e-3 relative).
  EXPECT_NEAR(ips * ms / 1000.0, 4.0, 4e-3) << "ips=" << ips << " ms=" << ms;
}

// --model and --precision are echoed; cpu_kernels names the conv path each conv shape took
// (LeNet's two convs are small: the direct kernels on AVX2/AVX-512, im2col+OpenBLAS elsewhere).
TEST(Bench, ModelPrecisionAndKernelPaths) {
  RunResult r = run_cli("bench --model lenet --precision fp32 --steps 1 --warmup 0 --repeats 1 --batch-sizes 4 --json "
                        "--device cpu --threads 1 --data " + sh_quote(kSample));
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = RunResult::lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j.at("model"), "lenet");
  EXPECT_EQ(j.at("precision"), "fp32");
  EXPECT_TRUE(j.at("gpu_kernels").is_null()) << lines[0];
  const auto& cpu = j.at("cpu_kernels");
  EXPECT_TRUE(cpu.at("isa").is_string()) << lines[0];
  const auto& conv = cpu.at("ops").at("conv2d");
  size_t shapes = 0;
  for (const auto& [path, list] : conv.items()) {
    EXPECT_TRUE(path == "direct" || path == "im2col+openblas") << path;
    shapes += list.size();
  }
  EXPECT_EQ(shapes, 2u) << "LeNet has two conv shapes: " << lines[0];
  const std::string isa = cpu.at("isa");
  if (isa.rfind("generic", 0) == 0) EXPECT_TRUE(conv.contains("im2col+openblas")) << lines[0];
  // OpenBLAS 0.3.21 takes newer Xeons for Prescott (SSE3); the CLI re-executes itself with
  // OPENBLAS_CORETYPE (apps/gpunet/blas_core.h), so an AVX2/AVX-512 CPU never runs Prescott's sgemm.
  if (isa == "avx512" || isa == "avx2") EXPECT_NE(cpu.at("blas"), "Prescott") << lines[0];
}

// On a GPU, gpu_kernels names cuDNN for LeNet's two conv shapes (cpu_kernels then lists no conv).
TEST(Bench, GpuKernelPathsOnTheGpu) {
  GPUNET_REQUIRE_GPU();
  RunResult r = run_cli("bench --model lenet --steps 1 --warmup 0 --repeats 1 --batch-sizes 4 --json --device cuda "
                        "--data " + sh_quote(kSample));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(RunResult::lines(r.out).at(0));
  EXPECT_EQ(j.at("gpu_kernels").at("ops").at("conv2d").at("cudnn").size(), 2u) << r.out;
  EXPECT_FALSE(j.at("cpu_kernels").at("ops").contains("conv2d")) << r.out;
}

TEST(Bench, PrecisionWithoutAPathIsOneLineExit2) {
  const std::string data = " --device cpu --steps 1 --repeats 1 --data " + sh_quote(kSample);
  const struct {
    const char* flag;
    const char* says;
  } cases[] = {{"--precision fp16", "GPU-only"},
               {"--precision fp64", "expected fp32, bf16 or fp16"}};
  for (const auto& c : cases) {
    RunResult r = run_cli(std::string("bench ") + c.flag + data);
    EXPECT_EQ(r.code, 2) << c.flag << ": " << r.err;
    EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << c.flag << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.flag << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.flag << ": " << r.out;
  }
}

// The JSON lines of stdout (oneDNN's verbose lines are there too).
std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  for (const std::string& l : RunResult::lines(out))
    if (!l.empty() && l[0] == '{') v.push_back(nlohmann::json::parse(l));
  return v;
}

// --precision bf16 on the CPU with oneDNN's bf16 kernels (forced by GPUNET_CPU_BF16=native, as
// where the CPU has AVX512-BF16 but runs it slower than its FMAs the choice is the rounded path):
// airbench94's wide convolutions run oneDNN's bf16 primitives, and oneDNN's own verbose log
// (ONEDNN_VERBOSE=1) shows native bf16 kernels (avx512_core_bf16 or AMX) for forward, backward
// data and backward weights, and never a reference implementation.
TEST(Bench, Bf16RunsOneDnnNativeBf16Kernels) {
  RunResult r = run_cli("bench --model airbench94 --precision bf16 --steps 1 --warmup 0 --repeats 1 --batch-sizes 8 "
                        "--json --device cpu --threads 1 --data " + sh_quote(kSample),
                        "", "ONEDNN_VERBOSE=1 DNNL_VERBOSE=1 GPUNET_CPU_BF16=native ");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto js = json_lines(r.out);
  ASSERT_EQ(js.size(), 1u) << r.out.substr(0, 2000);
  const auto& j = js[0];
  EXPECT_EQ(j.at("precision"), "bf16");
  const std::string mode = j.at("cpu_kernels").at("bf16");
  EXPECT_NE(r.err.find(mode), std::string::npos) << "the mode is said on stderr: " << r.err;
  const auto& conv = j.at("cpu_kernels").at("ops").at("conv2d");
  if (mode.rfind("native", 0) != 0) {
    for (const auto& [path, list] : conv.items()) EXPECT_NE(path.find("(bf16-rounded)"), std::string::npos) << path;
    GTEST_SKIP() << "no native bf16 on this CPU or build: " << mode;
  }
  EXPECT_EQ(conv.at("onednn-bf16").size(), 4u) << j.dump();  // the four wide conv shapes (two are alike)
  EXPECT_EQ(j.at("cpu_kernels").at("ops").at("linear").begin().key(), "openblas(bf16-rounded)");
  // bf16 primitives read bf16 weights ("wei_bf16") in forward and backward data, and bf16 source
  // and gradient ("src_bf16") in backward weights: native kernels, never a reference one.
  int seen[3] = {0, 0, 0};
  for (const std::string& l : RunResult::lines(r.out)) {
    if (l.find("exec,cpu,convolution,") == std::string::npos) continue;
    const size_t at = l.find("convolution,") + 12;
    const std::string impl = l.substr(at, l.find(',', at) - at);
    EXPECT_EQ(impl.find("ref"), std::string::npos) << l;
    const bool weights = l.find("backward_weights") != std::string::npos;
    if (l.find(weights ? "src_bf16" : "wei_bf16") == std::string::npos) continue;
    EXPECT_TRUE(impl.find("avx512_core_bf16") != std::string::npos || impl.find("avx512_core_amx") != std::string::npos)
        << l;
    seen[0] += l.find("forward_training") != std::string::npos;
    seen[1] += l.find("backward_data") != std::string::npos;
    seen[2] += weights;
  }
  EXPECT_GT(seen[0], 0) << "no bf16 forward convolution in oneDNN's log";
  EXPECT_GT(seen[1], 0) << "no bf16 backward-data convolution in oneDNN's log";
  EXPECT_GT(seen[2], 0) << "no bf16 backward-weights convolution in oneDNN's log";
}

// Where oneDNN may not use AVX512-BF16 (capped here by ONEDNN_MAX_CPU_ISA, as on an older CPU),
// bf16 runs the slower rounded path, and says so.
TEST(Bench, Bf16WithoutNativeBf16SaysItIsEmulated) {
  RunResult r = run_cli("bench --model airbench94 --precision bf16 --steps 1 --warmup 0 --repeats 1 --batch-sizes 4 "
                        "--json --device cpu --threads 1 --data " + sh_quote(kSample),
                        "", "ONEDNN_MAX_CPU_ISA=AVX512_CORE DNNL_MAX_CPU_ISA=AVX512_CORE ");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto js = json_lines(r.out);
  ASSERT_EQ(js.size(), 1u) << r.out;
  const std::string mode = js[0].at("cpu_kernels").at("bf16");
  EXPECT_EQ(mode.rfind("emulated", 0), 0u) << mode;
  EXPECT_NE(r.err.find("emulated"), std::string::npos) << r.err;
  for (const auto& [path, list] : js[0].at("cpu_kernels").at("ops").at("conv2d").items())
    EXPECT_NE(path.find("(bf16-rounded)"), std::string::npos) << path;
}

// GPUNET_CPU_BF16=rounded: every layer takes the float32 kernels on rounded operands, and the
// mode line says the user chose it (or, without AVX512-BF16, that it is emulated anyway).
TEST(Bench, Bf16RoundedByTheEnvironment) {
  RunResult r = run_cli("bench --model airbench94 --precision bf16 --steps 1 --warmup 0 --repeats 1 --batch-sizes 4 "
                        "--json --device cpu --threads 1 --data " + sh_quote(kSample),
                        "", "GPUNET_CPU_BF16=rounded ");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto js = json_lines(r.out);
  ASSERT_EQ(js.size(), 1u) << r.out;
  const std::string mode = js[0].at("cpu_kernels").at("bf16");
  EXPECT_TRUE(mode.rfind("rounded (GPUNET_CPU_BF16=rounded)", 0) == 0 || mode.rfind("emulated", 0) == 0) << mode;
  for (const auto& [path, list] : js[0].at("cpu_kernels").at("ops").at("conv2d").items())
    EXPECT_NE(path.find("(bf16-rounded)"), std::string::npos) << path;
}

TEST(Bench, TwoBatchSizesTwoLines) {
  RunResult r = run_cli("bench --steps 2 --warmup 0 --repeats 1 --batch-sizes 4,16 --json --device cpu --data " +
                        sh_quote(kSample));
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = RunResult::lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(lines[0]).at("batch_size"), 4);
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("batch_size"), 16);
}

TEST(Bench, TableByDefault) {
  RunResult r = run_cli("bench --steps 2 --warmup 0 --repeats 1 --batch-sizes 8 --device cpu --data " + sh_quote(kSample));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("images/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ms/step"), std::string::npos) << r.out;
}

// --width scales airbench94's channels (the scaling table): the JSON says the factor, and a
// narrower net holds less at its peak than the full one at the same batch.
TEST(Bench, WidthScalesAirbench94) {
  double peak[2] = {0, 0};
  int i = 0;
  for (const char* width : {"0.5", "1"}) {
    RunResult r = run_cli(std::string("bench --model airbench94 --width ") + width +
                          " --steps 1 --warmup 0 --repeats 1 --batch-sizes 8 --json --device cpu --threads 1 --data " +
                          sh_quote(kSample));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto lines = RunResult::lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    const auto j = nlohmann::json::parse(lines[0]);
    EXPECT_DOUBLE_EQ(j.at("width").get<double>(), std::stod(width));
    peak[i++] = j.at("peak_host_bytes").get<double>();
  }
  EXPECT_LT(peak[0], 0.8 * peak[1]) << "width 0.5 held " << peak[0] << " bytes, width 1 " << peak[1];
}

TEST(Bench, BadFlagsAreExit2) {
  const std::string data = " --device cpu --data " + sh_quote(kSample);
  for (const std::string& flags : {std::string("--batch-sizes 4,x"), std::string("--batch-sizes 0"),
                                   std::string("--batch-sizes 100000"), std::string("--steps 0"),
                                   std::string("--cuda-graph sometimes"), std::string("--width 2"),
                                   std::string("--model airbench94 --width 0"),
                                   std::string("--model airbench94 --width -1"),
                                   std::string("--model airbench94 --width wide"),
                                   std::string("--model airbench94 --width 0.25")}) {  // 16 < whiten's 24
    RunResult r = run_cli("bench --steps 1 --repeats 1 " + flags + data);
    EXPECT_EQ(r.code, 2) << flags << ": " << r.err;
    EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << flags << ": " << r.err;
  }
  RunResult r = run_cli("bench --steps 1 --data " + sh_quote("/nonexistent/cifar"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent/cifar"), std::string::npos) << r.err;
}

}  // namespace
