#pragma once
// The running loss of a training loop, summed in double on the device (as the seed's
// `running_loss += loss.item()` sums in double on the host), read only at log lines.

namespace gpunet::kernels {
namespace cpu {
// acc[0] += x[0]
inline void add_to_double(const float* x, double* acc) { acc[0] += static_cast<double>(x[0]); }
}  // namespace cpu
namespace cuda {
void add_to_double(const float* x, double* acc);
}  // namespace cuda
}  // namespace gpunet::kernels
