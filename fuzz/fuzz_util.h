#pragma once
// Shared by the libFuzzer targets: the readers under test take a path, so each input is
// written to a file (InputFile) and read back from there, and every
// exception must be a gpunet::InputError whose one-line message names that path. Anything
// else (another exception type, a message without the path or with a newline) aborts, which
// libFuzzer reports as a crash, like the sanitizers' findings.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "gpunet/error.h"

namespace gpunet::fuzz {

/// One input file in a private folder (in /dev/shm when there is one), rewritten for every
/// input. A private folder, so that what a reader looks up next to the file (the optimizer
/// file a checkpoint names) can only be a file of this folder: there is none.
class InputFile {
 public:
  explicit InputFile(const char* name) {
    std::string tmpl = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + std::string("/gpunet-fuzz-XXXXXX");
    if (!::mkdtemp(tmpl.data())) std::perror("mkdtemp"), std::abort();
    dir_ = tmpl;
    path_ = dir_ + "/" + name;
  }
  ~InputFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  /// Replaces the file's contents with `data`.
  void write(const uint8_t* data, size_t size) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) std::perror("open"), std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t w = ::write(fd, data + done, size - done);
      if (w <= 0) std::perror("write"), std::abort();
      done += static_cast<size_t>(w);
    }
    ::close(fd);
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

[[noreturn]] inline void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "gpunet fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

/// Runs `fn`; an InputError naming `path` on one line is the expected way to refuse input.
template <class Fn>
void expect_ok_or_input_error(const std::string& path, Fn&& fn) {
  try {
    fn();
  } catch (const gpunet::InputError& e) {
    const std::string msg = e.what();
    if (msg.find(path) == std::string::npos) fail("InputError does not name the file", msg);
    if (msg.find('\n') != std::string::npos) fail("InputError is not one line", msg);
  } catch (const std::exception& e) {
    fail("not an InputError", e.what());
  }
}

}  // namespace gpunet::fuzz
