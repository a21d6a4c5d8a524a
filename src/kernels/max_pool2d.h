#pragma once
// max_pool2d kernels: square kernel K, stride, zero-free padding (padding never wins: PyTorch's
// -inf padding), dilation 1; windows start at o * stride - pad and are clipped to the plane
// (ceil mode's last window may hang over the end). OH/OW are computed by the front end.
#include <cstdint>

namespace gpunet::kernels {

struct Pool2dShape {
  int N, C, H, W;
  int K, stride;
  int OH, OW;
  int pad = 0;  // <= K / 2 (PyTorch's rule), so every window holds at least one input element
};

namespace cpu {
// x: (N, C, H, W) -> out: (N, C, OH, OW), argmax: (N, C, OH, OW) index in the H*W plane of
// the maximum (a strictly larger value or a NaN takes over, scanning row by row, as PyTorch).
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* out, int32_t* argmax);
// dout: (N, C, OH, OW) -> dx: (N, C, H, W), written fresh (zeros where no maximum).
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dout, const int32_t* argmax, T* dx);
}  // namespace cpu

namespace cuda {
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* out, int32_t* argmax);
void max_pool2d_backward(const Pool2dShape& s, const float* dout, const int32_t* argmax, float* dx);
}  // namespace cuda

}  // namespace gpunet::kernels
