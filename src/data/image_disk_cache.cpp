// The memory-mapped decode-once cache of image folders (see image_disk_cache.h).
#include "data/image_disk_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "gpunet/error.h"

namespace fs = std::filesystem;

namespace gpunet::data::detail {
namespace {

constexpr uint32_t kVersion = 1;
constexpr char kMagic[8] = {'G', 'P', 'U', 'N', 'E', 'T', 'I', 'C'};

struct Header {
  char magic[8];
  uint32_t version, size;
  uint64_t fingerprint;
  int64_t n_train, n_val, bad, label_room;
  uint64_t reserved;
};
static_assert(sizeof(Header) == 64);

struct Fnv {
  uint64_t h = 1469598103934665603ULL;
  void add(const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ULL;
  }
  void add(const std::string& s) { add(s.c_str(), s.size() + 1); }
  template <class T>
  void num(T v) { add(&v, sizeof v); }
};

std::string hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

int64_t label_room(size_t n) { return static_cast<int64_t>((n + 63) / 64 * 64); }

// A read-only mapping of the whole file, shared by the datasets that point into it.
std::shared_ptr<const uint8_t> map_file(int fd, size_t len, const std::string& path) {
  void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  GPUNET_INPUT_CHECK(p != MAP_FAILED, path, ": cannot map the image cache (", std::strerror(errno), ")");
  return std::shared_ptr<const uint8_t>(static_cast<const uint8_t*>(p),
                                        [len](const uint8_t* q) { munmap(const_cast<uint8_t*>(q), len); });
}

CachedSets datasets(std::shared_ptr<const uint8_t> base, const Header& h, const std::vector<std::string>& classes) {
  CachedSets out;
  const int64_t rec = int64_t(3) * h.size * h.size;
  const uint8_t* labels = base.get() + sizeof(Header);
  const uint8_t* images = labels + h.label_room;
  int64_t first = 0;
  for (auto* ds : {&out.train, &out.val}) {
    const int64_t n = ds == &out.train ? h.n_train : h.n_val;
    *ds = std::make_shared<ImageDataset>();
    (*ds)->c = 3;
    (*ds)->h = (*ds)->w = static_cast<int>(h.size);
    (*ds)->classes = classes;
    (*ds)->n = n;
    (*ds)->labels.assign(labels + first, labels + first + n);
    (*ds)->mapped = std::shared_ptr<const uint8_t>(base, images + first * rec);
    first += n;
  }
  out.bad = h.bad;
  return out;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

CachedSets open_disk_cache(const std::string& dir, const std::vector<std::string>& files,
                           const std::vector<uint8_t>& labels, int64_t n_train,
                           const std::vector<std::string>& classes, const ImageSetOptions& o) {
  std::error_code ec;
  // The file's name: which folder, size and split; its fingerprint: what those files are now.
  Fnv name, print;
  name.add(fs::absolute(dir, ec).lexically_normal().string());
  name.num(o.size);
  name.num(o.eval_only);
  name.num(o.val_split);
  name.num(o.seed);
  print.num(kVersion);
  print.num(o.size);
  print.num(o.skip_bad);
  print.num(n_train);
  for (size_t i = 0; i < files.size(); ++i) {
    struct stat st {};
    if (stat(files[i].c_str(), &st) != 0) st = {};
    print.add(files[i]);
    print.num(static_cast<int64_t>(st.st_size));
    print.num(static_cast<int64_t>(st.st_mtim.tv_sec));
    print.num(static_cast<int64_t>(st.st_mtim.tv_nsec));
    print.num(labels[i]);
  }
  CachedSets out;
  out.path = (fs::path(o.cache_dir) / ("gpunet-images-" + hex(name.h) + ".u8")).string();
  const int64_t rec = int64_t(3) * o.size * o.size;

  // A hit: the header agrees and the file has every byte it promises.
  {
    Fd f;
    f.fd = open(out.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd >= 0) {
      Header h{};
      struct stat st {};
      const bool header = pread(f.fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) &&
                          std::memcmp(h.magic, kMagic, 8) == 0 && h.version == kVersion;
      if (!header) {
        out.note = out.path + " is not a gpunet image cache of this version: rebuilding it";
      } else if (h.fingerprint != print.h || h.size != static_cast<uint32_t>(o.size)) {
        out.note = out.path + " is stale (the images changed): rebuilding it";
      } else if (fstat(f.fd, &st) != 0 || h.n_train < 0 || h.n_val < 0 || h.label_room < h.n_train + h.n_val ||
                 st.st_size != static_cast<off_t>(sizeof h + h.label_room + (h.n_train + h.n_val) * rec)) {
        out.note = out.path + " is truncated or damaged: rebuilding it";
      } else {
        CachedSets c = datasets(map_file(f.fd, static_cast<size_t>(st.st_size), out.path), h, classes);
        c.hit = true;
        c.path = out.path;
        return c;
      }
    }
  }

  // Build: decode straight into the mapped temporary file, move the good records together,
  // then rename it into place and map it read-only.
  const std::string tmp = out.path + ".tmp" + std::to_string(getpid());
  const int64_t room = label_room(files.size());
  const size_t full = sizeof(Header) + static_cast<size_t>(room) + files.size() * static_cast<size_t>(rec);
  Fd f;
  f.fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  GPUNET_INPUT_CHECK(f.fd >= 0, out.path, ": cannot write the image cache (", std::strerror(errno),
                     "); choose a writable folder with --cache DIR");
  auto fail = [&](const std::string& why) {
    fs::remove(tmp, ec);
    throw InputError(gpunet::detail::cat(out.path, ": cannot write the image cache (", why, ")"));
  };
  // Reserve the blocks now: a full disk is this one line, not a SIGBUS while writing the mapping.
  if (const int e = posix_fallocate(f.fd, 0, static_cast<off_t>(full)); e != 0)
    fail(std::string(std::strerror(e)) + "; it needs " + std::to_string(full >> 20) + " MB; free space or choose another --cache DIR");
  void* p = mmap(nullptr, full, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (p == MAP_FAILED) fail(std::strerror(errno));
  auto* base = static_cast<uint8_t*>(p);
  uint8_t* lab = base + sizeof(Header);
  uint8_t* img = lab + room;
  std::vector<bool> ok;
  decode_files_into(files, o.size, o.threads, o.progress, img, ok, out.errors);
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.size = static_cast<uint32_t>(o.size);
  h.fingerprint = print.h;
  h.label_room = room;
  int64_t kept = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!ok[i]) {
      out.bad_files.push_back(files[i]);
      continue;
    }
    if (kept != static_cast<int64_t>(i)) std::memmove(img + kept * rec, img + i * rec, static_cast<size_t>(rec));
    lab[kept++] = labels[i];
    (static_cast<int64_t>(i) < n_train ? h.n_train : h.n_val)++;
  }
  h.bad = static_cast<int64_t>(out.bad_files.size());
  if (h.bad > 0 && !o.skip_bad) {  // the caller lists them and stops: no cache
    munmap(p, full);
    fs::remove(tmp, ec);
    std::vector<std::string> errors;
    for (const std::string& e : out.errors)
      if (!e.empty()) errors.push_back(e);
    out.errors = errors;
    return out;
  }
  std::memcpy(base, &h, sizeof h);
  const size_t used = sizeof(Header) + static_cast<size_t>(room) + static_cast<size_t>(kept * rec);
  const bool synced = msync(p, full, MS_SYNC) == 0;
  munmap(p, full);
  if (!synced || ftruncate(f.fd, static_cast<off_t>(used)) != 0 || fsync(f.fd) != 0) fail(std::strerror(errno));
  fs::rename(tmp, out.path, ec);
  if (ec) fail(ec.message());
  CachedSets c = datasets(map_file(f.fd, used, out.path), h, classes);
  c.path = out.path;
  c.note = out.note;
  c.bad_files = out.bad_files;
  for (const std::string& e : out.errors)
    if (!e.empty()) c.errors.push_back(e);
  return c;
}

}  // namespace gpunet::data::detail
