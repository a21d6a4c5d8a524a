#pragma once
/// The seed's network: the classic CIFAR-10 LeNet, with PyTorch's parameter names
/// (conv1.weight [6,3,5,5] ... fc3.bias [10]) and initialisation.
///   auto net = std::make_shared<gpunet::models::LeNet>();
///   auto logits = (*net)(x);      // x: (N, 3, 32, 32) -> (N, 10)
#include "gpunet/nn/layers.h"

namespace gpunet::models {

class LeNet : public nn::Module {
 public:
  explicit LeNet(Generator& gen = default_generator());
  /// x: (N, 3, 32, 32) float32 -> logits (N, 10).
  Tensor forward(const Tensor& x) override;
  std::string repr() const override { return "Net"; }
  std::string export_onnx(nn::OnnxGraph& g, const std::string& x) const override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::MaxPool2d> pool;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
};

}  // namespace gpunet::models
