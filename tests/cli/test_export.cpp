// `gpunet export`: a checkpoint's model as an ONNX file. Without --model the model is recognised
// from the checkpoint (said on stderr); --opset and --batch reach the file. Bad input (unknown
// model, missing checkpoint, unwritable -o, bad --batch/--opset) is one line on stderr, exit 2,
// and no file. (A module without ONNX form: tests/io/test_onnx_export.cpp; none of the
// registered models has one, and main() turns that InputError into exit 2 like the others.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli_run.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/registry.h"

using namespace gpunet;
using namespace gpunet::clitest;

namespace {

constexpr auto npos = std::string::npos;

struct Export : ::testing::Test {
  TempDir dir;
  std::string checkpoint(const std::string& model) {
    Generator gen(5);
    auto net = models::make_model(model, gen);
    const std::string p = dir / (model + ".safetensors");
    io::save_weights(p, net->state_dict());
    return p;
  }
  std::vector<std::string> files() const {
    std::vector<std::string> v;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
  // Exit 2, one line on stderr starting "gpunet: error: " and holding `what`, nothing on stdout,
  // and the folder as it was.
  void expect_bad(const std::string& args, const std::string& what) {
    const auto before = files();
    RunResult r = run_cli(args);
    EXPECT_EQ(r.code, 2) << r.err;
    ASSERT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("gpunet: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(what), npos) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(files(), before) << r.err;
  }
};

TEST_F(Export, RecognisesTheModelAndWritesTheFile) {
  const std::string ck = checkpoint("lenet"), out = dir / "lenet.onnx";
  RunResult r = run_cli("export --checkpoint " + sh_quote(ck) + " -o " + sh_quote(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("gpunet: checkpoint looks like lenet"), npos) << r.err;
  EXPECT_EQ(r.out.rfind("wrote " + out + ": lenet, opset 17, batch dynamic, ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" 10 initializers, "), npos) << r.out;
  EXPECT_GT(std::filesystem::file_size(out), 62006u * 4);  // LeNet's 62,006 float32 weights
  EXPECT_EQ(files(), (std::vector<std::string>{"lenet.onnx", "lenet.safetensors"}));
}

TEST_F(Export, ModelOpsetAndBatchFlags) {
  const std::string ck = checkpoint("airbench94"), out = dir / "a.onnx";
  RunResult r = run_cli("export --checkpoint " + sh_quote(ck) + " --model airbench94 --opset 13 --batch 8 -o " +
                        sh_quote(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("looks like"), npos) << "--model given: nothing to recognise";
  EXPECT_EQ(r.out.rfind("wrote " + out + ": airbench94, opset 13, batch 8, ", 0), 0u) << r.out;
}

TEST_F(Export, BadInputIsOneLineExit2AndNoFile) {
  const std::string ck = checkpoint("lenet");
  const std::string o = " -o " + sh_quote(dir / "m.onnx");
  expect_bad("export --checkpoint " + sh_quote(ck) + " --model vgg" + o, "unknown model");
  expect_bad("export --checkpoint " + sh_quote(dir / "none.safetensors") + o, "none.safetensors");
  expect_bad("export --checkpoint " + sh_quote(ck) + " --model resnet18" + o, "--model lenet");
  std::ofstream(dir / "plain") << "x";
  expect_bad("export --checkpoint " + sh_quote(ck) + " -o " + sh_quote(dir / "plain/m.onnx"),
             "cannot write " + (dir / "plain/m.onnx"));
  expect_bad("export --checkpoint " + sh_quote(ck) + " -o " + sh_quote(dir / "no/such/dir/m.onnx"),
             "does the folder exist?");
  expect_bad("export --checkpoint " + sh_quote(ck) + " --batch 0" + o, "--batch 0: expected a batch size >= 1 or 'dynamic'");
  expect_bad("export --checkpoint " + sh_quote(ck) + " --batch many" + o, "--batch many");
  expect_bad("export --checkpoint " + sh_quote(ck) + " --opset 18" + o, "--opset 18: choose 13 to 17");
}

}  // namespace
