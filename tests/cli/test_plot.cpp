// `gpunet plot`: a metrics file in the format `gpunet train --metrics` writes becomes an SVG
// with both curves; bad input is one line naming the line number, and leaves no file.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/cli_run.h"

using gpunet::clitest::RunResult;
using gpunet::clitest::run_cli;
using gpunet::clitest::sh_quote;
namespace fs = std::filesystem;

namespace {

const char* kMetrics =
    "{\"step\":2000,\"epoch\":1,\"loss\":2.21,\"images_per_second\":5000.5}\n"
    "{\"step\":4000,\"epoch\":1,\"loss\":1.87,\"images_per_second\":5100.0}\n"
    "{\"epoch\":1,\"step\":4000,\"test_accuracy\":0.38,\"test_loss\":1.7}\n"
    "\n"
    "{\"step\":6000,\"epoch\":2,\"loss\":1.62,\"images_per_second\":5050.0}\n"
    "{\"step\":8000,\"epoch\":2,\"loss\":1.55,\"images_per_second\":5075.0}\n"
    "{\"epoch\":2,\"step\":8000,\"test_accuracy\":0.47,\"test_loss\":1.5}\n";

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Plot, WritesAnSvgWithBothCurves) {
  gpunet::clitest::TempDir dir;
  gpunet::clitest::write_text(dir / "m.jsonl", kMetrics);
  RunResult r = run_cli("plot " + sh_quote(dir / "m.jsonl") + " -o " + sh_quote(dir / "curve.svg"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string svg = gpunet::clitest::read_text(dir / "curve.svg");
  ASSERT_FALSE(svg.empty());
  EXPECT_TRUE(svg.rfind("<?xml", 0) == 0 || svg.rfind("<svg", 0) == 0) << svg.substr(0, 80);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2u) << "one loss curve and one accuracy curve";
  EXPECT_NE(svg.find("Training loss"), std::string::npos);
  EXPECT_NE(svg.find("Test accuracy"), std::string::npos);
  // The loss polyline has the 4 loss points, the accuracy one the 2 epochs.
  const size_t first = svg.find("<polyline"), second = svg.find("<polyline", first + 1);
  const std::string loss_pts = svg.substr(first, svg.find("/>", first) - first);
  const std::string acc_pts = svg.substr(second, svg.find("/>", second) - second);
  EXPECT_EQ(count(loss_pts, ","), 4u) << loss_pts;
  EXPECT_EQ(count(acc_pts, ","), 2u) << acc_pts;
  // Written atomically: nothing but the inputs and the result in the folder.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 2u);
}

TEST(Plot, LossOnlyStillDraws) {
  gpunet::clitest::TempDir dir;
  gpunet::clitest::write_text(dir / "m.jsonl", "{\"step\":1,\"epoch\":1,\"loss\":2.3,\"images_per_second\":1.0}\n");
  RunResult r = run_cli("plot " + sh_quote(dir / "m.jsonl") + " -o " + sh_quote(dir / "c.svg"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string svg = gpunet::clitest::read_text(dir / "c.svg");
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_NE(svg.find("no data"), std::string::npos);
}

TEST(Plot, BadLineNamesTheLineNumber) {
  gpunet::clitest::TempDir dir;
  gpunet::clitest::write_text(dir / "m.jsonl",
                              "{\"step\":1,\"epoch\":1,\"loss\":2.3,\"images_per_second\":1.0}\n\n{\"step\":2, \"loss\": oops\n");
  RunResult r = run_cli("plot " + sh_quote(dir / "m.jsonl") + " -o " + sh_quote(dir / "c.svg"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("m.jsonl:3"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "c.svg"));
}

TEST(Plot, LossWithoutStepNamesTheLine) {
  gpunet::clitest::TempDir dir;
  gpunet::clitest::write_text(dir / "m.jsonl", "{\"epoch\":1,\"loss\":2.3}\n");
  RunResult r = run_cli("plot " + sh_quote(dir / "m.jsonl") + " -o " + sh_quote(dir / "c.svg"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("m.jsonl:1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("step"), std::string::npos) << r.err;
}

TEST(Plot, EmptyOrMissingFileIsAnError) {
  gpunet::clitest::TempDir dir;
  gpunet::clitest::write_text(dir / "empty.jsonl", "");
  RunResult r = run_cli("plot " + sh_quote(dir / "empty.jsonl") + " -o " + sh_quote(dir / "c.svg"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("empty.jsonl"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "c.svg"));
  r = run_cli("plot " + sh_quote(dir / "missing.jsonl") + " -o " + sh_quote(dir / "c.svg"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
}

TEST(Plot, OutputFolderMissingIsAnError) {
  gpunet::clitest::TempDir dir;
  gpunet::clitest::write_text(dir / "m.jsonl", kMetrics);
  RunResult r = run_cli("plot " + sh_quote(dir / "m.jsonl") + " -o " + sh_quote(dir / "no/such/c.svg"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
}

}  // namespace
