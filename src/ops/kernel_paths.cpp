// gpunet::KernelPathLog and the ops' recording side (src/ops/kernel_paths.h).
#include "ops/kernel_paths.h"

#include <atomic>
#include <mutex>

#include "gpunet/error.h"
#include "gpunet/kernel_paths.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv2d_direct.h"

namespace gpunet {
namespace {
std::atomic<bool> g_recording{false};
std::mutex g_mu;
KernelPaths g_paths;
}  // namespace

KernelPathLog::KernelPathLog() {
  std::lock_guard<std::mutex> lock(g_mu);
  GPUNET_CHECK(!g_recording.load(), "KernelPathLog: another log is already recording");
  g_paths = KernelPaths{};
  g_recording.store(true);
}

KernelPathLog::~KernelPathLog() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_recording.store(false);
  g_paths = KernelPaths{};
}

KernelPaths KernelPathLog::take() {
  std::lock_guard<std::mutex> lock(g_mu);
  KernelPaths out = std::move(g_paths);
  g_paths = KernelPaths{};
  return out;
}

namespace ops::detail {

bool kernel_paths_recording() { return g_recording.load(std::memory_order_relaxed); }

void note_kernel_path(const char* op, const std::string& path, const std::string& shape, Device device) {
  if (!kernel_paths_recording()) return;
  std::lock_guard<std::mutex> lock(g_mu);
  (device.is_cuda() ? g_paths.gpu : g_paths.cpu)[op][path].insert(shape);
}

std::string conv2d_path(const kernels::Conv2dShape& s, Device device, bool bf16) {
  namespace d = kernels::cpu::detail;
  if (device.is_cuda()) return "cudnn";
  if (bf16 && d::conv2d_bf16_path(s) == d::Bf16Path::Dnnl) return "onednn-bf16";
  std::string path;
  switch (d::conv2d_path(s)) {
    case d::ConvAlgo::Direct: path = "direct"; break;
    case d::ConvAlgo::Dnnl: path = "onednn"; break;
    case d::ConvAlgo::DnnlPlain: path = "onednn-plain"; break;
    default: path = "im2col+openblas"; break;
  }
  return bf16 ? path + "(bf16-rounded)" : path;
}

void note_conv2d_path(const kernels::Conv2dShape& s, Device device, bool bf16) {
  if (!kernel_paths_recording()) return;
  const std::string shape = std::to_string(s.IC) + "->" + std::to_string(s.OC) + " " + std::to_string(s.KH) + "x" +
                            std::to_string(s.KW) + " s" + std::to_string(s.stride) + " p" + std::to_string(s.pad) +
                            " on " + std::to_string(s.H) + "x" + std::to_string(s.W);
  note_kernel_path("conv2d", conv2d_path(s, device, bf16), shape, device);
}

}  // namespace ops::detail
}  // namespace gpunet
