// `gpunet bench`: images/s of the seed's training step (--model, LeNet by default; cross-entropy,
// SGD lr 0.001 momentum 0.9, the real data loader) per batch size. Validate, then time: one step must give
// a finite loss before any clock is read; every repeat ends with a device synchronise and a
// finite running loss. Reports the median over repeats, as a table or JSON lines, with host memory:
// peak_host_bytes (tensors in use at once while timing), peak_host_reserved_bytes (what the host
// allocator held, cached pages included) and peak_rss_bytes (the whole process's resident set);
// the last two are the process's highs so far, earlier batch sizes of the same run included.
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "blas_core.h"
#include "commands.h"
#include "common.h"
#include "gpunet/autocast.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "gpunet/host_memory.h"
#include "gpunet/kernel_paths.h"
#include "gpunet/models/airbench.h"
#include "gpunet/models/registry.h"
#include "gpunet/optim/sgd.h"
#include "gpunet/tensor.h"
#include "gpunet/train.h"

namespace gpunet::cli {
namespace {

struct BenchArgs {
  std::string data, device, batch_sizes = "4,64,512", cuda_graph = "auto", data_path = "auto";
  std::string model = models::registry().default_name();
  std::string precision = "fp32";
  double width = 1.0;  // airbench94's channel widths x this (the scaling table)
  int steps = 200, warmup = 20, repeats = 3, threads = 0;
  bool json = false, loader_only = false;
};

struct Result {
  int64_t batch_size = 0;
  double images_per_second = 0, ms_per_step = 0;
  size_t peak_host = 0, peak_device = 0;
  size_t host_reserved = 0, peak_rss = 0;  // the process's highs so far (earlier batch sizes included)
  bool device_resident = false;
  bool cuda_graph = false;  // the timed steps were graph replays
  KernelPaths paths;        // which kernel paths the validated step ran
};

// One table of KernelPaths as JSON: {"conv2d": {"direct": ["3->24 2x2 s1 p0 on 32x32", ...]}}.
nlohmann::json paths_json(const KernelPaths::Table& t) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [op, paths] : t)
    for (const auto& [path, shapes] : paths) j[op][path] = std::vector<std::string>(shapes.begin(), shapes.end());
  return j;
}

// "conv2d: direct x2, im2col+openblas x5" for the table's header line.
std::string paths_line(const KernelPaths::Table& t) {
  std::string out;
  for (const auto& [op, paths] : t) {
    out += (out.empty() ? "" : "; ") + op + ":";
    for (const auto& [path, shapes] : paths) out += " " + path + " x" + std::to_string(shapes.size());
  }
  return out.empty() ? "none recorded" : out;
}

std::vector<int64_t> parse_batch_sizes(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 1 || v > (1 << 20))
      throw InputError("--batch-sizes " + text + ": '" + item + "' is not a batch size (a whole number 1..1048576)");
    out.push_back(v);
  }
  if (out.empty()) throw InputError("--batch-sizes: give at least one batch size, e.g. 4,64,512");
  return out;
}

void sync(Device dev) {
  if (dev.is_cuda()) cuda::synchronize(dev.index());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One step from the loader, starting a new epoch when one ends (drop_last: every batch is B).
// With `loader_only`, only the batch (gather, normalise, upload) is made: the loader's speed.
void one_step(data::DataLoader& loader, TrainStep& step, data::Batch& b, bool loader_only = false) {
  if (!loader.next(b)) {
    if (!loader.next(b)) throw Error("bench: the loader gave no batch at the start of an epoch");
  }
  if (!loader_only) step(b.x, b.y);
}

std::string width_text(double w) {
  std::ostringstream o;
  o << w;
  return o.str();
}

// airbench94's widths (64, 256, 256) x w, rounded, at least 1 each.
std::array<int, 3> scaled_widths(double w) {
  std::array<int, 3> out{64, 256, 256};
  for (int& c : out) c = std::max(1, static_cast<int>(std::lround(c * w)));
  return out;
}

// The model by name; airbench94 (and its Muon variant) at --width x its channels.
std::shared_ptr<nn::Module> make_net(const BenchArgs& a, Generator& gen) {
  if (a.width == 1.0) return models::make_model(a.model, gen);
  const std::array<int, 3> w = scaled_widths(a.width);
  if (a.model == "airbench94") return std::make_shared<models::Airbench94>(gen, models::Airbench94Options{w});
  return std::make_shared<models::Airbench94>(gen, models::Airbench94Options::muon_record(w));
}

Result bench_one(const std::shared_ptr<const data::ImageDataset>& ds, Device dev, int64_t batch, const BenchArgs& a,
                 Precision precision) {
  const Autocast autocast(precision);  // conv2d and linear in bf16 under --precision bf16
  Generator gen(0);
  const std::shared_ptr<nn::Module> net = make_net(a, gen);
  net->to(dev);
  optim::SGD opt(*net, {.lr = 0.001, .momentum = 0.9});
  TrainStep step(*net, opt, parse_graph_mode(a.cuda_graph));
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.seed = 0;
  lo.device = dev;
  lo.residency = a.data_path == "host" ? data::Residency::Host
                 : a.data_path == "device" ? data::Residency::Device
                                           : data::Residency::Auto;
  data::DataLoader loader(ds, lo);

  // Validate: one step, and its loss must be finite.
  data::Batch b;
  Result r;
  {
    KernelPathLog log;
    one_step(loader, step, b);
    r.paths = log.take();
  }
  const double first = step.take_running_loss();
  if (!std::isfinite(first)) throw Error("bench: the first training step gave a non-finite loss (" + std::to_string(first) + ")");
  for (int i = 0; i < a.warmup; ++i) one_step(loader, step, b);
  sync(dev);
  step.take_running_loss();

  r.batch_size = batch;
  r.device_resident = loader.device_resident();
  memory::reset_peak(Device::cpu());
  if (dev.is_cuda()) memory::reset_peak(dev);
  std::vector<double> ips, ms;
  for (int rep = 0; rep < a.repeats; ++rep) {
    sync(dev);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < a.steps; ++i) one_step(loader, step, b, a.loader_only);
    sync(dev);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double loss = a.loader_only ? 0.0 : step.take_running_loss();
    if (!std::isfinite(loss)) throw Error("bench: the loss diverged during timing (batch size " + std::to_string(batch) + ")");
    ips.push_back(static_cast<double>(a.steps) * static_cast<double>(batch) / s);
    ms.push_back(1000.0 * s / a.steps);
  }
  r.cuda_graph = step.graph_steps() > 0;
  r.images_per_second = median(ips);
  r.ms_per_step = median(ms);
  r.peak_host = memory::stats(Device::cpu()).peak;
  r.host_reserved = memory::host_peak_reserved();
  r.peak_rss = memory::peak_rss_bytes();
  if (dev.is_cuda()) r.peak_device = memory::stats(dev).peak;
  return r;
}

void run_bench(const BenchArgs& a) {
  if (a.data_path != "auto" && a.data_path != "host" && a.data_path != "device")
    throw InputError("--data-path " + a.data_path + ": expected auto, host or device");
  parse_graph_mode(a.cuda_graph);  // checked before any work
  const models::ModelEntry& model = model_flag(a.model);
  if (a.width != 1.0) {
    if (model.name != "airbench94" && model.name != "airbench94_muon")
      throw InputError("--width " + width_text(a.width) + ": only airbench94 and airbench94_muon scale their widths (" +
                       model.name + " has fixed widths); drop --width or use --model airbench94");
    if (!(a.width > 0.0 && a.width <= 16.0))
      throw InputError("--width " + width_text(a.width) + ": expected a factor in (0, 16], e.g. 0.5, 1 or 2");
    if (scaled_widths(a.width)[0] < 24)
      throw InputError("--width " + width_text(a.width) +
                       ": airbench94's first group needs at least the whitening's 24 channels (64 x the factor); "
                       "give a factor of at least 0.375");
  }
  const std::vector<int64_t> sizes = parse_batch_sizes(a.batch_sizes);
  std::string why;
  const Device dev = choose_device(a.device, &why);
  const Precision precision = parse_precision(a.precision, dev);  // fp16 on the CPU: GPU-only
  const DataChoice dc = choose_data(a.data);
  auto ds = std::make_shared<const data::Cifar10>(dc.dir, data::Split::Train);
  for (int64_t batch : sizes)
    if (batch > ds->n)
      throw InputError("--batch-sizes: batch size " + std::to_string(batch) + " is larger than the dataset (" +
                       std::to_string(ds->n) + " training images in " + dc.dir + ")");
  // Everything is checked: now say what runs.
  std::cerr << why << "\n";
  if (dc.sample) std::cerr << dc.note << "\n";
  if (precision == Precision::BF16) std::cerr << "bf16 on the CPU, " << cpu_bf16_mode() << "\n";
  set_threads(a.threads);
  const int threads = omp_get_max_threads();

  if (!a.json) {
    if (a.loader_only)
      std::printf("gpunet bench --loader-only: batches (gather, normalise, upload) from %lld images in %s\n",
                  static_cast<long long>(ds->n), dc.dir.c_str());
    else
      std::printf("gpunet bench: %s, SGD(lr=0.001, momentum=0.9), %lld images from %s; cpu kernels %s\n",
                  model.display_name.c_str(), static_cast<long long>(ds->n), dc.dir.c_str(),
                  (cpu_kernels() + ", OpenBLAS " + blas_core()).c_str());
    std::printf("%-8s %6s %12s %10s %8s %8s %8s %13s %6s\n", "device", "batch", "images/s", "ms/step", "steps", "repeats",
                "threads", "peak host MiB", "data");
    std::fflush(stdout);
  }
  for (int64_t batch : sizes) {
    const Result r = bench_one(ds, dev, batch, a, precision);
    const char* path = r.device_resident ? "device" : "host";
    if (a.json) {
      nlohmann::json j = {{"device", dev.str()},
                          {"model", model.name},
                          {"precision", a.precision},
                          {"width", a.width},
                          {"batch_size", batch},
                          {"images_per_second", std::round(r.images_per_second * 10) / 10},
                          {"ms_per_step", std::round(r.ms_per_step * 10000) / 10000},
                          {"steps", a.steps},
                          {"warmup", a.warmup},
                          {"repeats", a.repeats},
                          {"threads", threads},
                          {"cpu_kernels", {{"isa", cpu_kernels()}, {"blas", blas_core()}, {"ops", paths_json(r.paths.cpu)},
                                           {"bf16", precision == Precision::BF16 ? nlohmann::json(cpu_bf16_mode())
                                                                                 : nlohmann::json(nullptr)}}},
                          {"gpu_kernels", dev.is_cuda() ? nlohmann::json{{"ops", paths_json(r.paths.gpu)}}
                                                        : nlohmann::json(nullptr)},
                          {"peak_host_bytes", r.peak_host},
                          {"peak_host_reserved_bytes", r.host_reserved},
                          {"peak_rss_bytes", r.peak_rss},
                          {"peak_device_bytes", r.peak_device},
                          {"data_path", path},
                          {"measures", a.loader_only ? "loader" : "training step"},
                          {"cuda_graph", r.cuda_graph},
                          {"data", dc.dir}};
      std::cout << j.dump() << std::endl;
    } else {
      std::printf("%-8s %6lld %12.1f %10.3f %8d %8d %8d %13.1f %6s\n", dev.str().c_str(), static_cast<long long>(batch),
                  r.images_per_second, r.ms_per_step, a.steps, a.repeats, threads,
                  static_cast<double>(r.peak_host) / (1024.0 * 1024.0), path);
      std::printf("  kernels (%s): %s\n", a.precision.c_str(),
                  paths_line(dev.is_cuda() ? r.paths.gpu : r.paths.cpu).c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace

void register_bench(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Time the training step (images/s) per batch size, validated first");
  cmd->add_option("--data", a->data, "CIFAR-10 folder (default: $GPUNET_DATA, ./data, else the embedded sample)");
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N (default: the best available)");
  cmd->add_option("--batch-sizes", a->batch_sizes, "Comma-separated batch sizes")->default_val("4,64,512");
  cmd->add_option("--steps", a->steps, "Timed steps per repeat")->default_val(200)->check(CLI::Range(1, 100000000));
  cmd->add_option("--warmup", a->warmup, "Untimed steps before timing")->default_val(20)->check(CLI::Range(0, 100000000));
  cmd->add_option("--repeats", a->repeats, "Timed repeats (the median is reported)")->default_val(3)->check(CLI::Range(1, 1000));
  cmd->add_option("--threads", a->threads, "CPU threads (OpenMP and OpenBLAS; 0: the defaults)")->default_val(0)->check(CLI::Range(0, 4096));
  cmd->add_flag("--json", a->json, "One JSON object per line per configuration");
  cmd->add_option("--data-path", a->data_path,
                  "auto, host (batches made on the CPU, uploaded) or device (dataset resident on the device)")
      ->default_val("auto");
  cmd->add_flag("--loader-only", a->loader_only, "time only the data loader (images/s of batches), not training");
  cmd->add_option("--cuda-graph", a->cuda_graph, graph_mode_help())->default_val("auto");
  cmd->add_option("--model", a->model, model_help(false))->capture_default_str();
  cmd->add_option("--width", a->width,
                  "airbench94 only: its channel widths (64, 256, 256) times this factor, e.g. 0.5 or 2")
      ->capture_default_str();
  cmd->add_option("--precision", a->precision, "fp32, or bf16 on the CPU (conv2d and linear in bf16, autocast-style); fp16: GPU-only, not yet")->capture_default_str();
  cmd->callback([a, &exit_code] {
    run_bench(*a);
    exit_code = 0;
  });
}

}  // namespace gpunet::cli
