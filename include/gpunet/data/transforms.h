#pragma once
/// The image transforms of the data path, as parameters of the batch kernel (they run fused
/// in the gather, on the loader's device), mirroring torchvision and the airbench94 recipe:
///   ToTensor + Normalize(mean, std):  x = ((v / 255) - mean[c]) / std[c]  in float32, the same
///       float ops as torch's images.float().div_(255).sub_(mean).div_(std) (bit-identical)
///   RandomCrop(H, padding=crop_padding):  pad the raw image with zeros (padding_mode Zeros,
///       torchvision's default) or by reflection (Reflect: airbench's translate, which needs
///       crop_padding < the image side), crop back at a random offset, new each epoch
///   RandomHorizontalFlip(p=0.5) (flip_mode Random), or airbench's alternating flip
///       (Alternating): each image flipped with p 0.5 once, then every image's flip inverted on
///       odd epochs
/// The random choices depend only on (loader seed, epoch, position in the epoch) and, for the
/// alternating flip, (loader seed, record), so a batch is the same on the host and the GPU,
/// and after a resume.
///   auto t = gpunet::data::Transforms::tutorial();          // the seed program's transform
///   t.crop_padding = 4; t.horizontal_flip = true;           // + augmentation
///   auto a = gpunet::data::Transforms::airbench();          // airbench94's data; --no-augment:
///   auto plain = a.without_augmentation();                  //   its normalisation alone
#include <vector>

namespace gpunet::data {

enum class PaddingMode { Zeros, Reflect };
enum class FlipMode { Random, Alternating };

struct Transforms {
  std::vector<float> mean = {0.5f, 0.5f, 0.5f};   // one per channel, or one for all
  std::vector<float> std = {0.5f, 0.5f, 0.5f};    // one per channel, or one for all; nonzero
  int crop_padding = 0;                           // RandomCrop padding; 0: no crop
  PaddingMode padding_mode = PaddingMode::Zeros;  // how the crop pads
  bool horizontal_flip = false;                   // flip (p = 0.5)
  FlipMode flip_mode = FlipMode::Random;          // a coin per sample, or airbench's alternation

  /// ToTensor + Normalize((0.5,)*3, (0.5,)*3): the PyTorch tutorial's transform.
  static Transforms tutorial() { return Transforms{}; }
  /// tutorial() + RandomCrop(32, padding=4) + RandomHorizontalFlip().
  static Transforms augmented() {
    Transforms t;
    t.crop_padding = 4;
    t.horizontal_flip = true;
    return t;
  }
  /// airbench94: Normalize(CIFAR-10 mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435,
  /// 0.2616)), reflect-pad-2 random translate, alternating flip.
  static Transforms airbench() {
    Transforms t;
    t.mean = {0.4914f, 0.4822f, 0.4465f};
    t.std = {0.2470f, 0.2435f, 0.2616f};
    t.crop_padding = 2;
    t.padding_mode = PaddingMode::Reflect;
    t.horizontal_flip = true;
    t.flip_mode = FlipMode::Alternating;
    return t;
  }
  bool augments() const { return crop_padding > 0 || horizontal_flip; }
  /// The same normalisation without augmentation (for evaluation, and --no-augment).
  Transforms without_augmentation() const {
    Transforms t = *this;
    t.crop_padding = 0;
    t.horizontal_flip = false;
    return t;
  }
};

}  // namespace gpunet::data
