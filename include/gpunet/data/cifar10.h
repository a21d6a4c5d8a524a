#pragma once
/// CIFAR-10 in the official binary layout (cifar-10-batches-bin/): data_batch_1..5.bin (train),
/// test_batch.bin (test), batches.meta.txt (class names, one a line). A record is 3,073 bytes:
/// a label byte 0-9, then 1,024 red, 1,024 green and 1,024 blue bytes (row-major 32x32 planes).
///   gpunet::data::Cifar10 train("data/cifar10", gpunet::data::Split::Train);  // 50,000 records
///   auto s = gpunet::data::verify_cifar10("data/cifar10");  std::cout << s.str();
/// Every problem with the files is a gpunet::InputError naming the file, the record and the fix.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gpunet/data/dataset.h"

namespace gpunet::data {

constexpr int64_t kCifar10RecordBytes = 3073;
constexpr int64_t kCifar10RecordsPerFile = 10000;  // in the official files; fewer are accepted
constexpr const char* kCifar10Folder = "cifar-10-batches-bin";
constexpr const char* kCifar10Url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
constexpr const char* kCifar10Md5 = "c32a1d4ab5d03f1284b67883e8d87530";
constexpr uint64_t kCifar10ArchiveBytes = 170052171;

/// The folder holding the batch files: `dir` itself when it has data_batch_1.bin or
/// test_batch.bin, else `dir/cifar-10-batches-bin` when that exists, else `dir` unchanged.
std::string resolve_cifar10_dir(const std::string& dir);

/// Reads one split. Requires: the split's files (and batches.meta.txt) exist and are whole.
/// Guarantees: n = total records, c,h,w = 3,32,32, records in file order (batch 1 first),
/// classes = the 10 names from batches.meta.txt. Throws InputError otherwise.
class Cifar10 : public ImageDataset {
 public:
  Cifar10(const std::string& dir, Split split);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

/// Reads one batch file, appending its records to `out` (images, labels, n). Checks the size
/// (non-empty, whole records, at most 10,000) and every label. Throws InputError naming the file.
void read_cifar10_file(const std::string& path, ImageDataset& out);
/// Reads batches.meta.txt: exactly 10 non-empty names (blank trailing lines are ignored).
std::vector<std::string> read_cifar10_meta(const std::string& path);

struct Cifar10Summary {
  std::string dir;                      // the resolved folder
  std::vector<std::string> classes;
  int64_t train = 0, test = 0;          // records
  std::vector<int64_t> train_per_class, test_per_class;
  bool standard = false;                // the official sizes: 50,000 + 10,000
  std::string str() const;              // a few human-readable lines
};
/// Checks a dataset folder: every file's size and label, the meta file. Throws InputError on
/// the first problem; returns what it found.
Cifar10Summary verify_cifar10(const std::string& dir);

/// Progress of a download: bytes so far and the total (0 when the server did not say).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

/// Downloads the binary archive from `url` (https://, http:// or file://), checks its MD5
/// (skipped when `md5` is empty), extracts only the expected members
/// (cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin, batches.meta.txt, readme.html};
/// an absolute or '..' member path is rejected) into a temporary folder inside `dir`, verifies
/// it, and renames it to `dir/cifar-10-batches-bin`. On any failure nothing is left behind.
/// When that folder already exists and verifies, nothing is downloaded. Throws InputError
/// (no network: says so and how to place the files by hand).
///   gpunet::data::download_cifar10("data", gpunet::data::kCifar10Url, gpunet::data::kCifar10Md5, nullptr);
Cifar10Summary download_cifar10(const std::string& dir, const std::string& url = kCifar10Url,
                                const std::string& md5 = kCifar10Md5, const ProgressFn& progress = nullptr);

/// The MD5 of a file as 32 lowercase hex digits. Throws InputError when it cannot be read.
std::string md5_file(const std::string& path);
/// The MD5 of a buffer as 32 lowercase hex digits.
std::string md5_hex(const void* data, size_t bytes);

/// The embedded sample (data/cifar10-sample: 2,000 train + 500 test records, the same layout):
/// GPUNET_DATA_SAMPLE_DIR from gpunet/config.h, or, when the source tree is gone,
/// <exe dir>/../share/gpunet/cifar10-sample or <exe dir>/cifar10-sample if present.
std::string sample_dir();

}  // namespace gpunet::data
