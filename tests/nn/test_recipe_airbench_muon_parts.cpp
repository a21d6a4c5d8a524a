// Issue 13, the airbench94_muon recipe's parts: the model's names and initialisation as the
// record's (airbench94_muon.py), the recipe's numbers (steps, group lrs and decays, schedules),
// the whitening in the record's (ascending) order against the generator's, and a checkpoint of
// the two optimizers (SGD + Muon) resumed bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/whitening.h"
#include "gpunet/gpunet.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/io/safetensors.h"
#include "gpunet/models/airbench.h"
#include "gpunet/models/registry.h"
#include "gpunet/train/recipe.h"
#include "gpunet/train/recipe_run.h"

using namespace gpunet;

namespace {

const train::Recipe& R() { return train::recipe("airbench94_muon"); }

std::shared_ptr<data::ImageDataset> first_train(int64_t n) {
  auto d = std::make_shared<data::ImageDataset>(data::Cifar10(data::sample_dir(), data::Split::Train));
  d->n = n;
  d->images.resize(static_cast<size_t>(n * d->record_bytes()));
  d->labels.resize(static_cast<size_t>(n));
  return d;
}

TEST(RecipeAirbench94MuonParts, TheModelHasTheRecordsNamesAndInitialisation) {
  auto net = models::make_model("airbench94_muon", default_generator());
  std::vector<std::string> names;
  for (const auto& [n, t] : net->state_dict()) names.push_back(n);
  std::vector<std::string> want = {"whiten.weight", "whiten.bias"};
  for (int g = 1; g <= 3; ++g)
    for (int k = 1; k <= 2; ++k) {
      const std::string p = "layers." + std::to_string(g) + ".";
      want.push_back(p + "conv" + std::to_string(k) + ".weight");
      for (const char* s : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
        want.push_back(p + "norm" + std::to_string(k) + "." + s);
    }
  want.push_back("head.weight");
  EXPECT_EQ(names, want);
  auto* ab = dynamic_cast<models::Airbench94*>(net.get());
  ASSERT_NE(ab, nullptr);
  EXPECT_EQ(ab->options().head_scale, 1.0 / 256.0);
  // reset(): the head at unit (unbiased) std, whiten.bias at PyTorch's default (not zero).
  const std::vector<float> h = ab->head->weight.to_vector<float>();
  double mean = 0, ss = 0;
  for (float v : h) mean += v;
  mean /= static_cast<double>(h.size());
  for (float v : h) ss += (v - mean) * (v - mean);
  EXPECT_NEAR(std::sqrt(ss / static_cast<double>(h.size() - 1)), 1.0, 1e-5);
  double bias_abs = 0;
  for (float v : ab->whiten->bias.to_vector<float>()) {
    EXPECT_LE(std::abs(v), 1.0 / std::sqrt(12.0));
    bias_abs += std::abs(v);
  }
  EXPECT_GT(bias_abs, 0.0);
  // The registry tells the two airbench nets apart by their names.
  EXPECT_EQ(models::registry().recognise_or_throw(names, "a file").name, "airbench94_muon");
  EXPECT_EQ(train::recipe_for_model("airbench94_muon"), &R());
  // The record's layout computes what airbench94's does with the same weights and head scale.
  Generator g1(3), g2(3);
  models::Airbench94 a(g1, {{24, 24, 24}, 1.0 / 24.0}), b(g2, models::Airbench94Options::muon_record({24, 24, 24}));
  StateDict sd;
  auto bsd = b.state_dict();
  size_t i = 0;
  for (const auto& [n, t] : a.state_dict()) sd.emplace_back(bsd[i++].first, t);
  b.load_state_dict(sd, true);
  a.eval();
  b.eval();
  Tensor x = Tensor::uniform({2, 3, 32, 32}, -2.f, 2.f, g1);
  EXPECT_EQ(a.forward(x).to_vector<float>(), b.forward(x).to_vector<float>());
}

TEST(RecipeAirbench94MuonParts, TheNumbersAreTheRecords) {
  const train::Recipe& r = R();
  EXPECT_EQ(r.model, "airbench94_muon");
  EXPECT_EQ(train::total_steps(r, 50000, r.batch_size, r.epochs), 200);  // ceil(25 x 8)
  EXPECT_EQ(r.lookahead_every, 0);
  EXPECT_FALSE(r.whitening.descending);
  EXPECT_TRUE(r.muon.ns_bf16);
  EXPECT_EQ(r.muon.ns_steps, 3);
  ASSERT_EQ(r.groups.size(), 4u);
  const auto g = train::group_numbers(r, 2000);
  const double wd = 2e-6 * 2000;
  const double lrs[] = {0.053, 0.053, 0.67, 0.24};
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(g[k].lr, lrs[k]) << r.groups[k].label;
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(g[k].weight_decay, wd / lrs[k]) << r.groups[k].label;
    EXPECT_EQ(g[k].momentum, 0.85);
    EXPECT_TRUE(g[k].nesterov);
  }
  EXPECT_EQ(r.groups[3].optimizer, train::GroupOptimizer::Muon);
  EXPECT_EQ(g[3].weight_decay, 0.0);
  EXPECT_EQ(g[3].momentum, 0.6);
  EXPECT_TRUE(g[3].nesterov);
  // lr factors: 1 - t / 200 for the run's groups, 1 - t / 75 (then 0) for the whitening bias.
  const int64_t spe = train::steps_per_epoch(r, 50000, 2000);
  for (size_t k = 0; k < 4; ++k) {
    const std::vector<double> t = train::group_lr_schedule(r, k, 200, spe).table(200, {1.0});
    const double span = k == 0 ? 75.0 : 200.0;
    for (int64_t s : {0, 1, 37, 74, 75, 120, 199})
      EXPECT_NEAR(t[static_cast<size_t>(s)], std::max(0.0, 1.0 - static_cast<double>(s) / span), 1e-15)
          << r.groups[k].label << " step " << s;
  }
}

// gpunet's whitening of the generator's 50 images in the record's ascending order equals the
// generator's (torch.linalg.eigh), filter by filter up to sign.
TEST(RecipeAirbench94MuonParts, TheWhiteningIsTheRecordsUpToSign) {
  const auto f = io::load_safetensors(std::string(GPUNET_TEST_GOLDEN_DIR) + "/airbench_muon_steps.safetensors");
  const Tensor* ww = state_dict_find(f.tensors, "init.whiten.weight");
  ASSERT_NE(ww, nullptr);
  const std::vector<float> want = ww->to_vector<float>();
  const data::Whitening w = data::whitening_filters(*first_train(std::stoll(f.metadata.at("n_train"))),
                                                    R().transforms, R().whitening);
  const std::vector<float> got = w.filters.to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 1; i < w.eigenvalues.size(); ++i) EXPECT_LE(w.eigenvalues[i - 1], w.eigenvalues[i]);
  for (size_t k = 0; k < 24; ++k) {
    double same = 0, flipped = 0, scale = 0;
    for (size_t d = 0; d < 12; ++d) {
      const double a = got[k * 12 + d], b = want[k * 12 + d];
      same = std::max(same, std::abs(a - b));
      flipped = std::max(flipped, std::abs(a + b));
      scale = std::max(scale, std::abs(b));
    }
    EXPECT_LE(std::min(same, flipped), 1e-4 * scale) << "filter " << k;
  }
}

// Both optimizers' states (SGD's and Muon's under "muon.") go through a checkpoint file: a run
// resumed mid-epoch ends bitwise equal to the run that went straight through.
TEST(RecipeAirbench94MuonParts, ResumesBitwiseWithBothOptimizers) {
  auto data = first_train(96);  // batch 32: 3 steps an epoch; 2.5 epochs = 8 steps
  auto plan = [] {
    train::RecipeRunOptions o;
    o.batch_size = 32;
    o.epochs = 2.5;
    o.seed = 3;
    return o;
  };
  auto net = [] {
    Generator gen(11);
    return std::make_unique<models::Airbench94>(gen, models::Airbench94Options::muon_record({24, 24, 32}));
  };
  auto straight = net();
  io::TrainState at5;
  train::RecipeRunOptions o = plan();
  o.checkpoint_every = 1;
  o.on_checkpoint = [&](const io::TrainState& st) {
    if (st.scalars.at("recipe.step") == "5") at5 = st;
  };
  ASSERT_TRUE(train::run_recipe(R(), *straight, data, nullptr, o).completed);
  ASSERT_TRUE(state_dict_find(at5.optimizer, "muon.state.0.momentum_buffer") != nullptr);
  EXPECT_EQ(at5.scalars.at("muon.optimizer"), "muon");
  const std::string path = testing::TempDir() + "/recipe_muon_resume.safetensors";
  io::save_train_state(path, at5);
  const io::TrainState back = io::load_train_state(path);
  auto resumed = net();
  train::RecipeRunOptions p = plan();
  p.resume = &back;
  const train::RecipeResult res = train::run_recipe(R(), *resumed, data, nullptr, p);
  EXPECT_EQ(res.resumed_at, 5);
  EXPECT_TRUE(res.completed);
  auto want = straight->state_dict();
  auto got = resumed->state_dict();
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(got[i].second.to(DType::Float64).to_vector<double>(), want[i].second.to(DType::Float64).to_vector<double>())
        << want[i].first;
}

}  // namespace
