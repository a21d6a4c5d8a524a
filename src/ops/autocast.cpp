// gpunet::Autocast: the thread's precision for conv2d and linear (include/gpunet/autocast.h).
#include "gpunet/autocast.h"

#include "gpunet/error.h"
#include "kernels/cpu/bf16.h"

namespace gpunet {
namespace {
thread_local Precision t_precision = Precision::FP32;
}

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& text, Device device) {
  if (text == "fp32") return Precision::FP32;
  if (text == "bf16") {
    if (device.is_cuda())
      throw InputError("--precision bf16: no bf16 training path exists yet on " + device.str() +
                       "; use --precision fp32, or --device cpu for bf16");
    return Precision::BF16;
  }
  if (text == "fp16")
    throw InputError(device.is_cuda() ? "--precision fp16: no fp16 training path exists yet on " + device.str() +
                                            "; use --precision fp32"
                                      : std::string("--precision fp16 is GPU-only (the CPU has no fp16 arithmetic); "
                                                    "use --precision bf16 or fp32 on the CPU"));
  throw InputError("--precision " + text + ": expected fp32, bf16 or fp16");
}

Precision autocast_precision() { return t_precision; }

Autocast::Autocast(Precision p) : previous_(t_precision) { t_precision = p; }
Autocast::~Autocast() { t_precision = previous_; }

std::string cpu_bf16_mode() { return kernels::cpu::detail::bf16_mode(); }

}  // namespace gpunet
