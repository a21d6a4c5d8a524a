#include "common.h"

#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "gpunet/io/checkpoint.h"
#include "gpunet/io/safetensors.h"

namespace gpunet::cli {
namespace fs = std::filesystem;

Device choose_device(const std::string& flag, std::string* why) {
  if (!flag.empty()) {
    Device d = Device::parse(flag);
    d.check_available();
    if (why) *why = "using " + d.str() + (d.is_cuda() ? " (" + cuda::device_name(d.index()) + ")" : std::string()) + ", as asked";
    return d;
  }
  Device d = Device::best();
  if (why) {
    if (d.is_cuda()) *why = "using " + d.str() + " (" + cuda::device_name(d.index()) + ")";
    else *why = "using cpu (no GPU: " + cuda::unavailable_reason() + ")";
  }
  return d;
}

namespace {
bool holds_dataset(const std::string& dir) {
  if (dir.empty()) return false;
  std::error_code ec;
  const std::string r = data::resolve_cifar10_dir(dir);
  return fs::exists(fs::path(r) / "test_batch.bin", ec) || fs::exists(fs::path(r) / "data_batch_1.bin", ec);
}
}  // namespace

DataChoice choose_data(const std::string& flag) {
  if (!flag.empty()) {
    if (!fs::exists(flag)) throw InputError("--data " + flag + ": no such folder; give the folder that holds data_batch_1.bin ... test_batch.bin, or get them with `gpunet data download cifar10`");
    if (!holds_dataset(flag)) throw InputError("--data " + flag + ": no CIFAR-10 files there (data_batch_1.bin ... test_batch.bin); get them with `gpunet data download cifar10 --dir " + flag + "`");
    return {data::resolve_cifar10_dir(flag), false, ""};
  }
  if (const char* env = std::getenv("GPUNET_DATA"); env && *env) {
    if (!holds_dataset(env)) throw InputError(std::string("$GPUNET_DATA=") + env + ": no CIFAR-10 files there; fix the variable or unset it");
    return {data::resolve_cifar10_dir(env), false, ""};
  }
  if (holds_dataset("data/cifar-10-batches-bin")) return {data::resolve_cifar10_dir("data/cifar-10-batches-bin"), false, ""};
  DataChoice c{data::sample_dir(), true, ""};
  c.note = "no CIFAR-10 found (--data, $GPUNET_DATA, ./data/cifar-10-batches-bin): using the embedded sample (2,000 train + 500 test images) at " +
           c.dir + "; get the full set with `gpunet data download cifar10`";
  return c;
}

void set_threads(int n) {
  if (n <= 0) return;
  omp_set_num_threads(n);  // OpenBLAS follows per gemm (src/kernels/cpu/gemm.h)
}

namespace {
struct GraphModeName {
  const char* name;
  GraphMode mode;
  const char* help;
};
constexpr GraphModeName kGraphModes[] = {{"auto", GraphMode::Auto, "when the step supports it"},
                                         {"on", GraphMode::On, "error when unsupported"},
                                         {"off", GraphMode::Off, "eager steps"}};
}  // namespace

GraphMode parse_graph_mode(const std::string& flag) {
  for (const auto& g : kGraphModes)
    if (flag == g.name) return g.mode;
  std::string names;
  for (const auto& g : kGraphModes) names += std::string(names.empty() ? "" : ", ") + g.name;
  throw InputError("--cuda-graph " + flag + ": expected one of " + names);
}

std::string graph_mode_help() {
  std::string s = "replay the training step as one CUDA graph (GPU only):";
  const char* sep = " ";
  for (const auto& g : kGraphModes) s += std::string(sep) + g.name + " (" + g.help + ")", sep = ", ";
  return s;
}

const models::ModelEntry& model_flag(const std::string& name) {
  const auto& reg = models::registry();
  if (const models::ModelEntry* e = reg.find(name)) return *e;
  throw InputError("--model " + name + ": unknown model; known models: " + reg.known());
}

std::string model_help(bool recognised_without) {
  const auto& reg = models::registry();
  std::string s = "the network: " + reg.known();
  if (recognised_without) s += " (default: recognised from the checkpoint's tensor names)";
  return s;
}

std::vector<std::string> checkpoint_tensor_names(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& [name, t] : io::load_safetensors(path).tensors) names.push_back(name);
  return names;
}

void load_weights_into(nn::Module& net, const models::ModelEntry& entry, const std::string& path) {
  try {
    io::load_weights(path, net.state_dict(), entry.display_name);
  } catch (const InputError& e) {
    std::string hint;
    try {
      hint = models::registry().mismatch_hint(checkpoint_tensor_names(path), entry.name);
    } catch (const Error&) {
      // An unreadable file: load_weights' own message says why.
    }
    if (hint.empty()) throw;
    throw InputError(e.what() + hint);
  }
}

std::shared_ptr<nn::Module> make_for_classes(const models::ModelEntry& entry, int num_classes, Generator& gen) {
  if (num_classes == 0 || num_classes == 10) return entry.make(gen);
  if (!entry.make_classes)
    throw InputError("--model " + entry.name + " has 10 classes only, but the data has " + std::to_string(num_classes) +
                     "; use --model resnet18 or lenet");
  return entry.make_classes(num_classes, gen);
}

LoadedModel load_model(const std::string& model_name, const std::string& checkpoint, int num_classes) {
  const auto& reg = models::registry();
  const models::ModelEntry* entry = model_name.empty() ? nullptr : &model_flag(model_name);
  if (!fs::exists(checkpoint)) throw InputError("checkpoint " + checkpoint + ": no such file");
  if (!entry) entry = &reg.recognise_or_throw(checkpoint_tensor_names(checkpoint), "checkpoint " + checkpoint);
  Generator gen(0);
  LoadedModel m{make_for_classes(*entry, num_classes, gen), entry};
  load_weights_into(*m.net, *entry, checkpoint);
  if (model_name.empty()) std::fprintf(stderr, "gpunet: checkpoint looks like %s\n", entry->name.c_str());
  return m;
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

}  // namespace gpunet::cli
