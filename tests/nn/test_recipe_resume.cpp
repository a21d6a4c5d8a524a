// A recipe run resumed from a checkpoint (RecipeRunOptions::resume / on_checkpoint) ends bitwise
// equal to the run that went straight through, on the CPU: resumed mid-epoch before the whitening
// bias freezes and after it, from a state that went through a file, and from the state a stop
// request wrote; the lookahead's ema, the schedule's position and the augmentation's random
// position (shuffle and augment on) all carry over. A state missing the ema, or of another plan,
// is refused.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "gpunet/data/cifar10.h"
#include "gpunet/gpunet.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/airbench.h"
#include "gpunet/train/recipe.h"
#include "gpunet/train/recipe_run.h"

using namespace gpunet;

namespace {

std::shared_ptr<data::ImageDataset> first_train(int64_t n) {
  auto d = std::make_shared<data::ImageDataset>(data::Cifar10(data::sample_dir(), data::Split::Train));
  d->n = n;
  d->images.resize(static_cast<size_t>(n * d->record_bytes()));
  d->labels.resize(static_cast<size_t>(n));
  return d;
}

std::unique_ptr<models::Airbench94> small_net() {
  Generator gen(7);
  return std::make_unique<models::Airbench94>(gen, models::Airbench94Options{{24, 24, 24}, 1.0 / 9.0});
}

// 160 images, batch 32: 5 steps an epoch; 3.3 epochs = 17 steps (the whitening bias freezes at
// step 15, the lookahead every 5 steps, the final ema copy after 17).
train::RecipeRunOptions plan() {
  train::RecipeRunOptions o;
  o.batch_size = 32;
  o.epochs = 3.3;
  o.seed = 5;
  return o;
}

std::map<std::string, std::vector<float>> floats(nn::Module& net) {
  std::map<std::string, std::vector<float>> m;
  for (auto& [name, v] : net.state_dict())
    m[name] = v.dtype() == DType::Float32 ? v.to_vector<float>() : v.to(DType::Float32).to_vector<float>();
  return m;
}

struct Straight {
  std::map<std::string, std::vector<float>> final_state;
  std::map<int64_t, io::TrainState> at;  // the state after each step
  io::TrainState stopped;                // written by a stop request after step 8
};

const Straight& straight() {
  static const Straight s = [] {
    Straight out;
    auto data = first_train(160);
    auto net = small_net();
    train::RecipeRunOptions o = plan();
    o.checkpoint_every = 1;
    int64_t steps = 0;
    o.on_step = [&](int64_t step, double) { steps = step; };
    o.on_checkpoint = [&](const io::TrainState& st) { out.at[std::stoll(st.scalars.at("recipe.step"))] = st; };
    const train::RecipeResult res = train::run_recipe(train::recipe("airbench94"), *net, data, nullptr, o);
    EXPECT_TRUE(res.completed);
    EXPECT_EQ(res.steps, 17);
    out.final_state = floats(*net);

    auto net2 = small_net();
    train::RecipeRunOptions p = plan();
    p.stop = [&] { return steps == 8; };
    p.on_step = [&](int64_t step, double) { steps = step; };
    p.on_checkpoint = [&](const io::TrainState& st) { out.stopped = st; };
    const train::RecipeResult r2 = train::run_recipe(train::recipe("airbench94"), *net2, data, nullptr, p);
    EXPECT_TRUE(r2.interrupted);
    EXPECT_EQ(r2.steps, 8);
    return out;
  }();
  return s;
}

void expect_resumes_bitwise(const io::TrainState& st, int64_t from) {
  auto net = small_net();  // its own weights are replaced by the state's
  train::RecipeRunOptions o = plan();
  o.resume = &st;
  const train::RecipeResult res = train::run_recipe(train::recipe("airbench94"), *net, first_train(160), nullptr, o);
  EXPECT_EQ(res.resumed_at, from);
  EXPECT_TRUE(res.completed);
  const auto got = floats(*net);
  for (const auto& [name, want] : straight().final_state)
    EXPECT_EQ(got.at(name), want) << name << " differs after resuming at step " << from;
}

TEST(RecipeResume, MidEpochBeforeTheFreezeIsBitwise) {
  const io::TrainState& st = straight().at.at(7);  // epoch 1, batch 2
  EXPECT_EQ(st.scalars.at("recipe.epoch"), "1");
  EXPECT_EQ(st.scalars.at("recipe.batch"), "2");
  expect_resumes_bitwise(st, 7);
}

TEST(RecipeResume, AfterTheFreezeThroughAFileIsBitwise) {
  const std::string path = testing::TempDir() + "/recipe_resume.safetensors";
  io::save_train_state(path, straight().at.at(16));  // epoch 3 (whitening bias frozen), batch 1
  const io::TrainState back = io::load_train_state(path);
  EXPECT_EQ(back.scalars.at("recipe.epoch"), "3");
  expect_resumes_bitwise(back, 16);
}

TEST(RecipeResume, TheStateAStopRequestWroteIsBitwise) { expect_resumes_bitwise(straight().stopped, 8); }

TEST(RecipeResume, AStateOfAnotherPlanOrWithoutTheEmaIsRefused) {
  io::TrainState st = straight().at.at(7);
  auto net = small_net();
  train::RecipeRunOptions o = plan();
  o.seed = 6;
  o.resume = &st;
  try {
    train::run_recipe(train::recipe("airbench94"), *net, first_train(160), nullptr, o);
    ADD_FAILURE() << "another seed was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--seed 5, this run has 6"), std::string::npos) << e.what();
  }
  StateDict without;
  for (auto& [name, t] : st.optimizer)
    if (name.rfind("lookahead.", 0) != 0) without.emplace_back(name, t);
  st.optimizer = without;
  o.seed = 5;
  try {
    train::run_recipe(train::recipe("airbench94"), *net, first_train(160), nullptr, o);
    ADD_FAILURE() << "a state without the ema was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no lookahead ema"), std::string::npos) << e.what();
  }
}

TEST(RecipeInput, ANonCifarShapedDatasetOrNoEpochsIsRefused) {
  auto mnist = std::make_shared<data::ImageDataset>();
  mnist->n = 64;
  mnist->c = 1, mnist->h = 28, mnist->w = 28;
  mnist->images.assign(static_cast<size_t>(64 * 28 * 28), 0);
  mnist->labels.assign(64, 0);
  mnist->classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  auto net = small_net();
  train::RecipeRunOptions o = plan();
  try {
    train::run_recipe(train::recipe("airbench94"), *net, mnist, nullptr, o);
    ADD_FAILURE() << "a 1x28x28 dataset was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs CIFAR-10-shaped data (3x32x32 images, 10 classes), got 1x28x28"),
              std::string::npos)
        << e.what();
  }
  for (double bad : {-1.0, -0.001}) {
    o.epochs = bad;  // 0 means "the recipe's"; a negative value is refused
    EXPECT_THROW(train::run_recipe(train::recipe("airbench94"), *net, first_train(160), nullptr, o), InputError);
  }
  EXPECT_THROW(train::total_steps(train::recipe("airbench94"), 160, 32, 0.0), InputError);
  EXPECT_THROW(train::total_steps(train::recipe("airbench94"), 160, 200, 1.0), InputError);  // batch > data
}

}  // namespace
