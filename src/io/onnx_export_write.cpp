#include "io/onnx_export_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "gpunet/error.h"

namespace gpunet::io::detail {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void failed(const std::string& path, const std::string& what, int err) {
  std::string hint;
  if (err == ENOENT || err == ENOTDIR) hint = " (does the folder exist? create it or choose another -o path)";
  throw InputError("cannot write " + path + ": " + what + ": " + std::strerror(err) + hint);
}

// Unlinks the temporary file unless the write completed.
struct TempFile {
  std::string path;
  int fd = -1;
  bool done = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!done) ::unlink(path.c_str());
  }
};

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  if (path.empty()) throw InputError("cannot write an ONNX file: the output path is empty");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError("cannot write " + path + ": it is a folder; give a file name");
  TempFile tmp;
  tmp.path = path + ".tmp." + std::to_string(::getpid());
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) {
    const int err = errno;
    tmp.done = true;  // nothing was created
    failed(path, "creating " + tmp.path, err);
  }
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    const ssize_t w = ::write(tmp.fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      failed(path, "writing " + tmp.path, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  if (::fsync(tmp.fd) != 0) failed(path, "flushing " + tmp.path, errno);
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) failed(path, "closing " + tmp.path, errno);
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) failed(path, "renaming " + tmp.path + " over it", errno);
  tmp.done = true;
  const fs::path parent = fs::path(path).parent_path();
  const int dfd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // makes the rename durable; a folder that refuses fsync is not an error
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace gpunet::io::detail
