// Image folders for the command (gpunet/data/image_set.h): layouts, class order, the seeded
// split, the decode-once cache, the normalisation, and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data_test_util.h"
#include "gpunet/data/image_set.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "support/image_files.h"
#include "support/run_command.h"

using namespace gpunet::data;
using gpunet::test::TempDir;
using gpunet::test::write_class_folders;
namespace fs = std::filesystem;

namespace {

// The classes in an order that creation and name order disagree on ("Zebra" < "apple" bytewise).
const std::vector<std::string> kClasses = {"mouse", "apple", "Zebra"};

std::string error_of(const std::string& dir, const ImageSetOptions& o = {}) {
  try {
    open_image_set(dir, o);
  } catch (const gpunet::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ImageSet, DetectsTheLayouts) {
  TempDir t;
  write_class_folders(t.path / "tv" / "train", kClasses, 2, 8, 8);
  write_class_folders(t.path / "tv" / "val", kClasses, 1, 8, 8);
  write_class_folders(t.path / "tt" / "train", kClasses, 2, 8, 8);
  write_class_folders(t.path / "tt" / "test", kClasses, 1, 8, 8);
  write_class_folders(t.path / "cf", kClasses, 2, 8, 8);
  gpunet::test::make_dataset(t.path / "cifar", 4, 3);
  EXPECT_EQ(detect_layout((t.path / "tv").string()), FolderLayout::TrainVal);
  EXPECT_EQ(detect_layout((t.path / "tt").string()), FolderLayout::TrainVal);
  EXPECT_EQ(detect_layout((t.path / "cf").string()), FolderLayout::ClassFolders);
  EXPECT_EQ(detect_layout((t.path / "cifar").string()), FolderLayout::Cifar10);
  EXPECT_EQ(detect_layout((t.path / "nothing").string()), FolderLayout::Unknown);
}

TEST(ImageSet, TrainValCountsAndClassOrder) {
  TempDir t;
  write_class_folders(t.path / "train", kClasses, 4, 12, 10);
  write_class_folders(t.path / "val", kClasses, 2, 10, 12);
  ImageSetOptions o;
  o.size = 8;
  const ImageSet s = open_image_set(t.str(), o);
  EXPECT_EQ(s.layout, FolderLayout::TrainVal);
  EXPECT_EQ(s.train->n, 12);
  EXPECT_EQ(s.val->n, 6);
  EXPECT_EQ(s.train->classes, (std::vector<std::string>{"Zebra", "apple", "mouse"}));  // sorted(), as torchvision
  EXPECT_EQ(s.train->h, 8);
  EXPECT_EQ(s.train->record_bytes(), 3 * 8 * 8);
  EXPECT_EQ(s.train->class_counts(), (std::vector<int64_t>{4, 4, 4}));
  EXPECT_EQ(s.summary, "train/val image folders: 12 train + 6 val images, 3 classes");
  // The first train record is Zebra/img0.png: label 0.
  EXPECT_EQ(s.train->labels[0], 0);
  EXPECT_EQ(s.train->labels.back(), 2);
}

TEST(ImageSet, ClassFoldersSplitIsSeeded) {
  TempDir t;
  write_class_folders(t.path, kClasses, 10, 8, 8);
  ImageSetOptions o;
  o.size = 8;
  o.val_split = 0.2;
  const ImageSet a = open_image_set(t.str(), o), b = open_image_set(t.str(), o);
  EXPECT_EQ(a.train->n, 24);
  EXPECT_EQ(a.val->n, 6);
  EXPECT_EQ(a.val->images, b.val->images);  // same seed, same split
  o.seed = 7;
  const ImageSet c = open_image_set(t.str(), o);
  EXPECT_EQ(c.val->n, 6);
  EXPECT_NE(a.val->images, c.val->images);
}

TEST(ImageSet, SecondEpochDecodesNothing) {
  TempDir t;
  write_class_folders(t.path, kClasses, 4, 16, 16);
  ImageSetOptions o;
  o.size = 8;
  o.val_split = 0.25;
  const int64_t before = images_decoded();
  const ImageSet s = open_image_set(t.str(), o);
  EXPECT_EQ(images_decoded() - before, 12);  // every file once
  DataLoader loader(s.train, LoaderOptions{});
  const int64_t after_open = images_decoded();
  for (int e = 0; e < 2; ++e)
    for (Batch b; loader.next(b);) EXPECT_EQ(b.x.size(2), 8);
  EXPECT_EQ(images_decoded(), after_open);
}

TEST(ImageSet, ResizeShorterSideThenCentreCrop) {
  DecodedImage img;
  img.w = 6;
  img.h = 2;
  img.c = 3;
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 6; ++x)
      for (int k = 0; k < 3; ++k) img.data.push_back(static_cast<uint8_t>(10 * x + k));
  // Already the shorter side: no resampling; the centre 2x2 crop starts at x = 2.
  const auto r = resize_center_crop(img, 2);
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(r[0], 20);  // R plane, (0, 0) <- x = 2
  EXPECT_EQ(r[1], 30);
  EXPECT_EQ(r[4], 21);  // G plane
}

TEST(ImageSet, ChannelStats) {
  ImageDataset ds;
  ds.n = 2;
  ds.c = 3;
  ds.h = ds.w = 1;
  ds.images = {0, 255, 51, 255, 255, 51};
  ds.labels = {0, 0};
  ds.classes = {"a"};
  std::vector<float> mean, std;
  channel_stats(ds, mean, std);
  EXPECT_FLOAT_EQ(mean[0], 0.5f);
  EXPECT_FLOAT_EQ(std[0], 0.5f);
  EXPECT_FLOAT_EQ(mean[1], 1.0f);
  EXPECT_FLOAT_EQ(std[1], 1.0f);  // constant channel: unscaled
  EXPECT_FLOAT_EQ(mean[2], 0.2f);
}

TEST(ImageSet, StatsAreCachedBesideTheData) {
  TempDir t;
  write_class_folders(t.path, kClasses, 4, 8, 8);
  ImageSetOptions o;
  o.size = 8;
  o.val_split = 0.25;
  const ImageSet a = open_image_set(t.str(), o);
  ASSERT_TRUE(fs::exists(t.path / ".gpunet-stats-8.json"));
  std::ofstream(t.path / ".gpunet-stats-8.json") << R"({"images": 9, "mean": [0.1, 0.2, 0.3], "std": [1, 1, 1]})";
  const ImageSet b = open_image_set(t.str(), o);
  EXPECT_FLOAT_EQ(b.mean[1], 0.2f);  // read back, not recomputed
  EXPECT_NE(a.mean[1], 0.2f);
}

TEST(ImageSet, BadFoldersAreOneLineErrors) {
  TempDir t;
  write_class_folders(t.path / "empty", kClasses, 1, 8, 8);
  fs::create_directories(t.path / "empty" / "nothing_here");
  std::string e = error_of((t.path / "empty").string());
  EXPECT_NE(e.find("nothing_here: the class folder holds no .png/.jpg/.jpeg image"), std::string::npos) << e;

  write_class_folders(t.path / "miss" / "train", {"a", "b"}, 1, 8, 8);
  write_class_folders(t.path / "miss" / "val", {"a"}, 1, 8, 8);
  e = error_of((t.path / "miss").string());
  EXPECT_NE(e.find("has no folder for class 'b' that train/ has"), std::string::npos) << e;

  fs::create_directories(t.path / "noimg" / "a");
  std::ofstream(t.path / "noimg" / "a" / "notes.txt") << "x";
  e = error_of((t.path / "noimg").string());
  EXPECT_NE(e.find("holds no .png/.jpg/.jpeg image"), std::string::npos) << e;
  fs::create_directories(t.path / "flat");
  std::ofstream(t.path / "flat" / "x.png") << "x";
  e = error_of((t.path / "flat").string());
  EXPECT_NE(e.find("not an image folder"), std::string::npos) << e;
  for (const std::string& msg : {e}) EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(ImageSet, CorruptImagesListedThenStopOrSkip) {
  TempDir t;
  write_class_folders(t.path, {"a", "b"}, 4, 8, 8);
  gpunet::test::write_garbage(t.path / "a" / "bad1.png");
  gpunet::test::write_garbage(t.path / "b" / "bad2.jpg");
  ImageSetOptions o;
  o.size = 8;
  o.val_split = 0.25;
  testing::internal::CaptureStderr();
  const std::string e = error_of(t.str(), o);
  const std::string listed = testing::internal::GetCapturedStderr();
  EXPECT_NE(e.find("2 of 10 images cannot be decoded (listed above)"), std::string::npos) << e;
  EXPECT_NE(listed.find("bad1.png"), std::string::npos) << listed;
  EXPECT_NE(listed.find("bad2.jpg"), std::string::npos) << listed;
  o.skip_bad = true;
  testing::internal::CaptureStderr();
  const ImageSet s = open_image_set(t.str(), o);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(s.bad_files.size(), 2u);
  EXPECT_EQ(s.train->n + s.val->n, 8);
  EXPECT_NE(s.summary.find("(2 unreadable images skipped)"), std::string::npos) << s.summary;
}

TEST(ImageSet, HugeDeclaredSizeRefusedFromTheHeader) {
  TempDir t;
  // A PNG signature and IHDR declaring 10000 x 10000 pixels (above kMaxImagePixels), with no image data.
  const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  fs::create_directories(t.path / "a");
  std::ofstream(t.path / "a" / "huge.png", std::ios::binary).write(reinterpret_cast<const char*>(png), sizeof png);
  const DecodedSet d = decode_files({(t.path / "a" / "huge.png").string()}, 8, 1, false);
  ASSERT_FALSE(d.ok[0]);
  EXPECT_NE(d.errors[0].find("header declares 10000x10000"), std::string::npos) << d.errors[0];
}

}  // namespace

// Against torchvision (skipped without a Python that has it): ImageFolder's class order and
// labels, and Resize(S) + CenterCrop(S) + ToTensor + Normalize(the train set's mean, std) of
// the first val image, on PNGs whose shorter side is S (no resampling: the filters differ) and
// whose longer side makes the crop offset a half (Python rounds it to even).
TEST(ImageSet, MatchesTorchvisionImageFolderAndTransforms) {
  TempDir t;
  write_class_folders(t.path / "train", kClasses, 4, 16, 21);
  write_class_folders(t.path / "val", kClasses, 2, 16, 21);
  for (const auto& p : fs::recursive_directory_iterator(t.path))  // PNG only: JPEG decoders may differ by 1
    if (p.path().extension() == ".jpg") fs::remove(p.path());
  const fs::path script = t.path / "tv.py";
  std::ofstream(script) << R"(import json, sys
import torch
from torchvision import datasets, transforms as T
root, size = sys.argv[1], int(sys.argv[2])
base = [T.Resize(size), T.CenterCrop(size), T.ToTensor()]
tr = datasets.ImageFolder(root + '/train', transform=T.Compose(base))
x = torch.stack([tr[i][0] for i in range(len(tr))]).double()
mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), unbiased=False)
va = datasets.ImageFolder(root + '/val', transform=T.Compose(base + [T.Normalize(mean.float(), std.float())]))
print(json.dumps({'classes': tr.classes, 'labels': [l for _, l in tr.samples], 'mean': mean.tolist(),
                  'std': std.tolist(), 'val0': va[0][0].flatten().tolist()}))
)";
  const auto [rc, out] = gpunet::test::run_command(gpunet::test::torch_python() + " " + script.string() + " " + t.str() + " 16");
  if (rc != 0) GTEST_SKIP() << "no Python with torch and torchvision (set GPUNET_TORCH_PYTHON): " << out;
  const auto j = nlohmann::json::parse(out.substr(out.find('{')));
  ImageSetOptions o;
  o.size = 16;
  const ImageSet s = open_image_set(t.str(), o);
  EXPECT_EQ(j["classes"].get<std::vector<std::string>>(), s.train->classes);
  EXPECT_EQ(j["labels"].get<std::vector<int>>(), std::vector<int>(s.train->labels.begin(), s.train->labels.end()));
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(j["mean"][k].get<double>(), s.mean[k], 1e-6);
    EXPECT_NEAR(j["std"][k].get<double>(), s.std[k], 1e-6);
  }
  Transforms tf;
  tf.mean = s.mean;
  tf.std = s.std;
  DataLoader loader(s.val, LoaderOptions::evaluation(1, gpunet::Device::cpu(), tf));
  Batch b;
  ASSERT_TRUE(loader.next(b));
  const auto ours = b.x.to_vector<float>();
  const auto theirs = j["val0"].get<std::vector<float>>();
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) ASSERT_NEAR(ours[i], theirs[i], 1e-5) << i;
}
