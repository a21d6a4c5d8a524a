#include "common.h"

#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "gpunet/io/checkpoint.h"
#include "gpunet/models/lenet.h"


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

std::shared_ptr<nn::Module> load_model(const std::string& model_name, const std::string& checkpoint) {
  auto model = models::make_model(model_name);
  if (!fs::exists(checkpoint)) throw InputError("checkpoint " + checkpoint + ": no such file");
  io::load_weights(checkpoint, model->state_dict(), model_name == "lenet" ? "LeNet" : model_name);
  return model;
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

}  // namespace gpunet::cli
