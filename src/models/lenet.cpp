#include "gpunet/models/lenet.h"

namespace gpunet::models {

LeNet::LeNet(Generator& gen, int num_classes) {
  GPUNET_CHECK(num_classes >= 1 && num_classes <= 4096, "LeNet: num_classes must be 1-4096, got ", num_classes);
  // Same construction order as PyTorch's Net.__init__.
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(3, 6, 5, 1, 0, true, gen));
  pool = register_module("pool", std::make_shared<nn::MaxPool2d>(2, 2));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(6, 16, 5, 1, 0, true, gen));
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(16 * 5 * 5, 120, true, gen));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(120, 84, true, gen));
  fc3 = register_module("fc3", std::make_shared<nn::Linear>(84, num_classes, true, gen));
}

Tensor LeNet::forward(const Tensor& x) {
  GPUNET_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == 32 && x.size(3) == 32,
               "LeNet: expected input of shape [N, 3, 32, 32], got ", shape_str(x.shape()));
  Tensor h = (*pool)(ops::relu((*conv1)(x)));
  h = (*pool)(ops::relu((*conv2)(h)));
  h = ops::flatten(h, 1);
  h = ops::relu((*fc1)(h));
  h = ops::relu((*fc2)(h));
  return (*fc3)(h);
}

}  // namespace gpunet::models
