#pragma once
/// The image transforms of the data path, as parameters of the batch kernel (they run fused
/// in the gather, on the loader's device), mirroring torchvision:
///   ToTensor + Normalize(mean, std):  x = ((v / 255) - mean[c]) / std[c]  in float32, the same
///       float ops as torch's images.float().div_(255).sub_(mean).div_(std) (bit-identical)
///   RandomCrop(H, padding=crop_padding):  zero-pad the raw image, crop at a random offset
///   RandomHorizontalFlip(p=0.5)
/// The random choices depend only on (loader seed, epoch, position in the epoch), so a
/// batch is the same on the host and the GPU, and after a resume.
///   auto t = gpunet::data::Transforms::tutorial();          // the seed program's transform
///   t.crop_padding = 4; t.horizontal_flip = true;           // + augmentation
#include <vector>

namespace gpunet::data {

struct Transforms {
  std::vector<float> mean = {0.5f, 0.5f, 0.5f};  // one per channel, or one for all
  std::vector<float> std = {0.5f, 0.5f, 0.5f};   // one per channel, or one for all; nonzero
  int crop_padding = 0;                          // RandomCrop padding; 0: no crop
  bool horizontal_flip = false;                  // RandomHorizontalFlip(0.5)

  /// ToTensor + Normalize((0.5,)*3, (0.5,)*3): the PyTorch tutorial's transform.
  static Transforms tutorial() { return Transforms{}; }
  /// tutorial() + RandomCrop(32, padding=4) + RandomHorizontalFlip().
  static Transforms augmented() {
    Transforms t;
    t.crop_padding = 4;
    t.horizontal_flip = true;
    return t;
  }
  bool augments() const { return crop_padding > 0 || horizontal_flip; }
  /// The same normalisation without augmentation (for evaluation).
  Transforms without_augmentation() const {
    Transforms t = *this;
    t.crop_padding = 0;
    t.horizontal_flip = false;
    return t;
  }
};

}  // namespace gpunet::data
