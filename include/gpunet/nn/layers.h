#pragma once
/// The layers of the seed's LeNet: Conv2d, MaxPool2d, Linear, ReLU, Flatten, Sequential,
/// initialised as PyTorch does (kaiming_uniform_(a=√5) weights, U(±1/√fan_in) biases).
///   gpunet::nn::Conv2d conv(3, 6, 5);      // weight [6, 3, 5, 5], bias [6]
#include <initializer_list>

#include "gpunet/nn/module.h"
#include "gpunet/ops.h"

namespace gpunet::nn {

class Conv2d : public Module {
 public:
  /// Requires in, out, kernel >= 1, stride >= 1, padding >= 0. Draws from `gen`.
  Conv2d(int in_channels, int out_channels, int kernel_size, int stride = 1, int padding = 0, bool bias = true,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override { return ops::conv2d(x, weight, bias, stride_, padding_); }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
  Tensor weight, bias;

 private:
  int in_, out_, k_, stride_, padding_;
};

class Linear : public Module {
 public:
  Linear(int in_features, int out_features, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override { return ops::linear(x, weight, bias); }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
  Tensor weight, bias;

 private:
  int in_, out_;
};

class MaxPool2d : public Module {
 public:
  /// stride 0 means stride = kernel_size (PyTorch's default); padding <= kernel_size / 2.
  explicit MaxPool2d(int kernel_size, int stride = 0, int padding = 0, bool ceil_mode = false)
      : k_(kernel_size), stride_(stride ? stride : kernel_size), padding_(padding), ceil_mode_(ceil_mode) {}
  Tensor forward(const Tensor& x) override { return ops::max_pool2d(x, k_, stride_, padding_, ceil_mode_); }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;

 private:
  int k_, stride_, padding_;
  bool ceil_mode_;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::relu(x); }
  std::string repr() const override { return "ReLU()"; }
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
};

class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override { return ops::flatten(x, start_, end_); }
  std::string repr() const override;
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;

 private:
  int start_, end_;
};

/// Runs its children in order; children are named "0", "1", ... as in PyTorch.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> mods) {
    for (auto& m : mods) push_back(m);
  }
  void push_back(std::shared_ptr<Module> m) { mods_.push_back(register_module(std::to_string(mods_.size()), m)); }
  Tensor forward(const Tensor& x) override;
  std::string repr() const override { return "Sequential"; }
  std::string export_onnx(OnnxGraph& g, const std::string& x) const override;
  size_t size() const { return mods_.size(); }

 private:
  std::vector<std::shared_ptr<Module>> mods_;
};

/// PyTorch's default initialisation of a weight with fan_in inputs: U(-1/√fan_in, 1/√fan_in)
/// (kaiming_uniform_ with a = √5), drawn from gen.
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, Generator& gen);

}  // namespace gpunet::nn
