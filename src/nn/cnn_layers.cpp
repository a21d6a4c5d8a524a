// GELU, SiLU, Dropout, AvgPool2d, AdaptiveAvgPool2d: argument checks and PyTorch-style repr.
#include "gpunet/nn/cnn_layers.h"

#include <cmath>
#include <sstream>

#include "gpunet/error.h"

namespace gpunet::nn {

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  GPUNET_INPUT_CHECK(approximate_ == "none" || approximate_ == "tanh",
                     "GELU: approximate must be 'none' or 'tanh', got '", approximate_, "'");
}

std::string GELU::repr() const { return approximate_ == "none" ? "GELU(approximate='none')" : "GELU(approximate='tanh')"; }

Dropout::Dropout(double p, Generator& gen) : p_(p), seed_(gen.next_u64()) {
  GPUNET_INPUT_CHECK(std::isfinite(p) && p >= 0.0 && p <= 1.0,
                     "Dropout: dropout probability has to be between 0 and 1, but got p=", p);
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  Tensor out = ops::dropout(x, p_, true, seed_, offset_);
  offset_ += static_cast<uint64_t>(x.numel());
  return out;
}

std::string Dropout::repr() const {
  std::ostringstream os;
  os << "Dropout(p=" << p_ << ", inplace=False)";
  return os.str();
}

AvgPool2d::AvgPool2d(int kernel_size, int stride, int padding, bool ceil_mode, bool count_include_pad)
    : k_(kernel_size),
      stride_(stride ? stride : kernel_size),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad) {
  GPUNET_INPUT_CHECK(kernel_size >= 1, "AvgPool2d: kernel_size must be >= 1, got ", kernel_size);
  GPUNET_INPUT_CHECK(stride >= 0, "AvgPool2d: stride must be >= 1 (0: kernel_size), got ", stride);
  GPUNET_INPUT_CHECK(padding >= 0 && padding <= kernel_size / 2,
                     "AvgPool2d: pad should be at most half of effective kernel size, but got pad=", padding,
                     ", kernel_size=", kernel_size);
}

std::string AvgPool2d::repr() const {
  return "AvgPool2d(kernel_size=" + std::to_string(k_) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_) + (ceil_mode_ ? ", ceil_mode=True" : "") +
         (count_include_pad_ ? "" : ", count_include_pad=False") + ")";
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int output_h, int output_w) : oh_(output_h), ow_(output_w) {
  GPUNET_INPUT_CHECK(output_h >= 1 && output_w >= 1, "AdaptiveAvgPool2d: output size must be >= 1, got ", output_h, "x",
                     output_w);
}

std::string AdaptiveAvgPool2d::repr() const {
  return oh_ == ow_ ? "AdaptiveAvgPool2d(output_size=" + std::to_string(oh_) + ")"
                    : "AdaptiveAvgPool2d(output_size=(" + std::to_string(oh_) + ", " + std::to_string(ow_) + "))";
}

}  // namespace gpunet::nn
