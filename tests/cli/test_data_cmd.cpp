// `gpunet data verify` and `gpunet data download`: the embedded sample verifies; a broken
// folder is exit 2 with one line; a small CIFAR-10-layout archive made here is downloaded
// from file://, checked against its MD5 and extracted; a wrong MD5 leaves nothing behind.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/cli_run.h"
#include "gpunet/data/cifar10.h"

using gpunet::clitest::RunResult;
using gpunet::clitest::run_cli;
using gpunet::clitest::sh_quote;
using gpunet::clitest::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kSample = std::string(GPUNET_SOURCE_DIR) + "/data/cifar10-sample";

// `records` CIFAR-10 records with labels 0..9 in turn and deterministic pixels.
std::string batch_bytes(int records, int salt) {
  std::string b;
  for (int r = 0; r < records; ++r) {
    b.push_back(static_cast<char>(r % 10));
    for (int i = 0; i < 3072; ++i) b.push_back(static_cast<char>((i * 31 + r * 7 + salt) & 0xff));
  }
  return b;
}

// A .tar.gz holding cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin, batches.meta.txt}.
void make_archive(const std::string& path, int records) {
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  auto add = [&](const std::string& name, const std::string& data) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, ("cifar-10-batches-bin/" + name).c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  };
  for (int i = 1; i <= 5; ++i) add("data_batch_" + std::to_string(i) + ".bin", batch_bytes(records, i));
  add("test_batch.bin", batch_bytes(records, 9));
  add("batches.meta.txt", "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  archive_write_close(a);
  archive_write_free(a);
}

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(DataVerify, SampleVerifies) {
  RunResult r = run_cli("data verify " + sh_quote(kSample));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2000 train"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("500 test"), std::string::npos) << r.out;
}

TEST(DataVerify, BrokenFolderIsExit2WithOneLine) {
  TempDir dir;
  for (const char* f : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
                        "test_batch.bin", "batches.meta.txt"})
    fs::copy_file(fs::path(kSample) / f, dir.path / f);
  // Truncate one file in the middle of a record.
  fs::resize_file(dir.path / "data_batch_3.bin", 3073 * 5 + 100);
  RunResult r = run_cli("data verify " + sh_quote(dir.path.string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("data_batch_3.bin"), std::string::npos) << r.err;

  TempDir empty;
  r = run_cli("data verify " + sh_quote(empty.path.string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
}

TEST(DataDownload, FromFileUrlWithMd5) {
  TempDir dir;
  const std::string archive = dir / "cifar.tar.gz";
  make_archive(archive, 20);
  const std::string md5 = gpunet::data::md5_file(archive);
  const std::string dest = dir / "data";
  RunResult r = run_cli("data download cifar10 --dir " + sh_quote(dest) + " --url " + sh_quote("file://" + archive) +
                        " --md5 " + md5);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(fs::path(dest) / "cifar-10-batches-bin" / "test_batch.bin"));
  EXPECT_NE(r.out.find("100 train"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20 test"), std::string::npos) << r.out;
  EXPECT_EQ(entries(dest), 1u) << "only cifar-10-batches-bin, no temporary files";

  r = run_cli("data verify " + sh_quote(dest));
  EXPECT_EQ(r.code, 0) << r.err;

  // Already there and whole: nothing is downloaded (the URL does not even exist).
  r = run_cli("data download cifar10 --dir " + sh_quote(dest) + " --url " + sh_quote("file://" + dir / "gone.tar.gz") +
              " --md5 " + md5);
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(DataDownload, WrongMd5LeavesNothingBehind) {
  TempDir dir;
  const std::string archive = dir / "cifar.tar.gz";
  make_archive(archive, 10);
  const std::string dest = dir / "data";
  RunResult r = run_cli("data download cifar10 --dir " + sh_quote(dest) + " --url " + sh_quote("file://" + archive) +
                        " --md5 0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("MD5"), std::string::npos) << r.err;
  EXPECT_EQ(RunResult::lines(r.err).size(), 2u) << "the 'downloading' line and the error: " << r.err;
  EXPECT_FALSE(fs::exists(dest)) << "the folder it created is removed";

  // An existing folder stays as it was (empty).
  fs::create_directories(dest);
  r = run_cli("data download cifar10 --dir " + sh_quote(dest) + " --url " + sh_quote("file://" + archive) +
              " --md5 0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(entries(dest), 0u);
}

TEST(DataDownload, BadArguments) {
  TempDir dir;
  RunResult r = run_cli("data download cifar10 --dir " + sh_quote(dir / "d") + " --md5 xyz");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--md5"), std::string::npos) << r.err;
  r = run_cli("data download mnist --dir " + sh_quote(dir / "d"));
  EXPECT_EQ(r.code, 2);
  r = run_cli("data download cifar10 --dir " + sh_quote(dir / "d") + " --url " + sh_quote("file://" + dir / "missing.tar.gz") +
              " --md5 none");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(dir / "d"));
}

}  // namespace
