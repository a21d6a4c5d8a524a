// Host memory of an airbench94 training step: the tensors in use at once (memory::stats peak)
// stay close to what backward needs, the activations the nodes save. Per image (floats):
//   whiten: its GELU's input and output                       2 x 24x31x31 = 46,128
//   group1: pool argmax + 6 saved (BN, GELU, conv inputs)     7 x 64x15x15 = 100,800
//   group2:                                                   7 x 256x7x7  = 87,808
//   group3:                                                   7 x 256x3x3  = 16,128
//   final pool + head                                         2 x 256      = 512
// = 251,376 floats, 0.96 MiB per image. The step's peak adds the gradients in flight and the
// conv's reordered buffers and the weights' gradients (bound: 1.5x). When the graph held every intermediate (each conv output before its
// max-pool as well), the peak was 1.9 MB per image (1.93 GB at batch 1024).
#include <gtest/gtest.h>

#include "gpunet/autograd.h"
#include "gpunet/models/airbench.h"
#include "gpunet/ops.h"
#include "gpunet/random.h"

namespace gpunet {
namespace {

TEST(AirbenchMemory, ATrainingStepHoldsLittleMoreThanTheSavedActivations) {
  constexpr int64_t B = 64;
  constexpr double kSavedBytesPerImage = 251376.0 * 4;
  Generator gen(0);
  models::Airbench94 net(gen);
  net.train();
  Tensor x = Tensor::normal({B, 3, 32, 32}, 0.f, 1.f, gen);
  std::vector<int64_t> labels(B);
  for (int64_t i = 0; i < B; ++i) labels[i] = i % 10;
  Tensor y = Tensor::from_vector(labels, {B});
  const size_t before = memory::stats(Device::cpu()).in_use;
  memory::reset_peak(Device::cpu());
  ops::cross_entropy(net.forward(x), y, 0.2, ops::Reduction::Sum).backward();
  const double step_peak = static_cast<double>(memory::stats(Device::cpu()).peak - before);
  const double per_image = step_peak / B;
  EXPECT_LT(per_image, 1.5 * kSavedBytesPerImage)
      << "a training step held " << step_peak / 1e6 << " MB at batch " << B << " (" << per_image / 1e6
      << " MB per image) against " << kSavedBytesPerImage / 1e6 << " MB per image of saved activations";
  EXPECT_GT(per_image, kSavedBytesPerImage) << "the bound's arithmetic no longer describes the model";
}

}  // namespace
}  // namespace gpunet
