// CIFAR-10 binary layout: reading, checking, and the embedded sample's location.
#include "gpunet/data/cifar10.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "gpunet/config.h"
#include "gpunet/error.h"

namespace fs = std::filesystem;

namespace gpunet::data {
namespace {

const char* const kFix = "re-download with `gpunet data download cifar10`";

std::vector<std::string> split_files(Split split) {
  if (split == Split::Test) return {"test_batch.bin"};
  std::vector<std::string> f;
  for (int i = 1; i <= 5; ++i) f.push_back("data_batch_" + std::to_string(i) + ".bin");
  return f;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

std::string resolve_cifar10_dir(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (fs::exists(d / "data_batch_1.bin", ec) || fs::exists(d / "test_batch.bin", ec)) return dir;
  if (fs::is_directory(d / kCifar10Folder, ec)) return (d / kCifar10Folder).string();
  return dir;
}

void read_cifar10_file(const std::string& path, ImageDataset& out) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw InputError(detail::cat(path, ": not found; download CIFAR-10 with `gpunet data download cifar10`, or "
                                       "extract cifar-10-binary.tar.gz by hand so that this file exists"));
  const uint64_t bytes = fs::file_size(path, ec);
  GPUNET_INPUT_CHECK(!ec, path, ": cannot read its size (", ec.message(), ")");
  const uint64_t R = kCifar10RecordBytes;
  GPUNET_INPUT_CHECK(bytes > 0, path, ": the file is empty (expected whole 3073-byte records); ", kFix);
  GPUNET_INPUT_CHECK(bytes % R == 0, path, ": ", bytes, " bytes is not a whole number of 3073-byte records (",
                     bytes / R, " records and ", bytes % R, " bytes left over); the file is truncated or not a "
                     "CIFAR-10 batch; ", kFix);
  GPUNET_INPUT_CHECK(bytes <= R * kCifar10RecordsPerFile, path, ": ", bytes, " bytes is ", bytes / R,
                     " records, more than the ", kCifar10RecordsPerFile, " of a CIFAR-10 batch file (",
                     R * kCifar10RecordsPerFile, " bytes); the file is not a CIFAR-10 batch; ", kFix);
  const int64_t records = static_cast<int64_t>(bytes / R);

  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  GPUNET_INPUT_CHECK(f, path, ": cannot open for reading (check its permissions)");
  std::vector<uint8_t> raw(bytes);
  GPUNET_INPUT_CHECK(std::fread(raw.data(), 1, bytes, f.get()) == bytes, path, ": read fewer than ", bytes,
                     " bytes (the file changed while reading, or an I/O error)");

  const int64_t img = 3 * 32 * 32;
  const size_t img0 = out.images.size(), lab0 = out.labels.size();
  out.images.resize(img0 + records * img);
  out.labels.resize(lab0 + records);
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* rec = raw.data() + r * R;
    if (rec[0] > 9) {
      out.images.resize(img0);
      out.labels.resize(lab0);
      throw InputError(detail::cat(path, ": record ", r, " has label ", int(rec[0]), " (expected 0-9); the file is corrupt, ",
                                   kFix));
    }
    out.labels[lab0 + r] = rec[0];
    std::copy(rec + 1, rec + R, out.images.begin() + static_cast<std::ptrdiff_t>(img0 + r * img));
  }
  out.n += records;
}

std::vector<std::string> read_cifar10_meta(const std::string& path) {
  std::ifstream in(path);
  GPUNET_INPUT_CHECK(in, path, ": not found or unreadable; it lists the 10 class names, one a line; ", kFix);
  std::vector<std::string> names;
  std::string line;
  int lineno = 0, blank_at = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!blank_at) blank_at = lineno;
      continue;
    }
    GPUNET_INPUT_CHECK(!blank_at, path, ": line ", blank_at, " is empty but class names follow it; ", kFix);
    names.push_back(line);
  }
  GPUNET_INPUT_CHECK(names.size() == 10, path, ": has ", names.size(), " class names (expected 10, one a line); ", kFix);
  return names;
}

Cifar10::Cifar10(const std::string& dir, Split split) : dir_(resolve_cifar10_dir(dir)) {
  GPUNET_INPUT_CHECK(fs::is_directory(dir_), dir_, ": no such folder; download CIFAR-10 with "
                     "`gpunet data download cifar10` (or use the embedded sample, ", sample_dir(), ")");
  c = 3;
  h = 32;
  w = 32;
  classes = read_cifar10_meta((fs::path(dir_) / "batches.meta.txt").string());
  // Reserve the whole split up front: growing the vector file by file would briefly hold
  // two copies of it (the peak memory of a training run).
  uint64_t total = 0;
  for (const auto& f : split_files(split)) {
    std::error_code ec;
    const uint64_t b = fs::file_size(fs::path(dir_) / f, ec);
    if (!ec) total += b / kCifar10RecordBytes;
  }
  images.reserve(total * 3 * 32 * 32);
  labels.reserve(total);
  for (const auto& f : split_files(split)) read_cifar10_file((fs::path(dir_) / f).string(), *this);
}

std::string Cifar10Summary::str() const {
  std::ostringstream os;
  os << dir << ": CIFAR-10, " << train << " train + " << test << " test records"
     << (standard ? " (the full dataset)" : " (a subset)") << "\n";
  for (size_t k = 0; k < classes.size(); ++k)
    os << "  " << k << " " << classes[k] << ": " << (k < train_per_class.size() ? train_per_class[k] : 0)
       << " train, " << (k < test_per_class.size() ? test_per_class[k] : 0) << " test\n";
  return os.str();
}

Cifar10Summary verify_cifar10(const std::string& dir) {
  Cifar10 tr(dir, Split::Train);
  Cifar10 te(dir, Split::Test);
  Cifar10Summary s;
  s.dir = tr.dir();
  s.classes = tr.classes;
  s.train = tr.n;
  s.test = te.n;
  s.train_per_class = tr.class_counts();
  s.test_per_class = te.class_counts();
  s.standard = s.train == 5 * kCifar10RecordsPerFile && s.test == kCifar10RecordsPerFile;
  return s;
}

std::string sample_dir() {
  std::error_code ec;
  if (fs::is_directory(GPUNET_DATA_SAMPLE_DIR, ec)) return GPUNET_DATA_SAMPLE_DIR;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& p : {exe.parent_path() / ".." / "share" / "gpunet" / "cifar10-sample",
                              exe.parent_path() / "cifar10-sample"})
      if (fs::is_directory(p, ec)) return fs::weakly_canonical(p, ec).string();
  }
  return GPUNET_DATA_SAMPLE_DIR;
}

}  // namespace gpunet::data
