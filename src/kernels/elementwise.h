#pragma once
// Elementwise and reduction kernels over n contiguous elements. Twins: kernels::cpu (templates
// on T; their float instantiation has the CUDA twin's parameter list) and kernels::cuda (float),
// called only through GPUNET_DISPATCH (src/ops/dispatch.h). n may exceed 2^31: the CUDA kernels
// index with int64 (grid-stride loops).
#include <cstdint>

namespace gpunet::kernels {

enum class BinaryOp { Add, Sub, Mul };

namespace cpu {
// out[i] = a[i] op b[b_scalar ? 0 : i]
template <typename T>
void binary(BinaryOp op, int64_t n, const T* a, const T* b, bool b_scalar, T* out);
// out[i] = alpha * a[i] + beta
template <typename T>
void affine(int64_t n, const T* a, T alpha, T beta, T* out);
// y[i] += alpha * x[i]  (the autograd engine's accumulation)
template <typename T>
void axpy(int64_t n, T alpha, const T* x, T* y);
// out[0] = sum of x (accumulated in double on the CPU)
template <typename T>
void sum(int64_t n, const T* x, T* out);
template <typename T>
void relu_forward(int64_t n, const T* x, T* out);
// dx[i] = out[i] > 0 ? dout[i] : 0   (out: relu's output)
template <typename T>
void relu_backward(int64_t n, const T* out, const T* dout, T* dx);
// out[i] = dscalar[0] * scale  (backward of sum/mean: broadcast a scalar gradient)
template <typename T>
void broadcast_scalar(int64_t n, const T* dscalar, T scale, T* out);
// x: (rows, cols) -> out: (rows) int64 index of the first maximum
template <typename T>
void argmax_rows(int64_t rows, int64_t cols, const T* x, int64_t* out);
// out[i] = a[i] == b[i]  (int64)
void eq_i64(int64_t n, const int64_t* a, const int64_t* b, int64_t* out);
// writes 1 into *flag if any element is not finite (leaves it alone otherwise)
template <typename T>
void nonfinite_flag(int64_t n, const T* x, int32_t* flag);
}  // namespace cpu

namespace cuda {
void binary(BinaryOp op, int64_t n, const float* a, const float* b, bool b_scalar, float* out);
void affine(int64_t n, const float* a, float alpha, float beta, float* out);
void axpy(int64_t n, float alpha, const float* x, float* y);
void sum(int64_t n, const float* x, float* out);
void relu_forward(int64_t n, const float* x, float* out);
void relu_backward(int64_t n, const float* out, const float* dout, float* dx);
void broadcast_scalar(int64_t n, const float* dscalar, float scale, float* out);
void argmax_rows(int64_t rows, int64_t cols, const float* x, int64_t* out);
void eq_i64(int64_t n, const int64_t* a, const int64_t* b, int64_t* out);
// writes 1 into *flag (device int) if any element is not finite; does not synchronise
void nonfinite_flag(int64_t n, const float* x, int32_t* flag);
}  // namespace cuda

}  // namespace gpunet::kernels
