#pragma once
/// The safetensors file format (https://github.com/huggingface/safetensors), read and written
/// byte-compatibly with the Python `safetensors` library:
///   8 bytes   little-endian u64 N, the header length
///   N bytes   JSON: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
///             "data_offsets": [begin, end]}, ...}, padded with spaces to a multiple of 8
///   the rest  raw little-endian tensor data; offsets count from the start of this section
/// Supported dtypes: F32, F64, I64, I32, U8 (gpunet's DType).
///
///   gpunet::io::save_safetensors("w.safetensors", {{"fc.weight", w}}, {{"format", "pt"}});
///   auto f = gpunet::io::load_safetensors("w.safetensors");   // f.tensors[0].second is on the CPU
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet::io {

/// The largest header accepted (the same bound as the Python library's).
constexpr size_t kMaxSafetensorsHeader = 100'000'000;

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // CPU, contiguous, in file order (by offset)
  std::map<std::string, std::string> metadata;          // "__metadata__" (empty when absent)
};

/// Writes `tensors` (on any device; copied to the host one at a time) and `metadata` to `path`.
/// Layout as the Python library writes it: tensors sorted by dtype alignment (I64, F64, F32,
/// I32, U8), then by name; no gaps; header padded to 8 bytes.
/// Atomic: writes `<path>.tmp.<pid>` in the same folder, fsyncs it, rename(2)s it over `path`,
/// fsyncs the folder. On any failure (missing or read-only folder, full disk, a tensor that
/// cannot be copied) it removes the temporary file, leaves a previous `path` untouched and
/// throws InputError naming `path` and the cause. Temporary files left by killed writers
/// (their pid no longer runs) are removed after a successful save.
/// Requires: names unique and non-empty, none is "__metadata__".
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads a whole safetensors file onto the CPU (memory-mapped; each tensor is copied once).
/// Throws InputError, one line naming the file and the problem, when the file is missing,
/// shorter than 8 bytes, has a corrupt or huge header, a header that is not a JSON object,
/// an unsupported dtype, a negative or overflowing shape, or data_offsets that are malformed,
/// outside the data section, overlapping, or do not match shape x dtype size.
SafetensorsFile load_safetensors(const std::string& path);

/// The same checks as load_safetensors, but returns only the metadata (no tensor is copied).
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

/// The dtype's safetensors name ("F32") and back (throws InputError for others, e.g. "BF16").
const char* safetensors_dtype_name(DType t);

}  // namespace gpunet::io
