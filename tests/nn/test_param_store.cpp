// optim::ParamStore: the layout of groups (trainable parameters first, frozen after), gradients
// and state slots laid out alike, buckets in reverse registration order, identity kept across
// re-layouts, the generation counter, and the errors (a parameter in two groups).
#include <gtest/gtest.h>

#include "gpunet/gpunet.h"
#include "gpunet/optim/param_store.h"
#include "io/io_test_util.h"

using namespace gpunet;
using io::testing::expect_input_error;

namespace {

struct Three {
  Generator gen{7};
  nn::Linear a{4, 3, true, gen}, b{3, 5, true, gen}, c{5, 2, true, gen};
};

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

}  // namespace

TEST(ParamStore, LaysOutGroupsTrainableFirstAndKeepsIdentity) {
  Three m;
  m.a.bias.requires_grad_(false);  // frozen: after the group's trainable parameters
  const auto aw = values(m.a.weight), ab = values(m.a.bias), cw = values(m.c.weight);
  Tensor handle = m.a.bias;
  optim::ParamStore s({{{m.a.weight, m.a.bias, m.b.weight}, {}}, {{m.c.weight, m.c.bias}, {}}});
  ASSERT_EQ(s.num_groups(), 2u);
  ASSERT_EQ(s.params().size(), 5u);
  EXPECT_EQ(s.group_of(3), 1u);
  EXPECT_TRUE(s.contains(m.b.weight));
  EXPECT_FALSE(s.contains(m.b.bias));
  // weights: [a.w(12) b.w(15) a.b(3) | c.w(10) c.b(2)], gradients: [a.w b.w | c.w c.b]
  EXPECT_EQ(s.master().numel(), 42);
  EXPECT_EQ(s.grads().numel(), 39);
  EXPECT_EQ(s.range(0).weight_offset, 0);
  EXPECT_EQ(s.range(0).trainable, 27);
  EXPECT_EQ(s.range(1).weight_offset, 30);
  EXPECT_EQ(s.range(1).grad_offset, 27);
  EXPECT_EQ(s.range(1).trainable, 12);
  EXPECT_EQ(m.b.weight.storage_offset() - s.master().storage_offset(), 12);
  EXPECT_EQ(m.a.bias.storage_offset() - s.master().storage_offset(), 27);
  // Values and identity kept; gradients are views into the gradient buffer; frozen: none.
  EXPECT_EQ(values(m.a.weight), aw);
  EXPECT_EQ(values(m.a.bias), ab);
  EXPECT_EQ(values(m.c.weight), cw);
  EXPECT_TRUE(handle.is_same(m.a.bias));
  EXPECT_EQ(m.c.weight.storage(), s.master().storage());
  EXPECT_EQ(s.compute().storage(), s.master().storage());  // float32: one buffer
  EXPECT_FALSE(m.a.bias.grad().defined());
  EXPECT_EQ(m.c.bias.grad().storage(), s.grads().storage());
  EXPECT_EQ(m.c.bias.grad().storage_offset() - s.grads().storage_offset(), 37);
}

TEST(ParamStore, AParameterInTwoGroupsIsAnInputError) {
  Three m;
  expect_input_error([&] { optim::ParamStore s({{{m.a.weight, m.b.weight}, {}}, {{m.c.weight, m.b.weight}, {}}}); },
                     {"group 1, parameter 1", "[5, 3]", "already in group 0"});
  expect_input_error([&] { optim::SGD opt({{{m.a.weight}, {}}, {{m.a.weight}, {}}}); }, {"group 1, parameter 0"});
  expect_input_error([&] { optim::ParamStore s({{{m.a.weight, m.a.weight}, {}}}); }, {"group 0, parameter 1"});
  // With a module, the parameter is named as in the state dict.
  models::LeNet net;
  expect_input_error(
      [&] {
        optim::SGD opt({{{net.conv1->weight, net.fc1->bias}, {}}, {{net.fc2->weight, net.fc1->bias}, {}}}, &net);
      },
      {"'fc1.bias'", "group 0 and in group 1"});
  expect_input_error([&] { optim::ParamStore s({{{Tensor::zeros({2}, DType::Int64)}, {}}}); }, {"int64", "float32"});
  expect_input_error([&] { optim::ParamStore s(std::vector<optim::ParamGroup>{optim::ParamGroup{}}); }, {"empty parameter list"});
}

TEST(ParamStore, BucketsCoverTheGradientsInReverseRegistrationOrder) {
  Three m;  // gradients: a.w 12, a.b 3, b.w 15, b.b 5, c.w 10, c.b 2 (47 floats)
  optim::ParamStore one({{{m.a.weight, m.a.bias, m.b.weight, m.b.bias, m.c.weight, m.c.bias}, {}}});
  ASSERT_EQ(one.buckets().size(), 1u);  // 25 MiB by default
  EXPECT_EQ(one.buckets()[0].offset, 0);
  EXPECT_EQ(one.buckets()[0].numel, 47);

  optim::ParamStore s({{{m.a.weight, m.a.bias, m.b.weight, m.b.bias, m.c.weight, m.c.bias}, {}}}, /*bucket_bytes=*/40);
  // From the end: [c.b c.w] = 48 bytes, [b.b b.w] = 80, [a.b a.w] = 60.
  const auto& bk = s.buckets();
  ASSERT_EQ(bk.size(), 3u);
  EXPECT_EQ(bk[0].params, (std::vector<size_t>{5, 4}));
  EXPECT_EQ(bk[1].params, (std::vector<size_t>{3, 2}));
  EXPECT_EQ(bk[2].params, (std::vector<size_t>{1, 0}));
  int64_t end = s.grads().numel();
  for (size_t i = 0; i < bk.size(); ++i) {  // contiguous, descending, covering everything
    EXPECT_EQ(bk[i].offset + bk[i].numel, end) << "bucket " << i;
    end = bk[i].offset;
    EXPECT_EQ(s.bucket_grads(i).numel(), bk[i].numel);
  }
  EXPECT_EQ(end, 0);
  // A bucket's view is the gradients it covers.
  s.zero_grad();
  m.c.bias.grad().fill_(3.0);
  auto b0 = values(s.bucket_grads(0));
  EXPECT_EQ(b0[10], 3.f);
  EXPECT_EQ(b0[11], 3.f);
  EXPECT_EQ(b0[9], 0.f);
}

TEST(ParamStore, SlotsAreZeroedAndLaidOutLikeTheGradients) {
  Three m;
  m.b.weight.requires_grad_(false);
  optim::ParamStore s({{{m.a.weight, m.b.weight, m.c.bias}, {}}});
  EXPECT_FALSE(s.has_slot("exp_avg"));
  Tensor e = s.slot("exp_avg");
  EXPECT_TRUE(s.has_slot("exp_avg"));
  EXPECT_EQ(e.numel(), s.grads().numel());
  for (float v : values(e)) EXPECT_EQ(v, 0.f);
  EXPECT_FALSE(s.slot_view("exp_avg", 1).defined());  // frozen: no state
  Tensor v2 = s.slot_view("exp_avg", 2);
  EXPECT_EQ(v2.shape(), m.c.bias.shape());
  EXPECT_EQ(v2.storage_offset() - e.storage_offset(), m.a.weight.numel());
}

TEST(ParamStore, RelayoutOnRequiresGradChangeKeepsValuesAndState) {
  Three m;
  optim::ParamStore s({{{m.a.weight, m.a.bias, m.b.weight}, {}}});
  const uint64_t g0 = s.generation();
  s.zero_grad();
  s.sync_layout();
  EXPECT_EQ(s.generation(), g0) << "nothing changed";
  s.slot_view("momentum_buffer", 2).fill_(2.5);
  m.b.weight.grad().fill_(1.5);
  m.a.bias.grad().fill_(-1.0);
  const auto before = values(m.a.bias);

  m.a.bias.requires_grad_(false);
  s.sync_layout();
  EXPECT_NE(s.generation(), g0);
  EXPECT_FALSE(m.a.bias.grad().defined());
  EXPECT_EQ(values(m.a.bias), before);
  EXPECT_EQ(s.grads().numel(), 27);
  for (float v : values(s.slot_view("momentum_buffer", 2))) EXPECT_EQ(v, 2.5f);
  for (float v : values(m.b.weight.grad())) EXPECT_EQ(v, 1.5f);

  const uint64_t g1 = s.generation();
  m.a.bias.requires_grad_(true);  // unfrozen: fresh gradient and state
  s.sync_layout();
  EXPECT_NE(s.generation(), g1);
  ASSERT_TRUE(m.a.bias.grad().defined());
  for (float v : values(m.a.bias.grad())) EXPECT_EQ(v, 0.f);
  for (float v : values(s.slot_view("momentum_buffer", 1))) EXPECT_EQ(v, 0.f);
  for (float v : values(s.slot_view("momentum_buffer", 2))) EXPECT_EQ(v, 2.5f);

  // A gradient set to none by hand is pointed back at the buffer, without a re-layout.
  const uint64_t g2 = s.generation();
  m.a.weight.set_grad(Tensor());
  s.zero_grad();
  EXPECT_EQ(s.generation(), g2);
  EXPECT_EQ(m.a.weight.grad().storage(), s.grads().storage());
}

TEST(ParamStore, ModuleZeroGradAndToUseTheAttachedStore) {
  models::LeNet net;
  optim::SGD opt(net, optim::SGDOptions{.lr = 0.1});
  ASSERT_EQ(net.param_store().get(), &opt.store());
  const uint64_t gen = opt.store().generation();
  Tensor(opt.store().grads()).fill_(1.0);
  net.zero_grad();
  for (float v : values(opt.store().grads())) ASSERT_EQ(v, 0.f);
  net.to(Device::cpu());  // no move: the same layout
  EXPECT_EQ(opt.store().generation(), gen);
  EXPECT_EQ(net.fc1->weight.storage(), opt.store().master().storage());
}
