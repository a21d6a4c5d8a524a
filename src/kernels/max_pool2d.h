#pragma once
// max_pool2d kernels (no padding, no dilation; floor mode, as the seed's MaxPool2d(2, 2)).
#include <cstdint>

namespace gpunet::kernels {

struct Pool2dShape {
  int N, C, H, W;
  int K, stride;
  int OH, OW;  // (H - K) / stride + 1
};

namespace cpu {
// x: (N, C, H, W) -> out: (N, C, OH, OW), argmax: (N, C, OH, OW) index in the H*W plane of
// the first maximum (NaN wins, as in PyTorch).
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
