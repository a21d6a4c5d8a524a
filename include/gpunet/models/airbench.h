#pragma once
/// airbench94's network, exactly the peer's (../shared/peers/pytorch_airbench.py, class Net):
///   whiten: conv 3->24, 2x2, no padding, bias (weight set from the data and frozen) -> GELU
///   group1..3 (widths 64, 256, 256), each: conv3x3 (pad 1, no bias) -> max_pool 2 -> BN -> GELU
///                                         -> conv3x3 (pad 1, no bias) -> BN -> GELU
///   max_pool 3 -> flatten -> head: linear 256->10 (no bias) -> x 1/9 (head_scale)
/// BN: eps 1e-12, momentum 0.4, weight frozen at 1 (requires_grad false), bias trained.
/// state_dict names, in the peer's order: whiten.weight [24,3,2,2], whiten.bias [24],
/// group{1,2,3}.conv1.weight, group{1,2,3}.norm1.{weight,bias,running_mean,running_var,
/// num_batches_tracked}, .conv2.weight, .norm2.{...}, head.weight [10,256]; so the peer's
/// load_state_dict(strict=True) takes gpunet's file and the other way round.
/// Initialisation as the peer's: PyTorch's default for every conv and the head
/// (U(+-1/sqrt(fan_in))), whiten.bias zero, then dirac on the first C_in filters of each group
/// conv (filter i < C_in is the identity on channel i); the whitening weight stays at PyTorch's
/// default until set_whitening() / whiten_from() gives it the data's filters.
///   auto net = std::make_shared<gpunet::models::Airbench94>();
///   net->whiten_from(train, gpunet::data::Transforms::airbench());   // 5,000 images, frozen
///   auto logits = (*net)(x);       // x: (N, 3, 32, 32) -> (N, 10)
///
/// The Muon record's net (Keller Jordan's airbench94_muon.py, CifarNet; registry name
/// "airbench94_muon", Airbench94Options::muon_record()) is the same computation with three
/// differences: the head's logits are x 1/256 (the record divides by the feature count: 1 /
/// widths[2], 256 at its widths);
/// the groups sit in a Sequential, so their names are layers.{1,2,3}.* (layers.0 is the GELU
/// after the whitening, layers.4 the max_pool 3); and the record's reset(): whiten.bias keeps
/// PyTorch's default U(+-1/sqrt(12)) and the head's weight is scaled to unit (unbiased) std.
/// Its state_dict names, in the record's order: whiten.weight, whiten.bias,
/// layers.{1,2,3}.conv1.weight, .norm1.{...}, .conv2.weight, .norm2.{...}, head.weight.
///   auto net = std::make_shared<Airbench94>(gen, Airbench94Options::muon_record());
#include <array>

#include "gpunet/data/dataset.h"
#include "gpunet/data/transforms.h"
#include "gpunet/data/whitening.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/nn/layers.h"

namespace gpunet::models {

/// conv1 -> max_pool 2 -> norm1 -> GELU -> conv2 -> norm2 -> GELU (the peer's ConvGroup).
class AirbenchConvGroup : public nn::Module {
 public:
  AirbenchConvGroup(int in_channels, int out_channels, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string repr() const override { return "ConvGroup"; }
  std::string export_onnx(nn::OnnxGraph& g, const std::string& x) const override;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> norm1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> norm2;
};

struct Airbench94Options {
  std::array<int, 3> widths = {64, 256, 256};
  double head_scale = 1.0 / 9.0;  // the logits' factor (airbench94: 1/9; the Muon record: 1/256)
  bool record_layout = false;     // groups named layers.{1,2,3} in a Sequential (the Muon record)
  bool whiten_bias_default = false;  // whiten.bias keeps PyTorch's default init (else zero)
  bool head_unit_std = false;        // the head's initial weight divided by its (unbiased) std
  /// The Muon record's net at widths `w`: head x 1 / w[2] (1/256), its layout and its
  /// initialisation.
  static Airbench94Options muon_record(std::array<int, 3> w = {64, 256, 256}) {
    return {w, 1.0 / static_cast<double>(w[2]), true, true, true};
  }
};

class Airbench94 : public nn::Module {
 public:
  explicit Airbench94(Generator& gen = default_generator(), Airbench94Options o = {});
  /// x: (N, 3, H, W) float32 with H, W >= 26 (32 for CIFAR-10) -> logits (N, 10).
  Tensor forward(const Tensor& x) override;
  std::string repr() const override { return "Net"; }
  std::string export_onnx(nn::OnnxGraph& g, const std::string& x) const override;
  const Airbench94Options& options() const { return opts_; }

  /// Copies `filters` ([24, 3, 2, 2] float32, any device) into whiten.weight (no autograd
  /// record; the weight stays frozen). Throws InputError naming the shape otherwise.
  void set_whitening(const Tensor& filters);
  /// set_whitening(data::whitening_filters(train, t, o).filters): the filters from the first
  /// o.max_images training images normalised by t. Returns what was computed.
  data::Whitening whiten_from(const data::ImageDataset& train, const data::Transforms& t,
                              const data::WhiteningOptions& o = {});

  std::shared_ptr<nn::Conv2d> whiten;
  std::shared_ptr<AirbenchConvGroup> group1, group2, group3;
  std::shared_ptr<nn::Linear> head;
  /// With record_layout: the record's Sequential (GELU, group1, group2, group3, max_pool 3),
  /// which only names the groups; forward() runs the same computation either way.
  std::shared_ptr<nn::Sequential> layers;

 private:
  Airbench94Options opts_;
};

}  // namespace gpunet::models
