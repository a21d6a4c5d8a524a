// optim::Lookahead, the airbench recipe's lookahead EMA: against PyTorch's (tools/gen_lookahead.py:
// a conv + BatchNorm + linear net, its state after SGD steps fed in, the lookahead's result
// compared), with and without a parameter store (one flat kernel vs one kernel per tensor), the
// ema following the store's re-layouts, integer buffers untouched, the input checks, and the
// CUDA twin against the CPU one (skipped without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "gpunet/config.h"
#include "gpunet/gpunet.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/optim/lookahead.h"
#include "io/io_test_util.h"
#include "kernels/lookahead.h"
#include "support/assert_close.h"
#include "support/gpu.h"

using namespace gpunet;
using io::testing::expect_input_error;

namespace {

// tools/gen_lookahead.py's Net: conv (3->4, 3x3, pad 1) -> bn -> relu -> flatten -> fc (144->3).
class Net : public nn::Module {
 public:
  Net() {
    Generator gen(5);
    conv = register_module("conv", std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, true, gen));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(4, 1e-12, 0.4));  // the recipe's BN
    fc = register_module("fc", std::make_shared<nn::Linear>(144, 3, true, gen));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(ops::relu((*bn)((*conv)(x))).flatten(1)); }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> fc;
};

struct Fixture {
  std::map<std::string, Tensor> t;
  Fixture() {
    for (auto& [k, v] : io::load_safetensors(std::string(GPUNET_TEST_GOLDEN_DIR) + "/lookahead_steps.safetensors").tensors)
      t[k] = v;
  }
  // The state named "<prefix>.<name>", in the net's state_dict order.
  StateDict state(const std::string& prefix, const nn::Module& net) const {
    StateDict sd;
    for (const auto& [name, v] : net.state_dict()) sd.emplace_back(name, t.at(prefix + "." + name));
    return sd;
  }
  double decay(int step) const { return t.at("decay").to_vector<double>().at(static_cast<size_t>(step)); }
};

void expect_state(const nn::Module& net, const StateDict& expected, const std::string& what) {
  for (const auto& [name, v] : net.state_dict()) {
    const Tensor* e = state_dict_find(expected, name);
    ASSERT_NE(e, nullptr) << name;
    // One fused lerp per element on both sides: agreement to rounding.
    EXPECT_ALL_CLOSE(v, *e, 1e-7, 1e-6) << what << ": " << name;
  }
}

// Feeds PyTorch's post-SGD states in and checks the lookahead's output at steps 5, 10 and after
// the closing copy; with_store: an SGD optimizer lays the parameters out in a flat store first.
void run_recipe(bool with_store) {
  Fixture fx;
  Net net;
  net.bn->weight.requires_grad_(false);  // frozen at 1, as in the recipe: still in the ema
  net.load_state_dict(fx.state("init", net));
  std::unique_ptr<optim::SGD> opt;
  if (with_store) opt = std::make_unique<optim::SGD>(net, optim::SGDOptions{.lr = 0.05, .momentum = 0.85, .nesterov = true});
  optim::Lookahead la(net);
  // 8 float tensors: the store's weights as one flat run + running_mean + running_var, or one each.
  EXPECT_EQ(la.kernels_per_update(), with_store ? 3u : 8u);
  for (int step : {5, 10}) {
    net.load_state_dict(fx.state("pre." + std::to_string(step), net));
    la.update(optim::lookahead_decay(step, 12));
    EXPECT_EQ(optim::lookahead_decay(step, 12), fx.decay(step));
    expect_state(net, fx.state("post." + std::to_string(step), net), "after the lookahead of step " + std::to_string(step));
  }
  net.load_state_dict(fx.state("pre.12", net));
  la.copy_to_net();
  expect_state(net, fx.state("final", net), "after the closing copy");
}

// The host rule the kernel implements (PyTorch's vectorised lerp), for exact comparisons.
float lerp_ref(float e, float x, double decay) {
  const float w = static_cast<float>(1.0 - decay);
  return std::abs(w) < 0.5f ? std::fma(w, x - e, e) : std::fma(w - 1.0f, x - e, x);
}

}  // namespace

TEST(Lookahead, MatchesTheRecipeOnAFlatParameterStore) { run_recipe(true); }
TEST(Lookahead, MatchesTheRecipeTensorByTensor) { run_recipe(false); }

TEST(Lookahead, FollowsTheStoreThroughReLayoutsAndLeavesIntegerBuffersAlone) {
  Net net;
  Generator g(9);
  Tensor x = Tensor::normal({4, 3, 6, 6}, 0.f, 1.f, g);
  Tensor y = Tensor::from_vector<int64_t>({0, 1, 2, 1}, {4});
  net.bn->num_batches_tracked.copy_(Tensor::from_vector<int64_t>({7}, {}));
  optim::Lookahead la(net);  // before any store: one kernel per tensor
  EXPECT_EQ(la.kernels_per_update(), 8u);
  std::map<std::string, std::vector<float>> ema;
  for (const auto& [name, v] : net.state_dict())
    if (v.dtype() == DType::Float32) ema[name] = v.to_vector<float>();
  optim::SGD opt(net, {.lr = 0.1, .momentum = 0.9});
  for (int step = 1; step <= 6; ++step) {
    if (step == 3) net.conv->bias.requires_grad_(false);  // the store re-lays out at the next step
    opt.zero_grad();
    ops::cross_entropy(net(x), y).backward();
    opt.step();
    const double d = 0.3 + 0.1 * step;
    for (const auto& [name, v] : net.state_dict()) {
      if (v.dtype() != DType::Float32) continue;
      const std::vector<float> cur = v.to_vector<float>();
      for (size_t i = 0; i < cur.size(); ++i) ema[name][i] = lerp_ref(ema[name][i], cur[i], d);
    }
    const std::vector<int64_t> tracked = net.bn->num_batches_tracked.to_vector<int64_t>();
    EXPECT_EQ(tracked, std::vector<int64_t>{7 + step});  // advanced by the BN's forward only
    la.update(d);
    EXPECT_EQ(net.bn->num_batches_tracked.to_vector<int64_t>(), tracked);  // integer buffers: left alone
    EXPECT_EQ(la.kernels_per_update(), 3u);  // the store's flat run since the optimizer exists
    for (const auto& [name, v] : net.state_dict()) {
      if (v.dtype() != DType::Float32) continue;
      EXPECT_EQ(v.to_vector<float>(), ema[name]) << "step " << step << ": " << name;
      EXPECT_EQ(state_dict_find(la.ema(), name)->to_vector<float>(), ema[name]) << name;
    }
  }
}

TEST(Lookahead, DeviceScalarDecayEqualsTheHostOne) {
  Net a, b;
  optim::Lookahead la(a), lb(b);
  Tensor d = Tensor::zeros({1}, DType::Float64);
  Generator g(12);
  for (double decay : {0.2, 0.6, 0.95}) {
    for (const auto& [name, v] : a.state_dict()) {  // move both nets away from their ema, equally
      if (v.dtype() != DType::Float32) continue;
      Tensor r = Tensor::normal(v.shape(), 0.f, 1.f, g);
      Tensor va = v, vb = *state_dict_find(b.state_dict(), name);
      va.copy_(r);
      vb.copy_(r);
    }
    d.copy_(Tensor::from_vector<double>({decay}, {1}));
    la.update(decay);
    lb.update(d);
    for (const auto& [name, v] : a.state_dict())
      if (v.dtype() == DType::Float32) EXPECT_EQ(v.to_vector<float>(), state_dict_find(b.state_dict(), name)->to_vector<float>());
  }
}

TEST(Lookahead, RecipeDecayScheduleEqualsTheRecipesTable) {
  Fixture fx;
  const std::vector<double> table = fx.t.at("decay").to_vector<double>();
  for (int64_t s = 0; s <= 12; ++s)
    EXPECT_NEAR(optim::lookahead_decay(s, 12), table[static_cast<size_t>(s)], 1e-15) << "step " << s;
  expect_input_error([] { optim::lookahead_decay(13, 12); }, {"lookahead_decay", "13"});
  expect_input_error([] { optim::lookahead_decay(0, 0); }, {"lookahead_decay", "total_steps", "0"});
}

TEST(Lookahead, RejectsBadInput) {
  Net net;
  optim::Lookahead la(net);
  expect_input_error([&] { la.update(std::nan("")); }, {"Lookahead.update", "decay", "nan"});
  expect_input_error([&] { la.update(Tensor::zeros({1})); }, {"Lookahead.update", "float64", "float32"});
  expect_input_error([&] { la.update(Tensor::zeros({2}, DType::Float64)); }, {"Lookahead.update", "[2]"});
  class Wide : public nn::Module {
   public:
    Wide() { register_buffer("stat", Tensor::zeros({2}, DType::Float64)); }
    Tensor forward(const Tensor& x) override { return x; }
  } wide;
  expect_input_error([&] { optim::Lookahead bad(wide); }, {"Lookahead", "'stat'", "float64"});
}

TEST(Lookahead, CudaTwinEqualsTheCpu) {
  GPUNET_REQUIRE_GPU();
#if GPUNET_HAVE_CUDA
  Generator g(4);
  const int64_t n = 100003;
  for (double decay : {0.0, 0.3, 0.5, 0.77, 1.0}) {
    Tensor e = Tensor::normal({n}, 0.f, 1.f, g), x = Tensor::normal({n}, 0.f, 1.f, g);
    Tensor dc = Tensor::from_vector<double>({decay}, {1});
    const Device cuda = Device::parse("cuda:0");
    Tensor eg = e.to(cuda), xg = x.to(cuda), dg = dc.to(cuda);
    kernels::cpu::lookahead_update<float>(n, dc.data<double>(), e.data<float>(), x.data<float>());
    kernels::cuda::lookahead_update(n, dg.data<double>(), eg.data<float>(), xg.data<float>());
    EXPECT_EQ(eg.to_vector<float>(), e.to_vector<float>()) << "decay " << decay;
    EXPECT_EQ(xg.to_vector<float>(), x.to_vector<float>()) << "decay " << decay;
  }
#endif
}
