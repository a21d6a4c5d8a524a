// Shared checks for the op front ends; the CPU-only build's report (no_cuda); the CPU
// kernels' instruction-set report (gpunet::cpu_kernels, declared in gpunet/device.h), kept
// here so that nothing outside ops/ and optim/ includes kernels/.
#include "ops/common.h"

#include "gpunet/autocast.h"

#include <cstdint>

#include "kernels/cpu/isa.h"
#include "ops/dispatch.h"

namespace gpunet::ops::detail {

void check_defined(const char* op, const char* what, const Tensor& t) {
  GPUNET_CHECK(t.defined(), op, ": ", what, " is undefined");
}

void check_float32(const char* op, const char* what, const Tensor& t) {
  check_defined(op, what, t);
  GPUNET_CHECK(t.dtype() == DType::Float32, op, ": expected ", what, " to be float32, got ", dtype_name(t.dtype()));
}

bool autocast_bf16(const char* op, Device device) {
  if (autocast_precision() != Precision::BF16) return false;
  GPUNET_CHECK(device.is_cpu(), op, ": bf16 autocast has no GPU path yet (tensor on ", device.str(),
               "); run it in fp32 on the GPU, or bf16 on the CPU");
  return true;
}

void check_int64(const char* op, const char* what, const Tensor& t) {
  check_defined(op, what, t);
  GPUNET_CHECK(t.dtype() == DType::Int64, op, ": expected ", what, " to be int64, got ", dtype_name(t.dtype()));
}

void check_dim(const char* op, const char* what, const Tensor& t, int d, const char* layout) {
  GPUNET_CHECK(t.dim() == d, op, ": expected a ", d, "-D ", layout, (*layout ? " " : ""), what, ", got ",
               shape_str(t.shape()));
}

int to_int(const char* op, int64_t v) {
  GPUNET_CHECK(v >= 0 && v <= INT32_MAX, op, ": dimension ", v, " is out of the supported range [0, 2^31)");
  return static_cast<int>(v);
}

void check_numel(const char* op, const char* what, int64_t n, int64_t limit) {
  GPUNET_CHECK(n <= limit, op, ": ", what, " has ", n, " elements, more than the ", limit, " its kernels can index");
}

void no_cuda(const char* op, Device dev) {
  throw Error(gpunet::detail::cat(op, ": tensor on ", dev.str(), ", but this is a CPU-only build of gpunet"));
}

void check_targets_cpu(const char* op, const Tensor& target, int64_t C) {
  if (!target.device().is_cpu()) return;
  const Tensor t = target.contiguous();
  const int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    GPUNET_CHECK(p[i] >= 0 && p[i] < C, op, ": target ", p[i], " at index ", i, " is out of bounds for ", C,
                 " classes");
}

void check_bias(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!bias.defined()) return;
  check_float32(op, "bias", bias);
  check_same_device(op, x, bias);
  GPUNET_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], op, ": expected a bias of shape [",
               weight.shape()[0], "], got ", shape_str(bias.shape()));
}
}  // namespace gpunet::ops::detail

namespace gpunet {

std::string cpu_kernels() {
  using kernels::cpu::Isa;
  const Isa used = kernels::cpu::isa(), present = kernels::cpu::detected_isa();
  const char* name = used == Isa::Avx512 ? "avx512" : used == Isa::Avx2 ? "avx2" : "generic";
  if (used != present) return std::string(name) + " (capped by GPUNET_CPU_ISA)";
  if (used == Isa::Generic) return "generic (this CPU has no AVX2)";
  return name;
}

}  // namespace gpunet
