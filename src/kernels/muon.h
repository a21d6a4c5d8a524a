#pragma once
// Muon's update of one matrix (a conv filter bank viewed as rows = out, cols = in*kh*kw), the
// rule of the airbench94_muon record (Keller Jordan's Muon class there):
//   buf = momentum * buf + g;   u = nesterov ? g + momentum * buf : buf
//   (normalize_weight) p *= sqrt(rows) / ||p||_F                  [p.data.mul_(len(p)**0.5 / p.norm())]
//   X = u (transposed when rows > cols);  X /= ||X||_F + eps
//   ns_steps times:  A = X Xᵀ;  B = b A + c A A;  X = a X + B X     (a, b, c) = (3.4445, -4.7750, 2.0315)
//   (shape_scale) X *= sqrt(max(1, rows / cols))                   [the original Muon's factor; off in the record]
//   p += -lr * X (transposed back),  lr = (float)group[0]
// The Newton-Schulz iteration runs in float32, or (bf16 = true) as the record runs it: X cast to
// bfloat16, and every product and elementwise result rounded to bfloat16 where PyTorch's bf16
// tensors round (products accumulate in float32: cuBLAS bf16 GEMMs on the GPU, float32 GEMMs of
// bf16-valued operands on the CPU); `c * A @ A` is `(c * A) @ A`, Python's left-to-right order.
// `work` holds muon_workspace(rows, cols) elements on the parameters' device, allocated by the
// caller once (a captured CUDA graph keeps its address).
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace gpunet::kernels {

struct MuonParams {
  float momentum;
  bool nesterov;
  int ns_steps;
  float eps;
  bool normalize_weight;
  bool shape_scale;
  bool bf16 = false;  ///< the Newton-Schulz iteration in bfloat16, as the record
};

// The Newton-Schulz coefficients of the quintic iteration (Keller Jordan's Muon).
constexpr float kMuonA = 3.4445f, kMuonB = -4.7750f, kMuonC = 2.0315f;

// Scratch elements (float) for one rows x cols update: X and its next iterate (m x n each,
// m = min, n = max), A and B (m x m each), two norms, and room to align the bf16 arrays the GPU
// carves out of the same space in bf16 mode.
constexpr int64_t muon_workspace(int64_t rows, int64_t cols) {
  const int64_t m = std::min(rows, cols), n = std::max(rows, cols);
  return 2 * m * n + 2 * m * m + 16;
}

// Rounds a float to the nearest bfloat16 value (ties to even; NaN stays NaN), as c10::BFloat16
// and __float2bfloat16_rn do.
inline float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}

namespace cpu {
// OpenBLAS gemms; T = float or double (the reference in tests).
template <typename T>
void muon_step(int64_t rows, int64_t cols, const MuonParams& h, const double* group, T* param, const T* grad,
               T* momentum_buf, T* work);
}  // namespace cpu

namespace cuda {
// cuBLAS sgemms (TF32 off) in float32; bf16 GEMMs with float32 accumulation in bf16 mode.
void muon_step(int64_t rows, int64_t cols, const MuonParams& h, const double* group, float* param, const float* grad,
               float* momentum_buf, float* work);
}  // namespace cuda

}  // namespace gpunet::kernels
