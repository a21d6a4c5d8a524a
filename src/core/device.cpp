#include "gpunet/device.h"

#include <cstdio>
#include <mutex>

#include "gpunet/config.h"
#include "gpunet/error.h"

namespace gpunet {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    const std::string idx = text.substr(5);
    bool digits = idx.size() <= 3;
    for (char c : idx) digits = digits && c >= '0' && c <= '9';
    if (digits) return Device::cuda(std::stoi(idx));
  }
  throw InputError("unknown device '" + text + "'; use cpu, cuda or cuda:N (e.g. cuda:0)");
}

// cpu_kernels() is defined in src/ops/common.cpp, beside the kernels it reports on.

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_); }

void Device::check_available() const {
  if (is_cpu()) return;
  if (!cuda::compiled())
    throw InputError("device " + str() + " asked for, but this gpunet is a CPU-only build; use --device cpu or rebuild with -DGPUNET_CUDA=ON");
  const int n = cuda::device_count();
  if (n == 0)
    throw InputError("device " + str() + " asked for, but no GPU is usable (" + cuda::unavailable_reason() +
                     "); use --device cpu");
  if (index_ < 0 || index_ >= n)
    throw InputError("device " + str() + " asked for, but this machine has " + std::to_string(n) + " GPU" +
                     (n == 1 ? "" : "s") + " (cuda:0" + (n > 1 ? "..cuda:" + std::to_string(n - 1) : std::string()) +
                     "); use one of those or --device cpu");
}

Device Device::best() { return cuda::is_available() ? Device::cuda(0) : Device::cpu(); }

}  // namespace gpunet
