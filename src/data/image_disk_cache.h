#pragma once
// The on-disk form of the decode-once cache (ImageSetOptions::cache_dir, `--cache DIR`): every
// record decoded straight into a file that is then memory-mapped read-only, so a set larger than
// memory trains from the page cache and a later run (or epoch) with the same files decodes
// nothing. One file per folder, image size and split:
//   CACHE/gpunet-images-<16 hex digits>.u8
//     64-byte header: "GPUNETIC", version, image size, fingerprint, train/val/bad counts, label room
//     labels (uint8, room for every file), then the records (3 x S x S uint8), train before val
// The fingerprint covers the format, the image size, the split, --skip-bad-images, and every
// file's path, size, modification time and label. A file whose header, fingerprint or length
// disagrees (stale, truncated, foreign) is rebuilt, and `note` says why. Written as tmp +
// rename: a crash leaves no half file under the real name.
#include <memory>
#include <string>
#include <vector>

#include "gpunet/data/image_set.h"

namespace gpunet::data::detail {

struct CachedSets {
  std::shared_ptr<ImageDataset> train, val;  // null when bad images stop the build (see bad_files)
  std::vector<std::string> bad_files, errors;  // built now: the files that could not be decoded, and why
  int64_t bad = 0;                            // how many the cache left out (also on a hit)
  bool hit = false;                           // read back, nothing decoded
  std::string path, note;                     // the file; why it was rebuilt ("" when new or a hit)
};

/// Opens or builds the cache of `files` (labels[i] each; the first n_train are the training
/// split). With bad images and !o.skip_bad nothing is written and train/val stay null.
/// InputError (one line) when the folder cannot be written or the disk is full.
CachedSets open_disk_cache(const std::string& dir, const std::vector<std::string>& files,
                           const std::vector<uint8_t>& labels, int64_t n_train,
                           const std::vector<std::string>& classes, const ImageSetOptions& o);

}  // namespace gpunet::data::detail
