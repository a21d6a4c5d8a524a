#include "gpunet/models/airbench.h"

#include <cmath>
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/error.h"
#include "gpunet/nn/cnn_layers.h"

namespace gpunet::models {
namespace {

// The peer's BatchNorm: eps 1e-12, momentum 0.4, weight frozen at 1.
std::shared_ptr<nn::BatchNorm2d> frozen_norm(int channels) {
  auto bn = std::make_shared<nn::BatchNorm2d>(channels, 1e-12, 0.4);
  bn->weight.requires_grad_(false);
  return bn;
}

// PyTorch's default conv (drawn from gen), then torch.nn.init.dirac_(weight[:cin]): filter
// i < cin is 1 at (i, 1, 1) and 0 elsewhere.
std::shared_ptr<nn::Conv2d> dirac_conv(int cin, int cout, Generator& gen) {
  GPUNET_INPUT_CHECK(cout >= cin, "Airbench94: a group conv needs at least as many outputs as inputs, got ", cin,
                     " -> ", cout);
  auto conv = std::make_shared<nn::Conv2d>(cin, cout, 3, 1, 1, false, gen);
  std::vector<float> w = conv->weight.to_vector<float>();
  const size_t filter = static_cast<size_t>(cin) * 9;
  for (int o = 0; o < cin; ++o) {
    std::fill(w.begin() + static_cast<std::ptrdiff_t>(o * filter),
              w.begin() + static_cast<std::ptrdiff_t>((o + 1) * filter), 0.f);
    w[o * filter + static_cast<size_t>(o) * 9 + 4] = 1.f;  // the centre tap of input channel o
  }
  NoGradGuard g;
  conv->weight.copy_(Tensor::from_vector(w, conv->weight.shape(), conv->weight.device()));
  return conv;
}

}  // namespace

AirbenchConvGroup::AirbenchConvGroup(int in_channels, int out_channels, Generator& gen) {
  // The peer's construction order, which is its state_dict order.
  conv1 = register_module("conv1", dirac_conv(in_channels, out_channels, gen));
  norm1 = register_module("norm1", frozen_norm(out_channels));
  conv2 = register_module("conv2", dirac_conv(out_channels, out_channels, gen));
  norm2 = register_module("norm2", frozen_norm(out_channels));
}

Tensor AirbenchConvGroup::forward(const Tensor& x) {
  // batch norm + gelu as one op: the normalised tensors are recomputed in the backward, not kept
  // (a quarter of the activation memory the recipe holds).
  Tensor h = norm1->forward_gelu(ops::max_pool2d((*conv1)(x), 2));
  return norm2->forward_gelu((*conv2)(h));
}

Airbench94::Airbench94(Generator& gen, Airbench94Options o) : opts_(o) {
  for (int w : o.widths) GPUNET_INPUT_CHECK(w >= 1, "Airbench94: group widths must be >= 1, got ", w);
  GPUNET_INPUT_CHECK(o.head_scale > 0, "Airbench94: head_scale must be > 0, got ", o.head_scale);
  whiten = register_module("whiten", std::make_shared<nn::Conv2d>(3, 24, 2, 1, 0, true, gen));
  if (!o.whiten_bias_default) {
    NoGradGuard g;
    whiten->bias.fill_(0.0);
  }
  whiten->weight.requires_grad_(false);
  // The same draws in the same order for either layout (whiten, groups 1-3, head).
  group1 = std::make_shared<AirbenchConvGroup>(24, o.widths[0], gen);
  group2 = std::make_shared<AirbenchConvGroup>(o.widths[0], o.widths[1], gen);
  group3 = std::make_shared<AirbenchConvGroup>(o.widths[1], o.widths[2], gen);
  if (o.record_layout) {
    layers = register_module("layers", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                           std::make_shared<nn::GELU>(), group1, group2, group3,
                                           std::make_shared<nn::MaxPool2d>(3)}));
  } else {
    register_module("group1", group1);
    register_module("group2", group2);
    register_module("group3", group3);
  }
  head = register_module("head", std::make_shared<nn::Linear>(o.widths[2], 10, false, gen));
  if (o.head_unit_std) {  // the record's w *= 1 / w.std() (unbiased), in double
    const std::vector<float> w = head->weight.to_vector<float>();
    double mean = 0, ss = 0;
    for (float v : w) mean += v;
    mean /= static_cast<double>(w.size());
    for (float v : w) ss += (v - mean) * (v - mean);
    const double sd = std::sqrt(ss / static_cast<double>(w.size() - 1));
    NoGradGuard g;
    head->weight.copy_(ops::mul(head->weight, 1.0 / sd));
  }
}

Tensor Airbench94::forward(const Tensor& x) {
  GPUNET_INPUT_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) >= 26 && x.size(3) >= 26,
                     "Airbench94: expected input of shape [N, 3, H, W] with H, W >= 26 ([N, 3, 32, 32] for "
                     "CIFAR-10), got ",
                     shape_str(x.shape()));
  Tensor h = ops::gelu((*whiten)(x));
  h = (*group3)((*group2)((*group1)(h)));
  h = ops::flatten(ops::max_pool2d(h, 3), 1);
  // The peer divides by 9; a multiply by the float nearest 1/9 differs by at most an ulp or so.
  return ops::mul((*head)(h), opts_.head_scale);
}

void Airbench94::set_whitening(const Tensor& filters) {
  GPUNET_INPUT_CHECK(
      filters.defined() && filters.dtype() == DType::Float32 && filters.shape() == whiten->weight.shape(),
      "Airbench94: whitening filters must be float32 ", shape_str(whiten->weight.shape()), ", got ",
      filters.defined() ? shape_str(filters.shape()) : std::string("none"));
  NoGradGuard g;
  whiten->weight.copy_(filters);
}

data::Whitening Airbench94::whiten_from(const data::ImageDataset& train, const data::Transforms& t,
                                        const data::WhiteningOptions& o) {
  GPUNET_INPUT_CHECK(train.c == 3 && o.kernel_size == 2,
                     "Airbench94: the whitening needs 3-channel images and 2x2 "
                     "patches, got ",
                     train.c, " channels and k=", o.kernel_size);
  data::Whitening w = data::whitening_filters(train, t, o);
  set_whitening(w.filters);
  return w;
}

}  // namespace gpunet::models
