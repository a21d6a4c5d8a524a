// Saves are atomic: a failing save leaves the previous file intact and no temporary file; a
// writer killed with SIGKILL at any moment leaves the old or the new file, complete.
// (Tests run as root, so read-only folders do not stop a write; failures are forced with a
// parent that is a regular file, /proc, and RLIMIT_FSIZE for a disk that fills up mid-write.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "gpunet/io/safetensors.h"
#include "io_test_util.h"

namespace gpunet::io {
namespace {

using testing::expect_input_error;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

TEST(AtomicWrite, MissingFolderFailsCleanly) {
  TempDir dir;
  const std::string p = dir.file("no/such/dir/w.safetensors");
  expect_input_error([&] { save_safetensors(p, {{"w", Tensor::ones({4})}}); }, {"cannot save " + p, "No such file"});
  EXPECT_EQ(dir.list(), std::vector<std::string>{});
}

TEST(AtomicWrite, ParentIsARegularFile) {
  TempDir dir;
  write_bytes(dir.file("plain"), "not a folder");
  const std::string p = dir.file("plain/w.safetensors");
  expect_input_error([&] { save_safetensors(p, {{"w", Tensor::ones({4})}}); }, {"cannot save " + p, "Not a directory"});
  EXPECT_EQ(dir.list(), std::vector<std::string>{"plain"});
  EXPECT_EQ(read_bytes(dir.file("plain")), "not a folder");
}

TEST(AtomicWrite, UnwritableFilesystem) {
  const std::string p = "/proc/gpunet_io_test.safetensors";
  expect_input_error([&] { save_safetensors(p, {{"w", Tensor::ones({4})}}); }, {"cannot save " + p});
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp." + std::to_string(::getpid())));
}

TEST(AtomicWrite, DestinationIsAFolder) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("d"));
  expect_input_error([&] { save_safetensors(dir.file("d"), {{"w", Tensor::ones({4})}}); },
                     {"cannot save " + dir.file("d"), "renaming"});
  EXPECT_EQ(dir.list(), std::vector<std::string>{"d"});
}

// The disk "fills up" halfway through the data (RLIMIT_FSIZE in a child process): the save
// throws InputError naming the file, the old file is untouched, the temporary file is gone.
TEST(AtomicWrite, FullDiskMidWriteKeepsTheOldFile) {
  TempDir dir;
  const std::string p = dir.file("w.safetensors");
  save_safetensors(p, {{"old", Tensor::ones({16})}});
  const std::string before = read_bytes(p);
  Tensor big = Tensor::zeros({1 << 20});  // 4 MiB, made before fork: the child only writes

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing us
    rlimit lim{1 << 16, 1 << 16};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      save_safetensors(p, {{"new", big}});
      ::_exit(10);  // should have failed
    } catch (const InputError& e) {
      const std::string msg = e.what();
      bool ok = msg.find("cannot save " + p) != std::string::npos && msg.find("File too large") != std::string::npos;
      if (!ok) fprintf(stderr, "unexpected message: %s\n", msg.c_str());
      ::_exit(ok ? 0 : 11);
    } catch (...) {
      ::_exit(12);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: save succeeded, 11: wrong message, 12: wrong exception";
  EXPECT_EQ(read_bytes(p), before) << "the old file changed";
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.safetensors"}) << "a temporary file was left";
}

// A pid that no process has now (so a temp file named after it is stale).
pid_t dead_pid() {
  for (pid_t pid = 3999999; pid > 1000; --pid)
    if (::kill(pid, 0) == -1 && errno == ESRCH) return pid;
  return -1;
}

TEST(AtomicWrite, RemovesTempFilesOfDeadWritersOnly) {
  TempDir dir;
  const std::string p = dir.file("w.safetensors");
  const pid_t dead = dead_pid();
  ASSERT_GT(dead, 0);
  write_bytes(p + ".tmp." + std::to_string(dead), "half a file");
  write_bytes(p + ".tmp.1", "pid 1 is alive: not ours to remove");
  write_bytes(dir.file("other.safetensors.tmp." + std::to_string(dead)), "another file's temp");
  save_safetensors(p, {{"w", Tensor::ones({2})}});
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"other.safetensors.tmp." + std::to_string(dead), "w.safetensors",
                                                  "w.safetensors.tmp.1"}));
}

// A child saves two versions of an 8 MiB file in turn, forever; it is killed with SIGKILL
// after various delays. Each time, the file must load and hold one whole version.
TEST(AtomicWrite, KillDuringWriteLeavesOldOrNewFile) {
  TempDir dir;
  const std::string p = dir.file("w.safetensors");
  const int64_t n = 2 << 20;
  Tensor versions[2] = {Tensor::full({n}, 1.0), Tensor::full({n}, 2.0)};
  save_safetensors(p, {{"x", versions[0]}}, {{"fill", "1"}});

  int killed_mid_write = 0;
  std::set<std::string> seen;
  const int delays_ms[] = {0, 1, 3, 7, 15, 30, 60, 100, 150, 250};
  for (int delay : delays_ms) {
    SCOPED_TRACE("kill after " + std::to_string(delay) + " ms");
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        for (int i = 1;; ++i) save_safetensors(p, {{"x", versions[i % 2]}}, {{"fill", std::to_string(i % 2 + 1)}});
      } catch (...) {
        ::_exit(1);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself (exit " << WEXITSTATUS(status) << ")";
    if (std::filesystem::exists(p + ".tmp." + std::to_string(child))) ++killed_mid_write;

    SafetensorsFile f = load_safetensors(p);  // throws if the file is damaged
    ASSERT_EQ(f.tensors.size(), 1u);
    const std::string fill = f.metadata.at("fill");
    seen.insert(fill);
    std::vector<float> v = f.tensors[0].second.to_vector<float>();
    ASSERT_EQ(static_cast<int64_t>(v.size()), n);
    const float want = fill == "1" ? 1.0f : 2.0f;
    int64_t wrong = 0;
    for (float x : v) wrong += std::abs(x - want) > 0.0f;
    EXPECT_EQ(wrong, 0) << "elements not equal to the version's fill " << fill;
  }
  EXPECT_GE(killed_mid_write, 1) << "no kill landed inside a write";
  std::cout << "[          ] kills inside a write: " << killed_mid_write << " of " << std::size(delays_ms)
            << "; versions seen: " << seen.size() << "\n";
  // The next save removes the killed writers' temporary files.
  save_safetensors(p, {{"x", versions[0]}}, {{"fill", "1"}});
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.safetensors"});
}

}  // namespace
}  // namespace gpunet::io
