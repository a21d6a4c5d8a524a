// Image folders for the command: layout detection, class folders, the seeded split, the
// decode-once cache and the dataset's normalisation (cached beside the data).
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/image_set.h"
#include "gpunet/data/loader.h"
#include "data/image_codecs.h"
#include "data/image_disk_cache.h"
#include "gpunet/error.h"

namespace fs = std::filesystem;

namespace gpunet::data {
namespace {

std::vector<fs::path> subdirs(const fs::path& dir) {
  std::vector<fs::path> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && e.path().filename().string()[0] != '.') v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

// The held-out split's folder of a TrainVal layout: val/, else test/.
fs::path val_dir(const fs::path& root) {
  std::error_code ec;
  return fs::is_directory(root / "val", ec) ? root / "val" : root / "test";
}

// Records `idx` (decoded in `dec`, labelled by `labels`) as a dataset; unreadable ones left out.
std::shared_ptr<ImageDataset> make_dataset(const std::vector<std::string>& classes, const std::vector<uint8_t>& labels, const DecodedSet& dec,
                                           const std::vector<int64_t>& idx, int size) {
  auto ds = std::make_shared<ImageDataset>();
  ds->c = 3;
  ds->h = ds->w = size;
  ds->classes = classes;
  const int64_t rec = ds->record_bytes();
  for (int64_t i : idx) {
    if (!dec.ok[i]) continue;
    ds->images.insert(ds->images.end(), dec.images.begin() + i * rec, dec.images.begin() + (i + 1) * rec);
    ds->labels.push_back(labels[i]);
    ++ds->n;
  }
  return ds;
}

// The mean/std cache: DIR/.gpunet-stats-S.json (or in stats_dir), valid for the same image
// count and size. Written atomically; a folder that cannot be written is not an error.
std::string stats_path(const std::string& dir, const ImageSetOptions& o) {
  const fs::path base = o.stats_dir.empty() ? fs::path(dir) : fs::path(o.stats_dir);
  return (base / (".gpunet-stats-" + std::to_string(o.size) + ".json")).string();
}

bool read_stats(const std::string& path, int64_t n, std::vector<float>& mean, std::vector<float>& std) {
  std::ifstream in(path);
  if (!in) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    if (j.at("images").get<int64_t>() != n) return false;
    mean = j.at("mean").get<std::vector<float>>();
    std = j.at("std").get<std::vector<float>>();
    return mean.size() == 3 && std.size() == 3;
  } catch (const std::exception&) {
    return false;
  }
}

void write_stats(const std::string& path, int64_t n, const std::vector<float>& mean, const std::vector<float>& std) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) return;
    out << nlohmann::json{{"images", n}, {"mean", mean}, {"std", std}}.dump() << "\n";
    if (!out) return;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
}

[[noreturn]] void throw_bad(const std::string& dir, size_t bad, size_t total) {
  throw InputError(gpunet::detail::cat(dir, ": ", bad, " of ", total,
                                       " images cannot be decoded (listed above); fix or remove them, or pass --skip-bad-images"));
}

}  // namespace

int64_t ClassFolders::count() const {
  int64_t n = 0;
  for (const auto& f : files) n += static_cast<int64_t>(f.size());
  return n;
}

FolderLayout detect_layout(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return FolderLayout::Unknown;
  const fs::path r = resolve_cifar10_dir(dir);
  if (fs::exists(r / "test_batch.bin", ec) || fs::exists(r / "data_batch_1.bin", ec)) return FolderLayout::Cifar10;
  const fs::path root(dir);
  if (fs::is_directory(root / "train", ec) && (fs::is_directory(root / "val", ec) || fs::is_directory(root / "test", ec)))
    return FolderLayout::TrainVal;
  return subdirs(root).empty() ? FolderLayout::Unknown : FolderLayout::ClassFolders;
}

const char* layout_name(FolderLayout l) {
  switch (l) {
    case FolderLayout::Cifar10: return "CIFAR-10 binary";
    case FolderLayout::TrainVal: return "train/val image folders";
    case FolderLayout::ClassFolders: return "class folders";
    default: return "unknown";
  }
}

ClassFolders list_class_folders(const std::string& dir) {
  const std::vector<fs::path> dirs = subdirs(dir);
  GPUNET_INPUT_CHECK(!dirs.empty(), dir, ": has no class folders (expected ", dir, "/<class>/<images>)");
  GPUNET_INPUT_CHECK(dirs.size() <= 256, dir, ": has ", dirs.size(), " class folders (at most 256)");
  ClassFolders cf;
  for (const fs::path& d : dirs) {
    std::vector<std::string> imgs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.is_regular_file(ec) && codec::has_image_extension(e.path().string())) imgs.push_back(e.path().string());
    GPUNET_INPUT_CHECK(!imgs.empty(), d.string(), ": the class folder holds no .png/.jpg/.jpeg image; add images or remove it");
    std::sort(imgs.begin(), imgs.end());
    cf.classes.push_back(d.filename().string());
    cf.files.push_back(std::move(imgs));
  }
  return cf;
}

ImageSet open_image_set(const std::string& dir, const ImageSetOptions& o) {
  GPUNET_CHECK(o.size > 0, "open_image_set: size must be positive, got ", o.size);
  ImageSet set;
  set.layout = detect_layout(dir);
  GPUNET_INPUT_CHECK(set.layout == FolderLayout::TrainVal || set.layout == FolderLayout::ClassFolders, dir,
                     ": not an image folder (expected DIR/<class>/<images>, or DIR/train/<class>/... with DIR/val/<class>/...)");
  // Every file, labelled, and which of them are train and which val.
  std::vector<std::string> classes, files;
  std::vector<uint8_t> labels;
  std::vector<int64_t> train_idx, val_idx;
  auto add = [&](const ClassFolders& cf, std::vector<int64_t>& into) {
    for (size_t k = 0; k < cf.files.size(); ++k)
      for (const std::string& f : cf.files[k]) {
        into.push_back(static_cast<int64_t>(files.size()));
        files.push_back(f);
        labels.push_back(static_cast<uint8_t>(k));
      }
  };
  if (set.layout == FolderLayout::TrainVal) {
    const fs::path vdir = val_dir(dir);
    const ClassFolders val = list_class_folders(vdir.string());
    if (!o.eval_only) {
      const ClassFolders train = list_class_folders((fs::path(dir) / "train").string());
      for (const std::string& c : train.classes)
        GPUNET_INPUT_CHECK(std::binary_search(val.classes.begin(), val.classes.end(), c), vdir.string(),
                           ": has no folder for class '", c, "' that train/ has; add ", vdir.string(), "/", c,
                           "/ with images, or remove train/", c);
      for (const std::string& c : val.classes)
        GPUNET_INPUT_CHECK(std::binary_search(train.classes.begin(), train.classes.end(), c), vdir.string(), "/", c,
                           ": class not in train/; add train/", c, "/ with images, or remove it");
      add(train, train_idx);
    }
    classes = val.classes;
    add(val, val_idx);
  } else {
    const ClassFolders cf = list_class_folders(dir);
    classes = cf.classes;
    std::vector<int64_t> all;
    add(cf, all);
    if (o.eval_only) {
      val_idx = all;
    } else {
      GPUNET_INPUT_CHECK(o.val_split >= 0 && o.val_split < 1, "--val-split ", o.val_split, ": must be in [0, 1)");
      // Seeded: the first round(n * val_split) of a permutation are held out; file order kept.
      const int64_t n = static_cast<int64_t>(all.size());
      const auto perm = epoch_permutation(n, o.seed ^ 0x5eedf01dULL, 0);
      const int64_t nv = static_cast<int64_t>(std::llround(static_cast<double>(n) * o.val_split));
      std::vector<char> is_val(static_cast<size_t>(n), 0);
      for (int64_t i = 0; i < nv; ++i) is_val[perm[i]] = 1;
      for (int64_t i = 0; i < n; ++i) (is_val[i] ? val_idx : train_idx).push_back(i);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  int64_t skipped = 0;
  std::string cache_line;
  if (!o.cache_dir.empty()) {
    // Train records first, then val, decoded into the mapped file (or read back from it).
    std::vector<std::string> ordered;
    std::vector<uint8_t> ordered_labels;
    for (const auto* idx : {&train_idx, &val_idx})
      for (int64_t i : *idx) {
        ordered.push_back(files[i]);
        ordered_labels.push_back(labels[i]);
      }
    detail::CachedSets c = detail::open_disk_cache(dir, ordered, ordered_labels, static_cast<int64_t>(train_idx.size()), classes, o);
    if (!c.note.empty()) std::fprintf(stderr, "gpunet: %s\n", c.note.c_str());
    for (const std::string& e : c.errors) std::fprintf(stderr, "gpunet: bad image: %s\n", e.c_str());
    set.bad_files = c.bad_files;
    if (!c.train) throw_bad(dir, set.bad_files.size(), files.size());
    set.train = c.train;
    set.val = c.val;
    skipped = c.bad;
    cache_line = c.hit ? "read " + std::to_string(set.train->n + set.val->n) + " decoded images from the cache " + c.path +
                             " (decoded nothing)"
                       : "cached in " + c.path;
  } else {
    const DecodedSet dec = decode_files(files, o.size, o.threads, o.progress);
    for (size_t i = 0; i < files.size(); ++i)
      if (!dec.ok[i]) {
        std::fprintf(stderr, "gpunet: bad image: %s\n", dec.errors[i].c_str());
        set.bad_files.push_back(files[i]);
      }
    if (!set.bad_files.empty() && !o.skip_bad) throw_bad(dir, set.bad_files.size(), files.size());
    set.train = make_dataset(classes, labels, dec, train_idx, o.size);
    set.val = make_dataset(classes, labels, dec, val_idx, o.size);
    skipped = static_cast<int64_t>(set.bad_files.size());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  GPUNET_INPUT_CHECK(set.train->n + set.val->n > 0, dir, ": no image could be decoded");
  if (!o.eval_only) {
    GPUNET_INPUT_CHECK(set.train->n > 0, dir, ": no training images (--val-split ", o.val_split, " holds out all of them)");
    GPUNET_INPUT_CHECK(set.val->n > 0, dir, ": no validation images; raise --val-split (now ", o.val_split,
                       ") or add a val/ folder");
    const std::string sp = stats_path(dir, o);
    if (!read_stats(sp, set.train->n, set.mean, set.std)) {
      channel_stats(*set.train, set.mean, set.std);
      write_stats(sp, set.train->n, set.mean, set.std);
    }
  }
  set.summary = gpunet::detail::cat(layout_name(set.layout), ": ", set.train->n, " train + ", set.val->n, " val images, ",
                            classes.size(), " classes");
  if (skipped > 0) set.summary += gpunet::detail::cat(" (", skipped, " unreadable images skipped)");
  char rate[96];
  std::snprintf(rate, sizeof rate, "decoded %zu images in %.2f s (%.0f images/s)", files.size(), secs,
                static_cast<double>(files.size()) / std::max(secs, 1e-9));
  set.decode_line = cache_line.rfind("read ", 0) == 0 ? cache_line : cache_line.empty() ? rate : rate + ("; " + cache_line);
  return set;
}

}  // namespace gpunet::data
