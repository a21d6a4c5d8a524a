// download_cifar10 over file:// URLs (archives made here with libarchive): success, a wrong
// MD5, unsafe member paths, missing members, no network. Nothing may be left behind on failure.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/error.h"

using namespace gpunet::data;
using gpunet::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Writes a tar.gz with the given (member name, bytes) pairs.
void write_tgz(const fs::path& out, const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  for (const auto& [name, bytes] : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << name;
    ASSERT_EQ(archive_write_data(a, bytes.data(), bytes.size()), static_cast<la_ssize_t>(bytes.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::vector<std::pair<std::string, std::vector<uint8_t>>> dataset_members(int per_file = 20) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> m;
  const std::string p = "cifar-10-batches-bin/";
  for (int i = 1; i <= 5; ++i) m.push_back({p + "data_batch_" + std::to_string(i) + ".bin", gpunet::test::make_records(per_file, i)});
  m.push_back({p + "test_batch.bin", gpunet::test::make_records(10)});
  const std::string meta = gpunet::test::kMeta;
  m.push_back({p + "batches.meta.txt", std::vector<uint8_t>(meta.begin(), meta.end())});
  m.push_back({p + "readme.html", {'<', 'p', '>'}});
  m.push_back({"cifar-10-batches-bin/unexpected.sh", {'#', '!'}});  // not extracted
  return m;
}

std::string md5_of(const fs::path& f) {
  const std::string out = gpunet::test::shell("md5sum '" + f.string() + "'");
  return out.size() >= 32 ? out.substr(0, 32) : md5_file(f.string());  // md5sum is the independent oracle
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(fs::relative(e.path(), dir).string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(Download, FileUrlWithTheRightMd5Succeeds) {
  TempDir src, dst;
  const fs::path tgz = src.path / "cifar-10-binary.tar.gz";
  write_tgz(tgz, dataset_members());
  uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  const Cifar10Summary s = download_cifar10((dst.path / "data").string(), "file://" + tgz.string(), md5_of(tgz),
                                            [&](uint64_t done, uint64_t total) {
                                              ++calls;
                                              last_done = done;
                                              last_total = total;
                                            });
  EXPECT_EQ(s.train, 100);
  EXPECT_EQ(s.test, 10);
  EXPECT_EQ(s.dir, (dst.path / "data" / "cifar-10-batches-bin").string());
  EXPECT_GT(calls, 0);
  EXPECT_EQ(last_done, fs::file_size(tgz));
  EXPECT_EQ(last_total, fs::file_size(tgz));
  // Exactly the expected members, no temporary folder, nothing unexpected.
  EXPECT_EQ(listing(dst.path / "data"),
            (std::vector<std::string>{"cifar-10-batches-bin", "cifar-10-batches-bin/batches.meta.txt",
                                      "cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/data_batch_2.bin",
                                      "cifar-10-batches-bin/data_batch_3.bin", "cifar-10-batches-bin/data_batch_4.bin",
                                      "cifar-10-batches-bin/data_batch_5.bin", "cifar-10-batches-bin/readme.html",
                                      "cifar-10-batches-bin/test_batch.bin"}));
  EXPECT_EQ(Cifar10((dst.path / "data").string(), Split::Train).n, 100);
  // Present and whole: a second call downloads nothing (this URL would fail).
  EXPECT_EQ(download_cifar10((dst.path / "data").string(), "file:///nonexistent.tar.gz", "").train, 100);
}

TEST(Download, WrongMd5FailsAndLeavesNothingBehind) {
  TempDir src, dst;
  const fs::path tgz = src.path / "cifar-10-binary.tar.gz";
  write_tgz(tgz, dataset_members());
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "new").string(), "file://" + tgz.string(),
                                              "00000000000000000000000000000000"),
                             msg);
  EXPECT_NE(msg.find("has MD5 " + md5_of(tgz) + ", expected 00000000000000000000000000000000"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dst.path / "new"));  // the folder this call created is gone too
  // Into an existing folder: it stays, empty.
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10(dst.str(), "file://" + tgz.string(), "0123"), msg2);
  EXPECT_TRUE(listing(dst.path).empty());
}

TEST(Download, UnsafeMemberPathsAreRejected) {
  for (const std::string evil : {"../evil", "cifar-10-batches-bin/../../evil", "/tmp/gpunet-evil"}) {
    TempDir src, dst;
    const fs::path tgz = src.path / "bad.tar.gz";
    auto members = dataset_members();
    members.insert(members.begin() + 2, {evil, {'x'}});
    write_tgz(tgz, members);
    GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "d").string(), "file://" + tgz.string(), ""), msg);
    EXPECT_NE(msg.find("member '" + evil + "' has an unsafe path"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(dst.path / "d"));
    EXPECT_FALSE(fs::exists(dst.path / "evil"));
    EXPECT_FALSE(fs::exists(src.path / "evil"));
  }
}

TEST(Download, ArchiveWithoutTheBinaryLayoutIsRejected) {
  TempDir src, dst;
  const fs::path tgz = src.path / "py.tar.gz";
  write_tgz(tgz, {{"cifar-10-batches-py/data_batch_1", {'x'}}});
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "d").string(), "file://" + tgz.string(), ""), msg);
  EXPECT_NE(msg.find("has no member cifar-10-batches-bin/"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dst.path / "d"));
  // Not an archive at all.
  gpunet::test::write_file(src.path / "junk.tar.gz", {1, 2, 3, 4, 5});
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "d").string(), "file://" + (src.path / "junk.tar.gz").string(), ""), msg2);
  EXPECT_NE(msg2.find("junk.tar.gz"), std::string::npos);
  EXPECT_FALSE(fs::exists(dst.path / "d"));
  // A damaged member: verify_cifar10 names it.
  auto members = dataset_members();
  members[1].second[5 * 3073] = 42;  // data_batch_2.bin record 5
  write_tgz(tgz, members);
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "d").string(), "file://" + tgz.string(), ""), msg3);
  EXPECT_NE(msg3.find("data_batch_2.bin: record 5 has label 42"), std::string::npos) << msg3;
  EXPECT_FALSE(fs::exists(dst.path / "d"));
}

TEST(Download, NoNetworkSaysSoAndHowToPlaceTheFilesByHand) {
  TempDir dst;
  // Port 9 on the loopback refuses connections at once, like a machine without network.
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "d").string(), "http://127.0.0.1:9/cifar-10-binary.tar.gz"), msg);
  EXPECT_NE(msg.find("cannot reach http://127.0.0.1:9/cifar-10-binary.tar.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no network"), std::string::npos) << msg;
  EXPECT_NE(msg.find("place the files by hand"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dst.path / "d"));
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10((dst.path / "d").string(), "file:///no/such/file.tar.gz"), msg2);
  EXPECT_NE(msg2.find("file:///no/such/file.tar.gz"), std::string::npos) << msg2;
  EXPECT_FALSE(fs::exists(dst.path / "d"));
}

TEST(Download, AnExistingBrokenFolderIsNotOverwritten) {
  TempDir dst;
  gpunet::test::make_dataset(dst.path / "cifar-10-batches-bin");
  gpunet::test::write_file(dst.path / "cifar-10-batches-bin" / "test_batch.bin", {1, 2, 3});
  GPUNET_INPUT_ERROR_MESSAGE(download_cifar10(dst.str(), "file:///nonexistent.tar.gz", ""), msg);
  EXPECT_NE(msg.find("exists but is not a whole dataset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test_batch.bin"), std::string::npos) << msg;
  EXPECT_EQ(fs::file_size(dst.path / "cifar-10-batches-bin" / "test_batch.bin"), 3u);
}
