// nn::GELU, SiLU, Dropout, AvgPool2d, AdaptiveAvgPool2d and MaxPool2d's padding/ceil_mode:
// forward equals the op, reprs are PyTorch's, Dropout's RNG offset advances and eval is identity.
#include <gtest/gtest.h>

#include "gpunet/nn/cnn_layers.h"
#include "gpunet/nn/layers.h"
#include "support/assert_close.h"

namespace gpunet {
namespace {

Tensor rand(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::uniform(s, -1.f, 1.f, g);
}

TEST(CnnLayers, ForwardIsTheOp) {
  const Tensor x = rand({2, 3, 7, 7}, 1);
  EXPECT_ALL_CLOSE(nn::GELU()(x), ops::gelu(x), 0.0, 0.0);
  EXPECT_ALL_CLOSE(nn::GELU("tanh")(x), ops::gelu(x, "tanh"), 0.0, 0.0);
  EXPECT_ALL_CLOSE(nn::SiLU()(x), ops::silu(x), 0.0, 0.0);
  EXPECT_ALL_CLOSE(nn::AvgPool2d(3, 2, 1)(x), ops::avg_pool2d(x, 3, 2, 1), 0.0, 0.0);
  EXPECT_ALL_CLOSE(nn::AdaptiveAvgPool2d(1)(x), ops::adaptive_avg_pool2d(x, 1, 1), 0.0, 0.0);
  EXPECT_ALL_CLOSE(nn::MaxPool2d(3, 2, 1, true)(x), ops::max_pool2d(x, 3, 2, 1, true), 0.0, 0.0);
  EXPECT_EQ(nn::AdaptiveAvgPool2d(2, 3)(x).shape(), (Shape{2, 3, 2, 3}));
}

TEST(CnnLayers, Reprs) {
  EXPECT_EQ(nn::GELU().repr(), "GELU(approximate='none')");
  EXPECT_EQ(nn::SiLU().repr(), "SiLU()");
  EXPECT_EQ(nn::Dropout(0.25).repr(), "Dropout(p=0.25, inplace=False)");
  EXPECT_EQ(nn::AvgPool2d(2).repr(), "AvgPool2d(kernel_size=2, stride=2, padding=0)");
  EXPECT_EQ(nn::AdaptiveAvgPool2d(1).repr(), "AdaptiveAvgPool2d(output_size=1)");
  EXPECT_EQ(nn::AdaptiveAvgPool2d(2, 3).repr(), "AdaptiveAvgPool2d(output_size=(2, 3))");
  EXPECT_EQ(nn::MaxPool2d(3, 2, 1).repr(), "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)");
  EXPECT_EQ(nn::MaxPool2d(2).repr(), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
}

TEST(CnnLayers, BadArgumentsNameTheValue) {
  EXPECT_THROW(nn::GELU("x"), Error);
  try {
    nn::Dropout d(1.2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("p=1.2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nn::AvgPool2d(3, 1, 2), Error);
  EXPECT_THROW(nn::AdaptiveAvgPool2d(0), Error);
}

TEST(CnnLayers, DropoutAdvancesItsOffsetAndIsIdentityInEval) {
  Generator g(5);
  nn::Dropout d(0.5, g);
  const Tensor x = rand({3, 10}, 2);
  const uint64_t seed = d.seed();
  const auto a = d(x).to_vector<float>();
  EXPECT_EQ(d.offset(), 30u);
  const auto b = d(x).to_vector<float>();
  EXPECT_EQ(d.offset(), 60u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, ops::dropout(x, 0.5, true, seed, 0).to_vector<float>());
  EXPECT_EQ(b, ops::dropout(x, 0.5, true, seed, 30).to_vector<float>());
  d.eval();
  EXPECT_TRUE(d(x).is_same(x));
  EXPECT_EQ(d.offset(), 60u);
  d.set_state(seed, 0);
  d.train();
  EXPECT_EQ(d(x).to_vector<float>(), a);  // restored state: the same mask
}

}  // namespace
}  // namespace gpunet
