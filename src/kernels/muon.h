#pragma once
// Muon's update of one matrix (a conv filter bank viewed as rows = out, cols = in*kh*kw), the
// rule of the airbench94_muon record (Keller Jordan's Muon class there):
//   buf = momentum * buf + g;   u = nesterov ? g + momentum * buf : buf
//   (normalize_weight) p *= sqrt(rows) / ||p||_F                  [p.data.mul_(len(p)**0.5 / p.norm())]
//   X = u (transposed when rows > cols);  X /= ||X||_F + eps
//   ns_steps times:  A = X Xᵀ;  B = b A + c A A;  X = a X + B X     (a, b, c) = (3.4445, -4.7750, 2.0315)
//   (shape_scale) X *= sqrt(max(1, rows / cols))                   [the original Muon's factor; off in the record]
//   p += -lr * X (transposed back),  lr = (float)group[0]
// In float32 on both devices (the record runs the Newton-Schulz iteration in bf16 on the GPU;
// this twin keeps float32). `work` holds muon_workspace(rows, cols) elements on the parameters'
// device, allocated by the caller once (a captured CUDA graph keeps its address).
#include <algorithm>
#include <cstdint>

namespace gpunet::kernels {

struct MuonParams {
  float momentum;
  bool nesterov;
  int ns_steps;
  float eps;
  bool normalize_weight;
  bool shape_scale;
};

// The Newton-Schulz coefficients of the quintic iteration (Keller Jordan's Muon).
constexpr float kMuonA = 3.4445f, kMuonB = -4.7750f, kMuonC = 2.0315f;

// Scratch elements for one rows x cols update: X and its next iterate (m x n each, m = min,
// n = max), A and B (m x m each), and two norms.
constexpr int64_t muon_workspace(int64_t rows, int64_t cols) {
  const int64_t m = std::min(rows, cols), n = std::max(rows, cols);
  return 2 * m * n + 2 * m * m + 2;
}

namespace cpu {
// OpenBLAS gemms; T = float or double (the reference in tests).
template <typename T>
void muon_step(int64_t rows, int64_t cols, const MuonParams& h, const double* group, T* param, const T* grad,
               T* momentum_buf, T* work);
}  // namespace cpu

namespace cuda {
// cuBLAS sgemms (TF32 off), float32.
void muon_step(int64_t rows, int64_t cols, const MuonParams& h, const double* group, float* param, const float* grad,
               float* momentum_buf, float* work);
}  // namespace cuda

}  // namespace gpunet::kernels
