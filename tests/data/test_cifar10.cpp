// CIFAR-10 binary layout: the embedded sample, the full dataset (when present), bad files, MD5.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include "data_test_util.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/error.h"

using namespace gpunet::data;
using gpunet::test::TempDir;
namespace fs = std::filesystem;

TEST(Cifar10, EmbeddedSampleHasTwoHundredTrainAndFiftyTestPerClass) {
  const Cifar10Summary s = verify_cifar10(sample_dir());
  EXPECT_EQ(s.train, 2000);
  EXPECT_EQ(s.test, 500);
  EXPECT_FALSE(s.standard);
  ASSERT_EQ(s.classes.size(), 10u);
  EXPECT_EQ(s.classes[0], "airplane");
  EXPECT_EQ(s.classes[9], "truck");
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(s.train_per_class[k], 200) << k;
    EXPECT_EQ(s.test_per_class[k], 50) << k;
  }
  EXPECT_NE(s.str().find("2000 train + 500 test"), std::string::npos) << s.str();
  // Its files are the committed ones (data/cifar10-sample/SHA256SUMS, checked with sha256sum).
  const std::string out = gpunet::test::shell("cd '" + sample_dir() + "' && sha256sum -c SHA256SUMS 2>&1");
  if (out.empty()) GTEST_SKIP() << "sha256sum is not available: contents not checked";
  EXPECT_EQ(out.find("FAILED"), std::string::npos) << out;
  EXPECT_NE(out.find("test_batch.bin: OK"), std::string::npos) << out;
}

TEST(Cifar10, ReadsRecordsInFileOrder) {
  TempDir t;
  gpunet::test::make_dataset(t.path, 20, 10);
  Cifar10 train(t.str(), Split::Train);
  ASSERT_EQ(train.n, 100);
  EXPECT_EQ(train.c * train.h * train.w, 3072);
  ASSERT_EQ(train.images.size(), 100u * 3072);
  // Record r of file i (1-based) is train record (i-1)*20 + r: label (r + i) % 10, pixel k = (r*7 + k + 1) % 256.
  for (int i = 1; i <= 5; ++i)
    for (int r = 0; r < 20; r += 7) {
      const int64_t m = (i - 1) * 20 + r;
      EXPECT_EQ(train.labels[m], (r + i) % 10);
      EXPECT_EQ(train.image(m)[0], (r * 7 + 1) % 256);
      EXPECT_EQ(train.image(m)[3071], (r * 7 + 3072) % 256);
    }
  Cifar10 test(t.str(), Split::Test);
  EXPECT_EQ(test.n, 10);
  // The parent folder of cifar-10-batches-bin resolves too.
  TempDir t2;
  gpunet::test::make_dataset(t2.path / kCifar10Folder, 3, 3);
  EXPECT_EQ(Cifar10(t2.str(), Split::Test).n, 3);
}

namespace {
std::string load_error(const fs::path& dir) {
  GPUNET_INPUT_ERROR_MESSAGE(Cifar10(dir.string(), Split::Train), msg);
  return msg;
}
}  // namespace

TEST(Cifar10, TruncatedFileIsNamedWithTheFix) {
  TempDir t;
  gpunet::test::make_dataset(t.path);
  auto b = gpunet::test::make_records(20);
  b.resize(b.size() - 100);
  gpunet::test::write_file(t.path / "data_batch_2.bin", b);
  const std::string msg = load_error(t.path);
  EXPECT_NE(msg.find("data_batch_2.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a whole number of 3073-byte records"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2973 bytes left over"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gpunet data download cifar10"), std::string::npos) << msg;
}

TEST(Cifar10, OversizedFileIsRejected) {
  TempDir t;
  gpunet::test::make_dataset(t.path);
  // Not a multiple of 3073 because it is longer.
  auto b = gpunet::test::make_records(20);
  b.push_back(7);
  gpunet::test::write_file(t.path / "data_batch_4.bin", b);
  std::string msg = load_error(t.path);
  EXPECT_NE(msg.find("data_batch_4.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 bytes left over"), std::string::npos) << msg;
  // Whole records, but more than a CIFAR-10 file holds.
  gpunet::test::write_file(t.path / "data_batch_4.bin", gpunet::test::make_records(10001));
  msg = load_error(t.path);
  EXPECT_NE(msg.find("data_batch_4.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10001 records, more than the 10000"), std::string::npos) << msg;
}

TEST(Cifar10, EmptyAndMissingFilesAreNamed) {
  TempDir t;
  gpunet::test::make_dataset(t.path);
  gpunet::test::write_file(t.path / "data_batch_5.bin", {});
  std::string msg = load_error(t.path);
  EXPECT_NE(msg.find("data_batch_5.bin: the file is empty"), std::string::npos) << msg;
  fs::remove(t.path / "data_batch_5.bin");
  msg = load_error(t.path);
  EXPECT_NE(msg.find("data_batch_5.bin: not found"), std::string::npos) << msg;
  msg = load_error(t.path / "nope");
  EXPECT_NE(msg.find("nope: no such folder; download CIFAR-10 with `gpunet data download cifar10`"), std::string::npos)
      << msg;
}

TEST(Cifar10, MislabelledRecordIsNamedWithItsIndex) {
  TempDir t;
  gpunet::test::make_dataset(t.path);
  auto b = gpunet::test::make_records(20);
  b[17 * 3073] = 12;
  gpunet::test::write_file(t.path / "data_batch_3.bin", b);
  const std::string msg = load_error(t.path);
  EXPECT_NE(msg.find("data_batch_3.bin: record 17 has label 12 (expected 0-9); the file is corrupt, re-download with "
                     "`gpunet data download cifar10`"),
            std::string::npos)
      << msg;
}

TEST(Cifar10, BadMetaFileIsNamed) {
  TempDir t;
  gpunet::test::make_dataset(t.path);
  std::ofstream(t.path / "batches.meta.txt") << "airplane\nautomobile\n";
  std::string msg = load_error(t.path);
  EXPECT_NE(msg.find("batches.meta.txt: has 2 class names (expected 10"), std::string::npos) << msg;
  fs::remove(t.path / "batches.meta.txt");
  msg = load_error(t.path);
  EXPECT_NE(msg.find("batches.meta.txt: not found"), std::string::npos) << msg;
}

TEST(Cifar10, Md5MatchesRfc1321AndMd5sum) {
  EXPECT_EQ(md5_hex("", 0), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc", 3), "900150983cd24fb0d6963f7d28e17f72");
  const std::string alnum = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
  EXPECT_EQ(md5_hex(alnum.data(), alnum.size()), "57edf4a22be3c955ac49da2e2107b67a");
  const std::string f = sample_dir() + "/test_batch.bin";
  const std::string want = gpunet::test::shell("md5sum '" + f + "'").substr(0, 32);
  if (want.size() == 32) EXPECT_EQ(md5_file(f), want);
}

// The full dataset, when GPUNET_CIFAR10_DIR names it (.ci/run sets it).
TEST(Cifar10Full, ReadsSixtyThousandImagesWithWholeFiles) {
  const char* env = std::getenv("GPUNET_CIFAR10_DIR");
  if (!env || !*env) GTEST_SKIP() << "GPUNET_CIFAR10_DIR is not set (point it at cifar-10-batches-bin to run this)";
  const std::string dir = resolve_cifar10_dir(env);
  if (!fs::exists(fs::path(dir) / "data_batch_1.bin"))
    GTEST_SKIP() << "GPUNET_CIFAR10_DIR=" << env << " holds no data_batch_1.bin";
  const Cifar10Summary s = verify_cifar10(dir);
  EXPECT_EQ(s.train, 50000);
  EXPECT_EQ(s.test, 10000);
  EXPECT_TRUE(s.standard);
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(s.train_per_class[k], 5000) << s.classes[k];
    EXPECT_EQ(s.test_per_class[k], 1000) << s.classes[k];
  }
  // The files match ../SHA256SUMS (lines "<hash>  cifar-10-batches-bin/<file>"), checked with sha256sum.
  const fs::path sums = fs::path(dir).parent_path() / "SHA256SUMS";
  if (!fs::exists(sums)) GTEST_SKIP() << sums << " is absent: sizes and labels checked, contents not";
  std::ifstream in(sums);
  std::string hash, name;
  int checked = 0;
  while (in >> hash >> name) {
    const std::string got = gpunet::test::shell("sha256sum '" + (fs::path(dir).parent_path() / name).string() + "'");
    ASSERT_GE(got.size(), 64u) << "sha256sum could not read " << name;
    EXPECT_EQ(got.substr(0, 64), hash) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}
