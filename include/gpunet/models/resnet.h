#pragma once
/// ResNet-18, the CIFAR variant: a 3x3 stride-1 stem without max-pool, then torchvision's basic
/// blocks (64, 128, 256, 512 channels; strides 1, 2, 2, 2; 1x1 conv + BN shortcuts where the shape
/// changes), adaptive average pool and a linear head. Its state_dict names are torchvision's
/// resnet18 (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0/1, fc), so torchvision's model
/// with conv1 = Conv2d(3, 64, 3, 1, 1, bias=False) and maxpool = Identity loads gpunet's file
/// strictly, and the other way round. Initialised as torchvision does (kaiming_normal_ fan_out
/// for convs, BN weight 1 and bias 0, PyTorch's default Linear).
///   auto net = std::make_shared<gpunet::models::ResNet18>(10);
///   auto logits = (*net)(x);      // x: (N, 3, H, W) -> (N, 10)
#include "gpunet/nn/batch_norm.h"
#include "gpunet/nn/layers.h"

namespace gpunet::models {

/// torchvision's BasicBlock: conv3x3(stride) - bn - relu - conv3x3 - bn, plus the shortcut, relu.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(int in_planes, int planes, int stride, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string repr() const override { return "BasicBlock"; }
  std::string export_onnx(nn::OnnxGraph& g, const std::string& x) const override;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shortcut is the identity
};

class ResNet18 : public nn::Module {
 public:
  explicit ResNet18(int num_classes = 10, Generator& gen = default_generator());
  /// x: (N, 3, H, W) float32 -> logits (N, num_classes).
  Tensor forward(const Tensor& x) override;
  std::string repr() const override { return "ResNet"; }
  std::string export_onnx(nn::OnnxGraph& g, const std::string& x) const override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace gpunet::models
