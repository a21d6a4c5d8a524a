// Checkpoints on top of safetensors: PyTorch-loadable weights, and training state kept in a
// separate optimizer file that the weights file names (the commit point). See checkpoint.h.
#include "gpunet/io/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "gpunet/config.h"
#include "gpunet/io/safetensors.h"

namespace gpunet::io {
namespace {

namespace fs = std::filesystem;

bool all_digits(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

constexpr const char* kTrainState = "gpunet.train_state";
constexpr const char* kOptimizerFile = "gpunet.optimizer_file";
constexpr const char* kSaveId = "gpunet.save_id";
constexpr const char* kWeightsFile = "gpunet.weights_file";
constexpr const char* kOptimInfix = ".optim-";
constexpr const char* kSuffix = ".safetensors";
constexpr size_t kSaveIdLen = 16;

std::map<std::string, std::string> base_metadata() {
  return {{"format", "pt"}, {"gpunet.version", GPUNET_VERSION}};
}

// 64 random bits as 16 hex digits: unique per save, so optimizer files never collide.
std::string new_save_id() {
  std::random_device rd;
  uint64_t x = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  x ^= mix64(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
             (static_cast<uint64_t>(::getpid()) << 40));
  static const char* hex = "0123456789abcdef";
  std::string s(kSaveIdLen, '0');
  for (size_t i = 0; i < kSaveIdLen; ++i) s[i] = hex[(x >> (4 * i)) & 15];
  return s;
}

std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }

std::string sibling(const std::string& path, const std::string& name) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? name : (parent / name).string();
}

// True when `name` is "<weights>.optim-<16 hex>.safetensors".
bool is_optimizer_file_name(const std::string& weights, const std::string& name) {
  const std::string prefix = weights + kOptimInfix;
  const std::string suffix = kSuffix;
  if (name.size() != prefix.size() + kSaveIdLen + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0 || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  for (size_t i = prefix.size(); i < prefix.size() + kSaveIdLen; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

// True when `name` is "<optimizer file>.tmp.<pid>" and that pid no longer runs.
bool is_stale_optimizer_temp(const std::string& weights, const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || !is_optimizer_file_name(weights, name.substr(0, at))) return false;
  const std::string digits = name.substr(at + 5);
  if (digits.empty() || digits.size() > 9 || !all_digits(digits)) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(digits));
  return pid > 0 && pid != ::getpid() && ::kill(pid, 0) == -1 && errno == ESRCH;
}

// Deletes the optimizer files of earlier saves of `path` except `keep` (a file name), and the
// temporary files of optimizer saves whose writer was killed.
void remove_old_optimizer_files(const std::string& path, const std::string& keep) {
  const std::string weights = file_name(path);
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  for (fs::directory_iterator it(parent.empty() ? fs::path(".") : parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if ((name != keep && is_optimizer_file_name(weights, name)) || is_stale_optimizer_temp(weights, name)) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
}

std::map<std::string, std::string> parse_scalars(const std::string& path, const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  GPUNET_INPUT_CHECK(j.is_object(), "checkpoint ", path, ": metadata ", kTrainState, " is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) {
    GPUNET_INPUT_CHECK(v.is_string(), "checkpoint ", path, ": training state value '", k, "' is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

void save_weights(const std::string& path, const StateDict& weights,
                  const std::map<std::string, std::string>& extra_metadata) {
  auto md = base_metadata();
  for (const auto& [k, v] : extra_metadata) {
    GPUNET_CHECK(k != kTrainState && k != kOptimizerFile && k != kSaveId, "save_weights: metadata key '", k,
                 "' is reserved for training checkpoints");
    md[k] = v;
  }
  save_safetensors(path, weights, md);
  remove_old_optimizer_files(path, "");
}

std::map<std::string, std::string> load_weights(const std::string& path, const StateDict& expected,
                                                const std::string& model_name) {
  SafetensorsFile f = load_safetensors(path);
  std::unordered_map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : f.tensors) by_name[name] = &t;

  std::vector<std::string> missing;
  std::unordered_map<std::string, bool> wanted;
  for (const auto& [name, t] : expected) {
    wanted[name] = true;
    if (!by_name.count(name)) missing.push_back(name);
  }
  if (!missing.empty())
    throw InputError(detail::cat("checkpoint ", path, " is missing tensor ", missing[0],
                                 missing.size() > 1 ? detail::cat(" (and ", missing.size() - 1, " more)") : ""));
  for (const auto& [name, t] : f.tensors)
    if (!wanted.count(name))
      throw InputError(detail::cat("checkpoint ", path, " has unexpected tensor ", name,
                                   model_name.empty() ? "" : "; is it a " + model_name + " checkpoint?"));
  for (const auto& [name, dst] : expected) {
    const Tensor& src = *by_name.at(name);
    if (src.shape() != dst.shape())
      throw InputError(detail::cat("checkpoint ", path, ": tensor ", name, " has shape ", shape_str(src.shape()),
                                   ", expected ", shape_str(dst.shape())));
    if (src.dtype() != dst.dtype())
      throw InputError(detail::cat("checkpoint ", path, ": tensor ", name, " has dtype ", safetensors_dtype_name(src.dtype()),
                                   ", expected ", safetensors_dtype_name(dst.dtype())));
  }
  // Everything checked: copy (a detached alias, so no autograd history is recorded).
  for (const auto& [name, dst] : expected) {
    Tensor alias = dst.detach();
    alias.copy_(*by_name.at(name));
  }
  return f.metadata;
}

void save_train_state(const std::string& path, const TrainState& state) {
  const std::string id = new_save_id();
  const std::string weights = file_name(path);
  GPUNET_INPUT_CHECK(!weights.empty() && weights != "." && weights != "..", "cannot save checkpoint to '", path,
                     "': not a file name");
  const std::string optim_name = weights + kOptimInfix + id + kSuffix;
  const std::string optim_path = sibling(path, optim_name);

  // 1. The optimizer file, under a name no earlier save used.
  save_safetensors(optim_path, state.optimizer, {{kSaveId, id}, {kWeightsFile, weights}});
  // 2. The commit: the weights file, naming the optimizer file.
  nlohmann::json scalars = nlohmann::json::object();
  for (const auto& [k, v] : state.scalars) scalars[k] = v;
  auto md = base_metadata();
  for (const auto& [k, v] : state.metadata) {
    GPUNET_CHECK(k != kTrainState && k != kOptimizerFile && k != kSaveId && !md.count(k), "save_train_state: metadata key '", k,
                 "' is reserved");
    md[k] = v;
  }
  md[kTrainState] = scalars.dump();
  md[kOptimizerFile] = optim_name;
  md[kSaveId] = id;
  try {
    save_safetensors(path, state.model, md);
  } catch (...) {
    std::error_code ec;
    fs::remove(optim_path, ec);
    throw;
  }
  // 3. Earlier optimizer files (and orphans of interrupted saves) are no longer named.
  remove_old_optimizer_files(path, optim_name);
}

std::string optimizer_file_of(const std::string& path) {
  auto md = load_safetensors_metadata(path);
  auto it = md.find(kOptimizerFile);
  return it == md.end() ? std::string() : sibling(path, it->second);
}

bool has_train_state(const std::string& path) { return load_safetensors_metadata(path).count(kTrainState) > 0; }

TrainState load_train_state(const std::string& path) {
  SafetensorsFile w = load_safetensors(path);
  auto ts = w.metadata.find(kTrainState);
  GPUNET_INPUT_CHECK(ts != w.metadata.end(), "checkpoint ", path,
                     " holds no training state (weights only); it can initialise a model but not resume training");
  TrainState out;
  out.scalars = parse_scalars(path, ts->second);

  auto of = w.metadata.find(kOptimizerFile);
  auto id = w.metadata.find(kSaveId);
  GPUNET_INPUT_CHECK(of != w.metadata.end() && id != w.metadata.end() && !of->second.empty() &&
                         of->second.find('/') == std::string::npos && of->second != "." && of->second != "..",
                     "checkpoint ", path, ": training state names no valid optimizer file");
  const std::string optim_path = sibling(path, of->second);
  std::error_code ec;
  GPUNET_INPUT_CHECK(fs::exists(optim_path, ec), "checkpoint ", path, " names optimizer file ", optim_path,
                     ", which is missing (copy it along with the checkpoint)");
  SafetensorsFile o = load_safetensors(optim_path);
  auto oid = o.metadata.find(kSaveId);
  GPUNET_INPUT_CHECK(oid != o.metadata.end() && oid->second == id->second, "optimizer file ", optim_path,
                     " does not belong to checkpoint ", path, " (save id ",
                     oid == o.metadata.end() ? std::string("none") : oid->second, ", expected ", id->second, ")");
  out.model = std::move(w.tensors);
  out.optimizer = std::move(o.tensors);
  return out;
}

}  // namespace gpunet::io
