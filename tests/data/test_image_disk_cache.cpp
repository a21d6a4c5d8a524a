// The memory-mapped decode-once cache of image folders (ImageSetOptions::cache_dir, `--cache`):
// the same records and labels as the in-memory route, a second open decodes nothing, and a
// stale, truncated or foreign cache file is rebuilt (saying why) rather than trusted.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "data_test_util.h"
#include "gpunet/data/image_set.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "support/image_files.h"

using namespace gpunet::data;
using gpunet::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kClasses = {"b", "a", "c"};

std::vector<uint8_t> bytes_of(const ImageDataset& d) { return {d.image_data(), d.image_data() + d.image_bytes()}; }

fs::path only_cache_file(const fs::path& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".u8") v.push_back(e.path());
  EXPECT_EQ(v.size(), 1u);
  return v.empty() ? fs::path() : v[0];
}

struct DiskCache : ::testing::Test {
  TempDir t;
  ImageSetOptions mem, disk;
  void SetUp() override {
    gpunet::test::write_class_folders(t.path / "d", kClasses, 5, 14, 10);
    mem.size = disk.size = 8;
    mem.val_split = disk.val_split = 0.2;
    mem.threads = disk.threads = 2;
    disk.cache_dir = (t.path / "cache").string();
    fs::create_directories(disk.cache_dir);
  }
  ImageSet open(const ImageSetOptions& o, std::string* err = nullptr) {
    testing::internal::CaptureStderr();
    try {
      ImageSet s = open_image_set((t.path / "d").string(), o);
      const std::string e = testing::internal::GetCapturedStderr();
      if (err) *err = e;
      return s;
    } catch (...) {
      testing::internal::GetCapturedStderr();
      throw;
    }
  }
};

TEST_F(DiskCache, SameRecordsAsInMemoryAndTheSecondOpenDecodesNothing) {
  const ImageSet ref = open(mem);
  int64_t before = images_decoded();
  const ImageSet first = open(disk);
  EXPECT_EQ(images_decoded() - before, 15);
  EXPECT_NE(first.decode_line.find("cached in "), std::string::npos) << first.decode_line;
  before = images_decoded();
  const ImageSet second = open(disk);
  EXPECT_EQ(images_decoded(), before) << "the second open decoded again";
  EXPECT_NE(second.decode_line.find("(decoded nothing)"), std::string::npos) << second.decode_line;
  for (const ImageSet* s : {&first, &second}) {
    ASSERT_TRUE(s->train->mapped && s->train->images.empty());  // in the mapped file, not in memory
    EXPECT_EQ(s->train->n, ref.train->n);
    EXPECT_EQ(s->val->n, ref.val->n);
    EXPECT_EQ(bytes_of(*s->train), bytes_of(*ref.train));
    EXPECT_EQ(bytes_of(*s->val), bytes_of(*ref.val));
    EXPECT_EQ(s->train->labels, ref.train->labels);
    EXPECT_EQ(s->val->labels, ref.val->labels);
    EXPECT_EQ(s->train->classes, ref.train->classes);
    EXPECT_EQ(s->mean, ref.mean);
  }
  // The loaders read the mapped records like in-memory ones, and later epochs decode nothing.
  DataLoader dl(second.train, LoaderOptions::evaluation(4, gpunet::Device::cpu()));
  before = images_decoded();
  Batch b;
  int64_t seen = 0;
  for (int epoch = 0; epoch < 2; ++epoch)
    while (dl.next(b)) seen += b.x.size(0);
  EXPECT_EQ(seen, 2 * second.train->n);
  EXPECT_EQ(images_decoded(), before);
}

TEST_F(DiskCache, StaleTruncatedOrForeignFilesAreRebuilt) {
  open(disk);
  const fs::path f = only_cache_file(disk.cache_dir);
  const auto size = fs::file_size(f);
  std::string err;
  // Truncated: rebuilt, and said so.
  fs::resize_file(f, size - 5);
  int64_t before = images_decoded();
  ImageSet s = open(disk, &err);
  EXPECT_EQ(images_decoded() - before, 15);
  EXPECT_NE(err.find("is truncated or damaged: rebuilding it"), std::string::npos) << err;
  EXPECT_EQ(fs::file_size(f), size);
  // Foreign bytes under its name.
  std::ofstream(f, std::ios::binary) << "not a cache";
  s = open(disk, &err);
  EXPECT_NE(err.find("is not a gpunet image cache"), std::string::npos) << err;
  // An image changed (another size, hence another fingerprint): stale.
  gpunet::test::write_image(t.path / "d" / "a" / "img0.png", 20, 10, gpunet::test::class_image(20, 10, 1, 9));
  before = images_decoded();
  s = open(disk, &err);
  EXPECT_EQ(images_decoded() - before, 15);
  EXPECT_NE(err.find("is stale (the images changed): rebuilding it"), std::string::npos) << err;
  EXPECT_EQ(bytes_of(*s.train), bytes_of(*open(mem).train));
  // Another image size is another file; the first stays valid.
  ImageSetOptions other = disk;
  other.size = 6;
  open(other);
  before = images_decoded();
  open(disk, &err);
  EXPECT_EQ(images_decoded(), before);
  EXPECT_TRUE(err.empty()) << err;
}

TEST_F(DiskCache, BadImagesWriteNoCacheUnlessSkipped) {
  gpunet::test::write_garbage(t.path / "d" / "a" / "zz_bad.png");
  GPUNET_INPUT_ERROR_MESSAGE(open(disk), msg);
  EXPECT_NE(msg.find("1 of 16 images cannot be decoded"), std::string::npos) << msg;
  for (const auto& e : fs::directory_iterator(disk.cache_dir)) ADD_FAILURE() << "left behind: " << e.path();
  disk.skip_bad = true;
  const ImageSet first = open(disk);
  const int64_t before = images_decoded();
  const ImageSet again = open(disk);
  EXPECT_EQ(images_decoded(), before);
  EXPECT_EQ(again.train->n + again.val->n, 15);
  EXPECT_NE(again.summary.find("(1 unreadable images skipped)"), std::string::npos) << again.summary;
}

TEST_F(DiskCache, AnUnwritableFolderIsOneLine) {
  // A file where the folder should be (permissions would not stop root, who runs the tests).
  std::ofstream(t.path / "not_a_folder") << "x";
  disk.cache_dir = (t.path / "not_a_folder").string();
  GPUNET_INPUT_ERROR_MESSAGE(open(disk), msg);
  EXPECT_NE(msg.find("not_a_folder/gpunet-images-"), std::string::npos) << msg;
  EXPECT_NE(msg.find(": cannot write the image cache (Not a directory); choose a writable folder with --cache DIR"),
            std::string::npos)
      << msg;
}

}  // namespace
