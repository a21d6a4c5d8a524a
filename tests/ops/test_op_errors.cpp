// Each front end validates once and names the op and the bad value.
#include <gtest/gtest.h>

#include "gpunet/ops.h"
#include "ops/common.h"

namespace gpunet {
namespace {

// Runs f, expects a gpunet::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F&& f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(OpErrors, ShapesAreChecked) {
  const Tensor img3 = Tensor::zeros({3, 32, 32});
  expect_error([&] { ops::max_pool2d(img3, 2); }, {"max_pool2d: expected a 4-D NCHW input, got [3, 32, 32]"});
  expect_error([&] { ops::conv2d(img3, Tensor::zeros({6, 3, 5, 5}), Tensor()); }, {"conv2d", "4-D", "[3, 32, 32]"});
  expect_error([&] { ops::conv2d(Tensor::zeros({1, 4, 8, 8}), Tensor::zeros({6, 3, 5, 5}), Tensor()); },
               {"conv2d", "4 channels", "expects 3"});
  expect_error([&] { ops::conv2d(Tensor::zeros({1, 3, 8, 8}), Tensor::zeros({6, 3, 5, 5}), Tensor::zeros({5})); },
               {"conv2d", "bias", "[5]"});
  expect_error([&] { ops::conv2d(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({6, 3, 5, 5}), Tensor()); },
               {"conv2d", "larger"});
  expect_error([&] { ops::max_pool2d(Tensor::zeros({1, 1, 2, 2}), 3); }, {"max_pool2d", "larger"});
  expect_error([&] { ops::linear(Tensor::zeros({4, 7}), Tensor::zeros({3, 8}), Tensor()); },
               {"linear", "7 features", "expects 8"});
  expect_error([&] { ops::add(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); }, {"add", "[2, 3]", "[3, 2]"});
  expect_error([&] { ops::argmax(Tensor::zeros({2, 3}), 0); }, {"argmax", "last dimension"});
  expect_error([&] { ops::argmax(Tensor::zeros({2, 3}), 2); }, {"argmax", "out of range"});
}

TEST(OpErrors, DtypesAreChecked) {
  expect_error([&] { ops::relu(Tensor::zeros({2}, DType::Int64)); }, {"relu", "float32", "int64"});
  expect_error([&] { ops::relu(Tensor::zeros({2}, DType::Float64)); }, {"relu", "float32", "float64"});
  expect_error([&] { ops::eq(Tensor::zeros({2}), Tensor::zeros({2})); }, {"eq", "int64", "float32"});
  expect_error([&] { ops::cross_entropy(Tensor::zeros({2, 3}), Tensor::zeros({2})); },
               {"cross_entropy", "target", "int64"});
}

TEST(OpErrors, TargetsAreChecked) {
  const Tensor logits = Tensor::zeros({2, 3});
  expect_error([&] { ops::cross_entropy(logits, Tensor::from_vector<int64_t>({0, 3}, {2})); },
               {"cross_entropy", "target 3", "3 classes"});
  expect_error([&] { ops::nll_loss(logits, Tensor::from_vector<int64_t>({-1, 0}, {2})); }, {"nll_loss", "target -1"});
  expect_error([&] { ops::cross_entropy(logits, Tensor::from_vector<int64_t>({0, 1, 2}, {3})); },
               {"cross_entropy", "[2]", "[3]"});
}

TEST(OpErrors, SameDeviceCheckPassesOnOneDevice) {
  EXPECT_NO_THROW(check_same_device("add", Tensor::zeros({1}), Tensor::zeros({1})));
}

TEST(OpErrors, UndefinedInputsAreNamed) {
  expect_error([&] { ops::relu(Tensor()); }, {"relu", "undefined"});
  expect_error([&] { ops::linear(Tensor::zeros({1, 2}), Tensor(), Tensor()); }, {"linear", "weight", "undefined"});
}

// The front ends' size limits for kernels that index in 32 bits (cuDNN's descriptors; int
// dimensions): one line naming the op, what and the size. (A tensor that large is 8 GiB, so the
// helpers the front ends call are tested directly.)
TEST(OpErrors, SizesKernelsCannotIndexAreRejected) {
  const int64_t big = int64_t{1} << 31;
  expect_error([&] { ops::detail::check_numel("conv2d", "input", big); },
               {"conv2d: input has 2147483648 elements, more than the 2147483647 its kernels can index"});
  EXPECT_NO_THROW(ops::detail::check_numel("conv2d", "input", big - 1));
  expect_error([&] { ops::detail::to_int("linear", big); }, {"linear: dimension 2147483648 is out of"});
  EXPECT_EQ(ops::detail::to_int("linear", big - 1), INT32_MAX);
}

}  // namespace
}  // namespace gpunet
