#pragma once
// Writing a whole file atomically, for io::export_onnx.
#include <string>

namespace gpunet::io::detail {

/// Writes `bytes` to `<path>.tmp.<pid>` in path's folder, fsyncs it and renames it over `path`.
/// On failure removes the temporary file, leaves a previous `path` as it was, and throws
/// InputError "cannot write <path>: <what>: <cause>" (one line), with a hint for a missing folder.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace gpunet::io::detail
