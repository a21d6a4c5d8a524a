// `gpunet train --data FOLDER` on image folders, and eval / predict with the folder's class
// names: end to end through the built command, on small folders written here (PNG and JPEG).
#include <gtest/gtest.h>

#include "cli_run.h"
#include "gpunet/data/cifar10.h"
#include "support/image_files.h"
#include "support/run_command.h"

using namespace gpunet::clitest;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kClasses = {"cat", "dog", "Bird"};

// DIR/train/<class> (6 each) and DIR/val/<class> (2 each), w x h.
void make_train_val(const fs::path& dir, int w = 48, int h = 40) {
  gpunet::test::write_class_folders(dir / "train", kClasses, 6, w, h);
  gpunet::test::write_class_folders(dir / "val", kClasses, 2, w, h);
}

bool one_line(const std::string& err) { return RunResult::lines(err).size() == 1; }

TEST(ImageFolderCli, TrainsEvaluatesAndPredictsWithFolderNames) {
  TempDir t;
  make_train_val(t.path / "photos");
  const std::string data = sh_quote(t / "photos"), w = sh_quote(t / "w.safetensors"), ck = sh_quote(t / "ck.safetensors");
  RunResult r = run_cli("train --data " + data + " --model resnet18 --image-size 40 --max-steps 2 --batch-size 2 "
                        "--device cpu --save " + w + " --checkpoint " + ck);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("train/val image folders: 18 train + 6 val images, 3 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Accuracy of the network on the 6 test images"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Accuracy for class: Bird"), std::string::npos) << r.out;

  r = run_cli("eval --checkpoint " + w + " --data " + data + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("on the 6 test images"), std::string::npos) << r.out;
  for (const auto& c : kClasses) EXPECT_NE(r.out.find("Accuracy for class: " + c), std::string::npos) << r.out;

  r = run_cli("predict --checkpoint " + w + " --device cpu --top 3 " + sh_quote(t / "photos/val/dog/img0.png"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const auto& c : kClasses) EXPECT_NE(r.out.find(c), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("plane"), std::string::npos) << r.out;
  // The training checkpoint carries the class names too (predict and eval read either file).
  r = run_cli("predict --checkpoint " + ck + " --device cpu --top 3 " + sh_quote(t / "photos/val/dog/img0.png"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const auto& c : kClasses) EXPECT_NE(r.out.find(c), std::string::npos) << "checkpoint: " << r.out;
  EXPECT_EQ(r.out.find("plane"), std::string::npos) << r.out;

  // Another folder: its classes mapped by name (a subset in another order is fine) ...
  gpunet::test::write_class_folders(t.path / "other", {"dog", "Bird"}, 2, 40, 40);
  r = run_cli("eval --checkpoint " + w + " --data " + sh_quote(t / "other") + " --device cpu --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"per_class_total\":[2,0,2]"), std::string::npos) << r.out;  // Bird, cat, dog
  // ... and a class the checkpoint does not know is refused with one line.
  gpunet::test::write_class_folders(t.path / "wrong", {"dog", "horse"}, 1, 40, 40);
  r = run_cli("eval --checkpoint " + w + " --data " + sh_quote(t / "wrong") + " --device cpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("class 'horse' is not one of the checkpoint's 3 classes"), std::string::npos) << r.err;
}

TEST(ImageFolderCli, SingleFolderIsSplitAndLeNetRefusesOtherSizes) {
  TempDir t;
  gpunet::test::write_class_folders(t.path / "flat", kClasses, 10, 32, 32);
  RunResult r = run_cli("train --data " + sh_quote(t / "flat") + " --val-split 0.2 --max-steps 1 --device cpu");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("class folders: 24 train + 6 val images, 3 classes"), std::string::npos) << r.out;
  r = run_cli("train --data " + sh_quote(t / "flat") + " --image-size 40 --max-steps 1 --device cpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("--model lenet cannot take 40x40 images"), std::string::npos) << r.err;
}

// --cache DIR: the decoded images in a memory-mapped file there; the second run decodes nothing.
TEST(ImageFolderCli, CacheFolderHoldsTheDecodedImages) {
  TempDir t;
  gpunet::test::write_class_folders(t.path / "flat", kClasses, 4, 20, 16);
  const std::string cmd = "train --data " + sh_quote(t / "flat") + " --max-steps 1 --device cpu --cache " + sh_quote(t / "c");
  RunResult r = run_cli(cmd);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("decoded 12 images in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cached in " + (t / "c") + "/gpunet-images-"), std::string::npos) << r.out;
  r = run_cli(cmd);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("read 12 decoded images from the cache"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(decoded nothing)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(t.path / "c" / ".gpunet-stats-32.json"));
}

TEST(ImageFolderCli, BadInputStopsBeforeTraining) {
  TempDir t;
  make_train_val(t.path / "d", 16, 16);
  fs::create_directories(t.path / "d" / "train" / "empty_class");
  RunResult r = run_cli("train --data " + sh_quote(t / "d") + " --max-steps 1 --device cpu --save " + sh_quote(t / "w"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("empty_class: the class folder holds no"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t.path / "w"));
  fs::remove(t.path / "d" / "train" / "empty_class");

  gpunet::test::write_garbage(t.path / "d" / "train" / "cat" / "broken.png");
  gpunet::test::write_garbage(t.path / "d" / "val" / "dog" / "broken.jpg");
  r = run_cli("train --data " + sh_quote(t / "d") + " --max-steps 1 --device cpu");
  EXPECT_EQ(r.code, 2);
  const auto lines = RunResult::lines(r.err);
  ASSERT_EQ(lines.size(), 3u) << r.err;  // one per file, then the verdict
  EXPECT_NE(r.err.find("train/cat/broken.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("val/dog/broken.jpg"), std::string::npos) << r.err;
  EXPECT_NE(lines[2].find("--skip-bad-images"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("Finished Training"), std::string::npos);

  r = run_cli("train --data " + sh_quote(t / "d") + " --max-steps 1 --device cpu --skip-bad-images");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("18 train + 6 val images, 3 classes (2 unreadable images skipped)"), std::string::npos) << r.out;
}

// The same test set by two routes: CIFAR-10 binary, and its images as PNG class folders.
TEST(ImageFolderCli, CifarTestSetAsPngsEvaluatesTheSame) {
  TempDir t;
  const std::string w = sh_quote(t / "w.safetensors");
  RunResult r = run_cli("train --max-steps 20 --device cpu --quiet --save " + w, "", "GPUNET_DATA= ");
  ASSERT_EQ(r.code, 0) << r.err;
  gpunet::data::Cifar10 test(gpunet::data::sample_dir(), gpunet::data::Split::Test);
  for (int64_t i = 0; i < test.n; ++i) {
    std::vector<uint8_t> px(32 * 32 * 3);
    for (int p = 0; p < 32 * 32; ++p)
      for (int k = 0; k < 3; ++k) px[p * 3 + k] = test.image(i)[k * 1024 + p];
    gpunet::test::write_image(t.path / "pngs" / test.classes[test.labels[i]] / (std::to_string(i) + ".png"), 32, 32, px);
  }
  const RunResult bin = run_cli("eval --checkpoint " + w + " --device cpu --json", "", "GPUNET_DATA= ");
  const RunResult png = run_cli("eval --checkpoint " + w + " --device cpu --json --data " + sh_quote(t / "pngs"));
  ASSERT_EQ(bin.code, 0) << bin.err;
  ASSERT_EQ(png.code, 0) << png.err;
  auto correct = [](const std::string& j) { return std::stoll(j.substr(j.find("\"correct\":") + 10)); };
  EXPECT_NE(bin.out.find("\"total\":500"), std::string::npos) << bin.out;
  EXPECT_NE(png.out.find("\"total\":500"), std::string::npos) << png.out;
  EXPECT_LE(std::llabs(correct(bin.out) - correct(png.out)), 3) << bin.out << "\n" << png.out;
}

}  // namespace
