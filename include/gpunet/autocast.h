#pragma once
/// Autocast-style mixed precision on the CPU (PyTorch's torch.autocast("cpu", torch.bfloat16)).
/// While an Autocast guard with Precision::BF16 is alive on a thread, ops::conv2d and
/// ops::linear on CPU tensors multiply in bfloat16 with float32 accumulation: their inputs and
/// weights are rounded to bf16 inside the kernels (oneDNN's bf16 convolutions on AVX512-BF16 /
/// AMX where the CPU has them; see cpu_bf16_mode()). Every tensor stays float32: the outputs,
/// BatchNorm and its statistics, activations, the loss, the optimizer, the master weights and
/// the weight gradients. Backward of an op runs in the precision its forward ran in, whatever
/// guard is alive when backward() is called.
///
/// Requires: CPU tensors under BF16 (conv2d/linear on a GPU under BF16 throw gpunet::Error: the
/// GPU has no bf16 path yet).
/// Guarantees: guards nest, each restoring the precision before it; other threads are unaffected;
/// results under FP32 are exactly those without any guard.
/// Example: { gpunet::Autocast ac(gpunet::Precision::BF16); step(x, y); }
#include <string>

#include "gpunet/device.h"

namespace gpunet {

enum class Precision { FP32, BF16 };

/// "fp32" or "bf16" (the CLI's --precision values).
const char* precision_name(Precision p);

/// Parses a --precision value for training on `device`: "fp32"; "bf16" on the CPU. Throws
/// gpunet::InputError with one line for "fp16" on the CPU (GPU-only), "bf16" or "fp16" on a GPU
/// (no GPU path yet) and any other text.   parse_precision("bf16", Device::cpu())
Precision parse_precision(const std::string& text, Device device);

/// The precision conv2d and linear use on this thread now (FP32 without a guard).
Precision autocast_precision();

class Autocast {
 public:
  explicit Autocast(Precision p);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  Precision previous_;
};

/// How bf16 runs on this CPU, in one line: "native: ..." (oneDNN bf16 convolutions on
/// AVX512-BF16/AMX for wide layers) or "emulated: ..." (no AVX512-BF16, or oneDNN absent or
/// capped by ONEDNN_MAX_CPU_ISA: float32 kernels on bf16-rounded operands, correct but slower).
std::string cpu_bf16_mode();

}  // namespace gpunet
