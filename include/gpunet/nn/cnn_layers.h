#pragma once
/// Layers of modern CNNs, as torch.nn's: GELU, SiLU, Dropout, AvgPool2d, AdaptiveAvgPool2d
/// (MaxPool2d with padding and ceil_mode is in layers.h). None has parameters or buffers.
///   auto head = std::make_shared<gpunet::nn::Sequential>(std::initializer_list<std::shared_ptr<gpunet::nn::Module>>{
///       std::make_shared<gpunet::nn::AdaptiveAvgPool2d>(1), std::make_shared<gpunet::nn::Flatten>()});
#include <cstdint>
#include <string>

#include "gpunet/nn/module.h"
#include "gpunet/ops.h"
#include "gpunet/random.h"

namespace gpunet::nn {

/// gelu, exact ("none") or the "tanh" approximation. Throws on another approximate.
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override { return ops::gelu(x, approximate_); }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;

 private:
  std::string approximate_;
};

class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::silu(x); }
  std::string repr() const override { return "SiLU()"; }
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
};

/// Dropout(p): in training mode zeroes each element with probability p and scales the rest by
/// 1 / (1 - p); the identity in eval mode. Requires p in [0, 1] (throws naming p).
/// Its masks come from (seed, offset): the seed is drawn from `gen` at construction, the offset
/// advances by the input's numel per training call, so the same seed gives the same masks on
/// the CPU and on CUDA. seed()/offset()/set_state() expose that state (for checkpoints).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
  /// The mask offset advances on the host every training call, so a replayed CUDA graph would
  /// reuse one mask: a step through an active Dropout is not capturable.
  bool capturable() const override { return p_ == 0.0; }
  double p() const { return p_; }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

 private:
  double p_;
  uint64_t seed_, offset_ = 0;
};

/// AvgPool2d(kernel_size, stride = kernel_size, padding = 0, ceil_mode = false, count_include_pad = true).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int kernel_size, int stride = 0, int padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true);
  Tensor forward(const Tensor& x) override {
    return ops::avg_pool2d(x, k_, stride_, padding_, ceil_mode_, count_include_pad_);
  }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;

 private:
  int k_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
};

/// AdaptiveAvgPool2d(output_size) or (output_h, output_w); requires sizes >= 1.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(int output_size) : AdaptiveAvgPool2d(output_size, output_size) {}
  AdaptiveAvgPool2d(int output_h, int output_w);
  Tensor forward(const Tensor& x) override { return ops::adaptive_avg_pool2d(x, oh_, ow_); }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;

 private:
  int oh_, ow_;
};

}  // namespace gpunet::nn
