// Files move both ways between gpunet and PyTorch:
//  - PyTorch's LeNet state_dict (fixture) loads into gpunet's models::LeNet;
//  - gpunet's checkpoints load in PyTorch with net.load_state_dict(load_file(p), strict=True),
//    checked by tools/check_torch_load.py (skipped when $GPUNET_TORCH_PYTHON, else python3,
//    lacks torch or safetensors; tools/test.sh provides one).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <bit>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpunet/io/checkpoint.h"
#include "gpunet/models/lenet.h"
#include "io_test_util.h"
#include "support/run_command.h"

namespace gpunet::io {
namespace {

using testing::TempDir;

using test::run_command;
using test::torch_python;

#define SKIP_WITHOUT_TORCH()                                                                     \
  do {                                                                                           \
    auto [rc, out] = run_command(torch_python() + " -c 'import torch, safetensors'");          \
    if (rc != 0)                                                                                 \
      GTEST_SKIP() << "no Python with torch and safetensors (set GPUNET_TORCH_PYTHON): " << out; \
  } while (0)

// {name: {"sum": float64 sum, "first": first 4 values}} for check_torch_load.py --expect.
void write_expectations(const StateDict& sd, const std::string& path) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, t] : sd) {
    std::vector<float> v = t.to_vector<float>();
    double sum = 0;
    for (float x : v) sum += x;
    j[name] = {{"sum", sum}, {"first", std::vector<double>(v.begin(), v.begin() + std::min<size_t>(4, v.size()))}};
  }
  std::ofstream(path) << j.dump();
}

std::string check_script() { return std::string(GPUNET_SOURCE_DIR) + "/tools/check_torch_load.py"; }

TEST(TorchInterop, PyTorchLeNetLoadsIntoGpunetLeNet) {
  const std::string golden = GPUNET_TEST_GOLDEN_DIR;
  Generator gen(123);
  models::LeNet net(gen);
  StateDict sd = net.state_dict();
  load_weights(golden + "/io_lenet_torch.safetensors", sd, "LeNet");
  std::ifstream f(golden + "/io_lenet_torch.json");
  nlohmann::json want = nlohmann::json::parse(f);
  std::vector<std::string> names;
  for (const auto& [name, t] : net.state_dict()) {
    names.push_back(name);
    const auto& w = want["tensors"][name];
    std::vector<float> v = t.to_vector<float>();
    for (size_t i = 0; i < w["first"].size(); ++i)  // stored values come back bit for bit
      EXPECT_EQ(std::bit_cast<uint32_t>(v[i]), std::bit_cast<uint32_t>(w["first"][i].get<float>())) << name << "[" << i << "]";
  }
  EXPECT_EQ(names, want["order"].get<std::vector<std::string>>()) << "gpunet's LeNet names differ from PyTorch's";
}

TEST(TorchInterop, PyTorchLoadsGpunetLeNetWeightsStrictly) {
  SKIP_WITHOUT_TORCH();
  TempDir dir;
  Generator gen(7);
  models::LeNet net(gen);
  save_weights(dir.file("lenet.safetensors"), net.state_dict());
  write_expectations(net.state_dict(), dir.file("expect.json"));
  auto [rc, out] = run_command(torch_python() + " " + check_script() + " " + dir.file("lenet.safetensors") + " --expect " + dir.file("expect.json"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out.rfind("OK: 10 tensors loaded into Net with strict=True", 0), 0u) << out;
  std::cout << "[          ] " << out;
}

TEST(TorchInterop, PyTorchLoadsTrainingCheckpointWeightsStrictly) {
  SKIP_WITHOUT_TORCH();
  TempDir dir;
  TrainState st;
  st.model = testing::lenet_state(0.3f);
  for (const auto& [name, t] : testing::lenet_state(0.9f)) st.optimizer.emplace_back(name + ".momentum_buffer", t);
  st.scalars = {{"epoch", "2"}, {"step", "25000"}};
  save_train_state(dir.file("ck.safetensors"), st);
  write_expectations(st.model, dir.file("expect.json"));
  auto [rc, out] = run_command(torch_python() + " " + check_script() + " " + dir.file("ck.safetensors") + " --expect " + dir.file("expect.json"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("gpunet.train_state"), std::string::npos) << out;
  std::cout << "[          ] " << out;
  // The optimizer file is a plain safetensors file too.
  auto [rc2, out2] = run_command(torch_python() + " -c \"from safetensors.torch import load_file; d = load_file('" +
                         optimizer_file_of(dir.file("ck.safetensors")) + "'); print(len(d), sorted(d)[0])\"");
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2, "10 conv1.bias.momentum_buffer\n");
}

TEST(TorchInterop, CheckScriptRejectsAWrongCheckpoint) {
  SKIP_WITHOUT_TORCH();
  TempDir dir;
  StateDict sd = testing::lenet_state();
  sd[0].second = Tensor::zeros({6, 1, 5, 5});
  save_weights(dir.file("bad.safetensors"), sd);
  auto [rc, out] = run_command(torch_python() + " " + check_script() + " " + dir.file("bad.safetensors"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("size mismatch for conv1.weight"), std::string::npos) << out;
}

}  // namespace
}  // namespace gpunet::io
