// io::export_onnx, read back with ONNX's own protobuf classes and checker (Debian's libonnx-dev):
// each registered model exports, the file parses, check_model accepts it, the initializers are
// the state_dict (names, order, bytes), the input/output signature is the documented one, and
// the graph is written in inference form (BatchNormalization, GELU through Erf). Bad input is one
// line (InputError) and leaves no file. Runtime equality with forward() is test_onnx_interop.cpp.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "gpunet/error.h"
#include "gpunet/io/onnx.h"
#include "gpunet/models/registry.h"
#include "gpunet/nn/cnn_layers.h"
#include "gpunet/nn/layers.h"
#include "io_test_util.h"
#include "support/formula.h"
#include "support/gpu.h"

namespace gpunet::io {
namespace {

using testing::TempDir;

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto m;
  EXPECT_TRUE(in && m.ParseFromIstream(&in)) << "cannot parse " << path;
  return m;
}

std::shared_ptr<nn::Module> formula_model(const std::string& name) {
  Generator gen(1);
  auto net = models::make_model(name, gen);
  test::fill_state_by_formula(*net);
  return net;
}

std::multiset<std::string> op_types(const onnx::ModelProto& m) {
  std::multiset<std::string> s;
  for (const auto& n : m.graph().node()) s.insert(n.op_type());
  return s;
}

// The signature: input `input` [N|batch, 3, 32, 32] and output `logits` [N|batch, 10], float32.
void expect_signature(const onnx::GraphProto& g, int64_t batch) {
  ASSERT_EQ(g.input_size(), 1);
  ASSERT_EQ(g.output_size(), 1);
  for (const auto* v : {&g.input(0), &g.output(0)}) {
    const bool is_input = v == &g.input(0);
    EXPECT_EQ(v->name(), is_input ? "input" : "logits");
    EXPECT_EQ(v->type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
    const auto& s = v->type().tensor_type().shape();
    ASSERT_EQ(s.dim_size(), is_input ? 4 : 2) << v->name();
    if (batch) EXPECT_EQ(s.dim(0).dim_value(), batch);
    else EXPECT_EQ(s.dim(0).dim_param(), "N");
    const std::vector<int64_t> rest = is_input ? std::vector<int64_t>{3, 32, 32} : std::vector<int64_t>{10};
    for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(s.dim(static_cast<int>(i) + 1).dim_value(), rest[i]);
  }
}

class OnnxExportModel : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxExportModel, ReloadsPassesTheCheckerAndHoldsTheStateDict) {
  const std::string name = GetParam();
  TempDir dir;
  auto net = formula_model(name);
  const std::string path = dir.file(name + ".onnx");
  const OnnxExportSummary s = export_onnx(*net, path);
  EXPECT_EQ(dir.list(), std::vector<std::string>{name + ".onnx"}) << "a temporary file was left";

  const onnx::ModelProto m = read_model(path);
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  EXPECT_NO_THROW(onnx::checker::check_model(path));
  EXPECT_EQ(m.ir_version(), 8);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.producer_name(), "gpunet");
  expect_signature(m.graph(), 0);
  EXPECT_EQ(s.nodes, m.graph().node_size());
  EXPECT_EQ(s.bytes, static_cast<int64_t>(std::filesystem::file_size(path)));

  // Initializers: the state_dict, by name and in order, each with its dtype, shape and bytes.
  const StateDict sd = net->state_dict();
  ASSERT_EQ(m.graph().initializer_size(), static_cast<int>(sd.size()));
  EXPECT_EQ(s.initializers, static_cast<int64_t>(sd.size()));
  for (size_t i = 0; i < sd.size(); ++i) {
    const auto& init = m.graph().initializer(static_cast<int>(i));
    const Tensor& t = sd[i].second;
    EXPECT_EQ(init.name(), sd[i].first);
    EXPECT_EQ(init.data_type(), t.dtype() == DType::Int64 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT)
        << init.name();
    EXPECT_EQ(std::vector<int64_t>(init.dims().begin(), init.dims().end()), t.shape()) << init.name();
    const Tensor host = t.cpu().contiguous();
    ASSERT_EQ(init.raw_data().size(), host.nbytes()) << init.name();
    EXPECT_EQ(std::memcmp(init.raw_data().data(), host.raw_data(), host.nbytes()), 0) << init.name();
  }

  // Inference form: BN nodes read the running statistics and never train; no Gelu op (opset 20).
  const auto ops = op_types(m);
  EXPECT_EQ(ops.count("Gelu"), 0u);
  EXPECT_EQ(ops.count("Dropout"), 0u);
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "BatchNormalization") continue;
    ASSERT_EQ(n.input_size(), 5) << n.name();
    EXPECT_NE(n.input(3).find("running_mean"), std::string::npos) << n.name();
    EXPECT_EQ(n.output_size(), 1) << n.name() << ": training-mode outputs";
    for (const auto& a : n.attribute()) EXPECT_FALSE(a.name() == "training_mode" && a.i() != 0) << n.name();
  }
  const std::map<std::string, std::pair<size_t, size_t>> want = {  // {Conv, BatchNormalization}
      {"lenet", {2, 0}},
      {"airbench94", {7, 6}},
      {"resnet18", {20, 20}}};
  EXPECT_EQ(ops.count("Conv"), want.at(name).first);
  EXPECT_EQ(ops.count("BatchNormalization"), want.at(name).second);
  if (name == "airbench94") EXPECT_EQ(ops.count("Erf"), 7u) << "one Erf per GELU";
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxExportModel, ::testing::Values("lenet", "airbench94", "resnet18"));

TEST(OnnxExport, FixedBatchAndOlderOpset) {
  TempDir dir;
  auto net = formula_model("lenet");
  export_onnx(*net, dir.file("b.onnx"), {.opset = 13, .batch = 7});
  const onnx::ModelProto m = read_model(dir.file("b.onnx"));
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  EXPECT_EQ(m.opset_import(0).version(), 13);
  expect_signature(m.graph(), 7);
}

// The tensors are copied from the device: a model on the GPU gives the very same file.
TEST(OnnxExport, AModelOnTheGpuExportsTheSameBytes) {
  GPUNET_REQUIRE_GPU();
  TempDir dir;
  auto net = formula_model("airbench94");
  export_onnx(*net, dir.file("cpu.onnx"));
  net->to(Device::parse("cuda:0"));
  export_onnx(*net, dir.file("gpu.onnx"));
  auto bytes = [&](const std::string& f) {
    std::ifstream in(dir.file(f), std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  EXPECT_GT(bytes("cpu.onnx").size(), 1000u);
  EXPECT_TRUE(bytes("cpu.onnx") == bytes("gpu.onnx"));
}

// What fails must be one line, say what and where, and leave no file (nor a temporary one).
template <typename F>
std::string expect_input_error(F&& f, const TempDir& dir, const std::vector<std::string>& files_before) {
  std::string msg;
  try {
    f();
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    msg = e.what();
  }
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(dir.list(), files_before) << msg;
  return msg;
}

struct NoOnnxForm : nn::Module {
  Tensor forward(const Tensor& x) override { return x; }
  std::string repr() const override { return "Cumsum(dim=1)"; }
};

TEST(OnnxExport, AModuleWithoutOnnxFormIsOneLineNamingIt) {
  TempDir dir;
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(3, 4, 3));
  seq->push_back(std::make_shared<NoOnnxForm>());
  std::string msg = expect_input_error([&] { export_onnx(*seq, dir.file("x.onnx")); }, dir, {});
  EXPECT_NE(msg.find("module '1' (Cumsum(dim=1)) has no ONNX form"), std::string::npos) << msg;

  // Layers whose arguments have no ONNX form say why; a previous file stays untouched.
  std::ofstream(dir.file("x.onnx")) << "old";
  for (auto m : std::vector<std::shared_ptr<nn::Module>>{std::make_shared<nn::Flatten>(0),
                                                          std::make_shared<nn::AdaptiveAvgPool2d>(2)}) {
    msg = expect_input_error([&] { export_onnx(*m, dir.file("x.onnx")); }, dir, {"x.onnx"});
    EXPECT_NE(msg.find("the model (" + m->repr() + ") has no ONNX form ("), std::string::npos) << msg;
  }
  std::ifstream in(dir.file("x.onnx"));
  std::string old((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(old, "old");
}

TEST(OnnxExport, UnwritablePathsAndBadOptions) {
  TempDir dir;
  auto net = formula_model("lenet");
  std::ofstream(dir.file("plain")) << "a file, not a folder";
  std::string msg = expect_input_error([&] { export_onnx(*net, dir.file("plain/m.onnx")); }, dir, {"plain"});
  EXPECT_EQ(msg.rfind("cannot write " + dir.file("plain/m.onnx") + ": creating ", 0), 0u) << msg;
  msg = expect_input_error([&] { export_onnx(*net, dir.file("missing/m.onnx")); }, dir, {"plain"});
  EXPECT_NE(msg.find("does the folder exist?"), std::string::npos) << msg;
  msg = expect_input_error([&] { export_onnx(*net, dir.path); }, dir, {"plain"});
  EXPECT_NE(msg.find("it is a folder"), std::string::npos) << msg;
  msg = expect_input_error([&] { export_onnx(*net, dir.file("m.onnx"), {.opset = 18}); }, dir, {"plain"});
  EXPECT_NE(msg.find("opset 18 is not supported; choose 13 to 17"), std::string::npos) << msg;
  msg = expect_input_error([&] { export_onnx(*net, dir.file("m.onnx"), {.batch = -1}); }, dir, {"plain"});
  EXPECT_NE(msg.find("batch -1"), std::string::npos) << msg;
}

}  // namespace
}  // namespace gpunet::io
