// safetensors reader and writer. See include/gpunet/io/safetensors.h for the format.
// The writer reproduces the Python library's bytes (tensor order, key order, padding); the
// reader validates every header field before it touches the data.
#include "gpunet/io/safetensors.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts are not supported");

namespace gpunet::io {
namespace {

namespace fs = std::filesystem;

bool all_digits(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

struct DTypeName {
  DType dtype;
  const char* name;
  int rank;  // the Python library writes higher ranks first (its Dtype enum order, descending)
};
constexpr DTypeName kDTypes[] = {
    {DType::Int64, "I64", 4}, {DType::Float64, "F64", 3}, {DType::Float32, "F32", 2},
    {DType::Int32, "I32", 1}, {DType::UInt8, "U8", 0},
};

const DTypeName& dtype_entry(DType t) {
  for (const auto& e : kDTypes)
    if (e.dtype == t) return e;
  throw Error(detail::cat("safetensors: unsupported dtype ", dtype_name(t)));
}

std::string errno_str(int err) { return std::strerror(err); }

// ---- writing --------------------------------------------------------------------------

// Removes the temporary file unless the save completed (it was renamed away).
struct TempFileGuard {
  std::string path;
  int fd = -1;
  bool done = false;
  ~TempFileGuard() {
    if (fd >= 0) ::close(fd);
    if (!done) ::unlink(path.c_str());
  }
};

[[noreturn]] void write_failed(const std::string& path, const std::string& what, int err) {
  throw InputError(detail::cat("cannot save ", path, ": ", what, ": ", errno_str(err)));
}

void write_all(int fd, const void* data, size_t n, const std::string& path, const std::string& tmp) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      write_failed(path, "writing " + tmp, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string parent_dir(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// fsync of the folder makes the rename durable. The file is already complete and in place
// when this runs, so a folder that cannot be fsynced (some filesystems refuse) is not an error.
void sync_dir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  (void)::fsync(dfd);
  ::close(dfd);
}

// Removes `<name>.tmp.<pid>` files left next to `path` by writers that were killed.
void remove_stale_temps(const std::string& path) {
  const std::string prefix = fs::path(path).filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(parent_dir(path), ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || !all_digits(digits)) continue;
    pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || pid <= 0) continue;
    if (::kill(pid, 0) == -1 && errno == ESRCH) ::unlink(it->path().c_str());
  }
}

// ---- reading --------------------------------------------------------------------------

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw InputError(detail::cat("safetensors file ", path, ": ", what));
}

struct Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
};

// A non-negative JSON integer that fits int64, or -1.
int64_t as_nonneg_int(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return std::max<int64_t>(v.get<int64_t>(), -1);
  return -1;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v, uint64_t data_size) {
  if (!v.is_object()) bad(path, "entry for tensor '" + name + "' is not a JSON object");
  Entry e{name, DType::Float32, {}, 0, 0};
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) bad(path, "tensor '" + name + "' has no \"dtype\" string");
  const std::string dname = dt->get<std::string>();
  const DTypeName* found = nullptr;
  for (const auto& d : kDTypes)
    if (dname == d.name) found = &d;
  if (!found) bad(path, "tensor '" + name + "' has unknown or unsupported dtype '" + dname + "' (gpunet reads F32, F64, I64, I32, U8)");
  e.dtype = found->dtype;

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) bad(path, "tensor '" + name + "' has no \"shape\" array");
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    int64_t n = as_nonneg_int(d);
    if (n < 0) bad(path, "tensor '" + name + "' has shape " + sh->dump() + ": dimensions must be non-negative integers");
    e.shape.push_back(n);
    overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(n), &numel);
  }
  uint64_t nbytes = 0;
  overflow |= numel > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, dtype_size(e.dtype), &nbytes);
  if (overflow) bad(path, "tensor '" + name + "' has shape " + sh->dump() + ", whose size overflows");

  auto off = v.find("data_offsets");
  int64_t b = -1, en = -1;
  if (off != v.end() && off->is_array() && off->size() == 2) {
    b = as_nonneg_int((*off)[0]);
    en = as_nonneg_int((*off)[1]);
  }
  if (b < 0 || en < 0)
    bad(path, "tensor '" + name + "' has data_offsets " + (off == v.end() ? std::string("missing") : off->dump()) +
                  ", expected [begin, end] with non-negative integers");
  e.begin = static_cast<uint64_t>(b);
  e.end = static_cast<uint64_t>(en);
  const std::string offs = detail::cat("[", b, ", ", en, "]");
  if (e.end < e.begin) bad(path, "tensor '" + name + "' has data_offsets " + offs + " with end before begin");
  if (e.end > data_size)
    bad(path, "tensor '" + name + "' has data_offsets " + offs + " outside the data section (" + std::to_string(data_size) +
                  " bytes; truncated file?)");
  if (e.end - e.begin != nbytes)
    bad(path, "tensor '" + name + "' has data_offsets " + offs + " holding " + std::to_string(e.end - e.begin) +
                  " bytes, but shape " + shape_str(e.shape) + " of " + dname + " needs " + std::to_string(nbytes));
  return e;
}

}  // namespace

const char* safetensors_dtype_name(DType t) { return dtype_entry(t).name; }

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Validate and order as the Python library does: dtype rank descending, then name.
  std::set<std::string> names;
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    GPUNET_CHECK(!name.empty() && name != "__metadata__", "save_safetensors ", path, ": invalid tensor name '", name, "'");
    GPUNET_CHECK(names.insert(name).second, "save_safetensors ", path, ": duplicate tensor name '", name, "'");
    GPUNET_CHECK(t.defined(), "save_safetensors ", path, ": tensor '", name, "' is undefined");
    dtype_entry(t.dtype());
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int ra = dtype_entry(tensors[a].second.dtype()).rank, rb = dtype_entry(tensors[b].second.dtype()).rank;
    return ra != rb ? ra > rb : tensors[a].first < tensors[b].first;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = md;
  }
  uint64_t offset = 0;
  for (size_t i : order) {
    const Tensor& t = tensors[i].second;
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = dtype_entry(t.dtype()).name;
    e["shape"] = t.shape();
    e["data_offsets"] = {offset, offset + t.nbytes()};
    header[tensors[i].first] = e;
    offset += t.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& ex) {
    throw Error(detail::cat("save_safetensors ", path, ": a tensor name or metadata string is not valid UTF-8"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();

  TempFileGuard tmp;
  tmp.path = path + ".tmp." + std::to_string(::getpid());
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) {
    tmp.done = true;  // nothing was created
    write_failed(path, "creating " + tmp.path, errno);
  }
  write_all(tmp.fd, &header_len, 8, path, tmp.path);
  write_all(tmp.fd, text.data(), text.size(), path, tmp.path);
  for (size_t i : order) {
    Tensor host = tensors[i].second.cpu().contiguous();
    if (host.nbytes() > 0) write_all(tmp.fd, host.raw_data(), host.nbytes(), path, tmp.path);
  }
  if (::fsync(tmp.fd) != 0) write_failed(path, "flushing " + tmp.path, errno);
  int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) write_failed(path, "closing " + tmp.path, errno);
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) write_failed(path, "renaming " + tmp.path + " over it", errno);
  tmp.done = true;
  sync_dir(parent_dir(path));
  remove_stale_temps(path);
}

namespace {
SafetensorsFile read_file(const std::string& path, bool with_tensors) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(detail::cat("cannot open safetensors file ", path, ": ", errno_str(errno)));
  struct stat st {};
  int rc = ::fstat(fd, &st);
  int err = errno;
  Mapping map;
  if (rc == 0 && S_ISREG(st.st_mode) && st.st_size >= 8) {
    map.size = static_cast<size_t>(st.st_size);
    map.base = ::mmap(nullptr, map.size, PROT_READ, MAP_PRIVATE, fd, 0);
    err = errno;
  }
  ::close(fd);
  if (rc != 0) bad(path, "cannot stat: " + errno_str(err));
  if (!S_ISREG(st.st_mode)) bad(path, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) bad(path, "file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length (truncated?)");
  if (map.base == MAP_FAILED) bad(path, "cannot map into memory: " + errno_str(err));
  const char* base = static_cast<const char*>(map.base);

  uint64_t n = 0;
  std::memcpy(&n, base, 8);
  if (n > file_size - 8 || n > kMaxSafetensorsHeader)
    bad(path, "header length " + std::to_string(n) + " exceeds the file (" + std::to_string(file_size) +
                  " bytes) or 100 MB: corrupt or huge header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + n);
  } catch (const nlohmann::json::parse_error& ex) {
    bad(path, "header is not valid JSON (error at byte " + std::to_string(8 + ex.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // e.g. out_of_range 406: a number like 1E99999 (found by fuzzing)
    bad(path, "header is not valid JSON (a number out of range)");
  }
  if (!header.is_object()) bad(path, "header is not a JSON object");

  const uint64_t data_size = file_size - 8 - n;
  const char* data = base + 8 + n;
  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) bad(path, "__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) bad(path, "__metadata__ entry '" + mk + "' is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, key, value, data_size));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Entry* prev = nullptr;  // the last non-empty tensor
  for (const Entry& e : entries) {
    if (e.end == e.begin) continue;
    if (prev && e.begin < prev->end) bad(path, "tensors '" + prev->name + "' and '" + e.name + "' overlap");
    prev = &e;
  }
  if (!with_tensors) return out;
  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) out.tensors.emplace_back(e.name, Tensor::from_blob(data + e.begin, e.shape, e.dtype));
  return out;
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) { return read_file(path, true); }

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  return read_file(path, false).metadata;
}

}  // namespace gpunet::io
