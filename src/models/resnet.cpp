#include "gpunet/models/resnet.h"

#include <cmath>

#include "gpunet/autograd.h"

namespace gpunet::models {
namespace {

// torchvision: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"): N(0, 2 / fan_out),
// fan_out = OC * KH * KW.
std::shared_ptr<nn::Conv2d> conv(int in, int out, int k, int stride, Generator& gen) {
  auto c = std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, false, gen);
  const double fan_out = static_cast<double>(out) * k * k;
  Tensor w = Tensor::normal(c->weight.shape(), 0.f, static_cast<float>(std::sqrt(2.0 / fan_out)), gen);
  NoGradGuard no_grad;
  c->weight.copy_(w);
  return c;
}

}  // namespace

BasicBlock::BasicBlock(int in_planes, int planes, int stride, Generator& gen) {
  conv1 = register_module("conv1", conv(in_planes, planes, 3, stride, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, gen));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  if (stride != 1 || in_planes != planes) {
    auto ds = std::make_shared<nn::Sequential>();
    ds->push_back(conv(in_planes, planes, 1, stride, gen));
    ds->push_back(std::make_shared<nn::BatchNorm2d>(planes));
    downsample = register_module("downsample", ds);
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = ops::relu((*bn1)((*conv1)(x)));
  h = (*bn2)((*conv2)(h));
  const Tensor identity = downsample ? (*downsample)(x) : x;
  return ops::relu(ops::add(h, identity));
}

ResNet18::ResNet18(int num_classes, Generator& gen) {
  GPUNET_INPUT_CHECK(num_classes >= 1, "ResNet18: num_classes must be >= 1, got ", num_classes);
  // torchvision's construction order (conv1, bn1, layer1..4, fc), so the draws follow the names.
  conv1 = register_module("conv1", conv(3, 64, 3, 1, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
  auto layer = [&](int in, int planes, int stride) {
    auto s = std::make_shared<nn::Sequential>();
    s->push_back(std::make_shared<BasicBlock>(in, planes, stride, gen));
    s->push_back(std::make_shared<BasicBlock>(planes, planes, 1, gen));
    return s;
  };
  layer1 = register_module("layer1", layer(64, 64, 1));
  layer2 = register_module("layer2", layer(64, 128, 2));
  layer3 = register_module("layer3", layer(128, 256, 2));
  layer4 = register_module("layer4", layer(256, 512, 2));
  fc = register_module("fc", std::make_shared<nn::Linear>(512, num_classes, true, gen));
}

Tensor ResNet18::forward(const Tensor& x) {
  GPUNET_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet18: expected input of shape [N, 3, H, W], got ",
               shape_str(x.shape()));
  Tensor h = ops::relu((*bn1)((*conv1)(x)));
  h = (*layer4)((*layer3)((*layer2)((*layer1)(h))));
  h = ops::adaptive_avg_pool2d(h, 1, 1);
  return (*fc)(ops::flatten(h, 1));
}

}  // namespace gpunet::models
