#include "gpunet/nn/layers.h"

#include <cmath>

namespace gpunet::nn {

Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, Generator& gen) {
  // kaiming_uniform_(a=sqrt(5)): gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  const float bound = fan_in > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in))) : 0.f;
  return Tensor::uniform(shape, -bound, bound, gen);
}

Conv2d::Conv2d(int in, int out, int k, int stride, int padding, bool with_bias, Generator& gen)
    : in_(in), out_(out), k_(k), stride_(stride), padding_(padding) {
  GPUNET_CHECK(in >= 1 && out >= 1 && k >= 1 && stride >= 1 && padding >= 0, "Conv2d: invalid arguments (in ", in,
               ", out ", out, ", kernel ", k, ", stride ", stride, ", padding ", padding, ")");
  const int64_t fan_in = static_cast<int64_t>(in) * k * k;
  weight = register_parameter("weight", kaiming_uniform({out, in, k, k}, fan_in, gen));
  if (with_bias) bias = register_parameter("bias", kaiming_uniform({out}, fan_in, gen));
}

std::string Conv2d::repr() const {
  std::string s = "Conv2d(" + std::to_string(in_) + ", " + std::to_string(out_) + ", kernel_size=(" +
                  std::to_string(k_) + ", " + std::to_string(k_) + "), stride=(" + std::to_string(stride_) + ", " +
                  std::to_string(stride_) + ")";
  if (padding_) s += ", padding=(" + std::to_string(padding_) + ", " + std::to_string(padding_) + ")";
  if (!bias.defined()) s += ", bias=False";
  return s + ")";
}

Linear::Linear(int in, int out, bool with_bias, Generator& gen) : in_(in), out_(out) {
  GPUNET_CHECK(in >= 1 && out >= 1, "Linear: invalid sizes (in ", in, ", out ", out, ")");
  weight = register_parameter("weight", kaiming_uniform({out, in}, in, gen));
  if (with_bias) bias = register_parameter("bias", kaiming_uniform({out}, in, gen));
}

std::string Linear::repr() const {
  return "Linear(in_features=" + std::to_string(in_) + ", out_features=" + std::to_string(out_) +
         ", bias=" + (bias.defined() ? "True" : "False") + ")";
}

std::string MaxPool2d::repr() const {
  return "MaxPool2d(kernel_size=" + std::to_string(k_) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_) + ", dilation=1, ceil_mode=" + (ceil_mode_ ? "True" : "False") + ")";
}

std::string Flatten::repr() const {
  return "Flatten(start_dim=" + std::to_string(start_) + ", end_dim=" + std::to_string(end_) + ")";
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& m : mods_) y = m->forward(y);
  return y;
}

}  // namespace gpunet::nn
