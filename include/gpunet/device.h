#pragma once
/// Devices: where a tensor's memory lives and its ops run. `cpu` or `cuda:N`.
///   auto dev = gpunet::Device::best();          // cuda:0 when usable, else cpu
///   auto d2  = gpunet::Device::parse("cuda:0");
#include <string>

namespace gpunet {

enum class DeviceType { CPU, CUDA };

class Device {
 public:
  constexpr Device() = default;
  constexpr Device(DeviceType type, int index = 0) : type_(type), index_(type == DeviceType::CPU ? 0 : index) {}
  static constexpr Device cpu() { return Device(DeviceType::CPU, 0); }
  static constexpr Device cuda(int index = 0) { return Device(DeviceType::CUDA, index); }

  /// Parses "cpu", "cuda", "cuda:N". Throws InputError on anything else.
  /// Requires nothing of the machine: availability is checked by `check_available()`.
  static Device parse(const std::string& text);
  /// cuda:0 when this build has CUDA and a usable GPU is present, else cpu
  /// (the seed's `torch.device("cuda:0" if torch.cuda.is_available() else "cpu")`).
  static Device best();
  /// Throws InputError naming what is present when this device cannot be used here.
  void check_available() const;

  DeviceType type() const { return type_; }
  int index() const { return index_; }
  bool is_cpu() const { return type_ == DeviceType::CPU; }
  bool is_cuda() const { return type_ == DeviceType::CUDA; }
  std::string str() const;

  friend bool operator==(const Device& a, const Device& b) { return a.type_ == b.type_ && a.index_ == b.index_; }
  friend bool operator!=(const Device& a, const Device& b) { return !(a == b); }

 private:
  DeviceType type_ = DeviceType::CPU;
  int index_ = 0;
};

/// The CPU kernels in use: "avx512" or "avx2" (the vector fast paths) or "generic" (portable
/// loops), with the reason when below what the CPU has ("avx2 (capped by GPUNET_CPU_ISA)",
/// "generic (this CPU has no AVX2)").
std::string cpu_kernels();

namespace cuda {
/// True when this build has the CUDA backend compiled in.
bool compiled();
/// Number of usable CUDA devices (0 when none, no driver, or a CPU-only build). Never throws.
int device_count();
/// True when at least one GPU is usable.
inline bool is_available() { return device_count() > 0; }
/// Why no GPU is usable ("CPU-only build", "no CUDA driver: ...", "no CUDA device"), or "" when one is.
std::string unavailable_reason();
/// Versions of the runtime, driver, cuBLAS and cuDNN as one line ("" in a CPU-only build).
std::string version_string();
/// The name of device `index` ("NVIDIA H200"), or "" when not available.
std::string device_name(int index);
/// Blocks until all work queued on the device's current stream is done.
void synchronize(int index = 0);
}  // namespace cuda

}  // namespace gpunet
