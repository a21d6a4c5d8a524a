#pragma once
// Helpers for the data tests: temporary folders, small CIFAR-10-layout files, shell commands.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gpunet/data/cifar10.h"

namespace gpunet::test {

namespace fs = std::filesystem;

/// A fresh folder under $TMPDIR, removed with everything in it at the end of the scope.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "gpunet-data-test-XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

inline void write_file(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// `records` CIFAR-10 records with labels r % 10 and pixels (r * 7 + byte) % 256.
inline std::vector<uint8_t> make_records(int records, int label_offset = 0) {
  std::vector<uint8_t> b(static_cast<size_t>(records) * 3073);
  for (int r = 0; r < records; ++r) {
    b[r * 3073] = static_cast<uint8_t>((r + label_offset) % 10);
    for (int k = 1; k < 3073; ++k) b[r * 3073 + k] = static_cast<uint8_t>((r * 7 + k) % 256);
  }
  return b;
}

inline const char* kMeta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";

/// A whole small dataset folder: five train files of `per_file` records, a test file, the meta.
inline void make_dataset(const fs::path& dir, int per_file = 20, int test_records = 10) {
  fs::create_directories(dir);
  for (int i = 1; i <= 5; ++i) write_file(dir / ("data_batch_" + std::to_string(i) + ".bin"), make_records(per_file, i));
  write_file(dir / "test_batch.bin", make_records(test_records));
  std::ofstream(dir / "batches.meta.txt") << kMeta;
}

/// Runs a shell command and returns its stdout ("" when it cannot run).
inline std::string shell(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

/// The message of the gpunet::InputError `stmt` throws; fails the test when it throws nothing or another type.
#define GPUNET_INPUT_ERROR_MESSAGE(stmt, msg_var)                                            \
  std::string msg_var;                                                                       \
  try {                                                                                      \
    stmt;                                                                                    \
    ADD_FAILURE() << #stmt " did not throw";                                                 \
  } catch (const ::gpunet::InputError& e) {                                                  \
    msg_var = e.what();                                                                      \
  }

}  // namespace gpunet::test
