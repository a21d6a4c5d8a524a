// `gpunet train --recipe` as a product, on a tiny CIFAR-10-shaped folder (tiny_cifar.h): a
// fractional --epochs runs its whole plan (the per-epoch table with validation accuracy, the
// final test with and without TTA); --max-steps 0 --save writes the initialised network with the
// data's whitening; eval of the result recognises airbench94 and takes --tta; bad input is one
// line and exit 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "cli/cli_run.h"
#include "cli/tiny_cifar.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/data/whitening.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/models/registry.h"
#include "gpunet/random.h"
#include "gpunet/train/recipe.h"

using namespace gpunet;
using namespace gpunet::clitest;

namespace {

struct Tiny {
  TempDir d;
  std::string data;
  Tiny(int per_file = 7, int test = 10, int constant = -1) {
    std::filesystem::create_directories(d / "cifar");
    data = d / "cifar";
    write_tiny_cifar(data, per_file, test, constant);
  }
};

void expect_one_line_exit2(const RunResult& r, const std::string& has) {
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(RunResult::lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find(has), std::string::npos) << r.err;
}

TEST(CliRecipeRun, FractionalEpochsRunTheWholePlanWithValidationEachEpoch) {
  Tiny t;  // 35 training images: 4 batches of 8 per epoch
  const RunResult r = run_cli("train --recipe airbench94 --data " + sh_quote(t.data) +
                              " --batch-size 8 --epochs 1.5 --device cpu --metrics " + sh_quote(t.d / "m.jsonl"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto lines = RunResult::lines(r.out);
  const nlohmann::json j = nlohmann::json::parse(lines.back());
  EXPECT_EQ(j["total_steps"], 6);  // ceil(4 x 1.5)
  EXPECT_EQ(j["steps"], 6);
  EXPECT_TRUE(j["test_accuracy"].is_number());         // completed: with TTA
  EXPECT_TRUE(j["test_accuracy_no_tta"].is_number());  // and without
  EXPECT_NE(r.out.find("epoch  steps  train_loss  train_acc   val_acc        lr   seconds"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("with TTA"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("per-epoch validation"), std::string::npos) << r.out;
  const auto m = RunResult::lines(read_text(t.d / "m.jsonl"));
  ASSERT_EQ(m.size(), 3u);  // two epochs (4 + 2 steps), then the final line
  EXPECT_EQ(nlohmann::json::parse(m[0])["steps"], 4);
  EXPECT_EQ(nlohmann::json::parse(m[1])["steps"], 2);
  for (int e = 0; e < 2; ++e) {
    const nlohmann::json row = nlohmann::json::parse(m[e]);
    ASSERT_TRUE(row["val_accuracy"].is_number()) << m[e];
    EXPECT_GE(row["val_accuracy"].get<double>(), 0.0);
    EXPECT_LE(row["val_accuracy"].get<double>(), 1.0);
  }
}

TEST(CliRecipeRun, MaxStepsZeroSavesTheInitialisedNetworkWithItsWhitening) {
  Tiny t;
  const std::string w = t.d / "init.safetensors";
  const RunResult r = run_cli("train --recipe airbench94 --data " + sh_quote(t.data) +
                              " --batch-size 8 --max-steps 0 --seed 3 --device cpu --save " + sh_quote(w));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(nlohmann::json::parse(RunResult::lines(r.out).back())["steps"], 0);
  Generator other(99);
  const auto loaded = models::make_model("airbench94", other);
  io::load_weights(w, loaded->state_dict(), "airbench94");  // strict: every tensor, nothing else
  std::map<std::string, Tensor> saved;
  for (auto& [name, v] : loaded->state_dict()) saved[name] = v;
  // The whitening is the data's (the first 5,000 normalised training images, eps 5e-4) ...
  const train::Recipe& rec = train::recipe("airbench94");
  data::Cifar10 train_set(t.data, data::Split::Train);
  const data::Whitening wh = data::whitening_filters(train_set, rec.transforms, rec.whitening);
  EXPECT_EQ(saved.at("whiten.weight").to_vector<float>(), wh.filters.to_vector<float>());
  // ... and every other tensor the seed's initialisation, untrained.
  Generator gen(3);
  const auto fresh = models::make_model("airbench94", gen);
  for (const auto& [name, v] : fresh->state_dict()) {
    if (name == "whiten.weight") continue;
    ASSERT_TRUE(saved.count(name)) << name;
    if (v.dtype() == DType::Float32) EXPECT_EQ(saved.at(name).to_vector<float>(), v.to_vector<float>()) << name;
  }
  // The file is a whole airbench94: eval recognises it and takes --tta.
  const RunResult e = run_cli("eval --checkpoint " + sh_quote(w) + " --data " + sh_quote(t.data) + " --tta --json");
  ASSERT_EQ(e.code, 0) << e.out << e.err;
  const nlohmann::json j = nlohmann::json::parse(RunResult::lines(e.out).back());
  EXPECT_EQ(j["model"], "airbench94");
  EXPECT_EQ(j["tta"], true);
  EXPECT_EQ(j["total"], 10);
  EXPECT_NE(e.err.find("checkpoint looks like airbench94"), std::string::npos) << e.err;
  // and training from it uses its whitening as it is.
  const RunResult again = run_cli("train --recipe airbench94 --data " + sh_quote(t.data) +
                                  " --batch-size 8 --max-steps 1 --device cpu --init " + sh_quote(w));
  EXPECT_EQ(again.code, 0) << again.out << again.err;
}

TEST(CliRecipeRun, ResumeMidEpochEndsWithTheSameWeightsAsAStraightRun) {
  Tiny t;
  const std::string base = "train --recipe airbench94 --device cpu --quiet --data " + sh_quote(t.data) +
                           " --batch-size 8 --epochs 1.5 --seed 2 --no-tta ";
  const std::string straight = t.d / "straight.safetensors", resumed = t.d / "resumed.safetensors",
                    ck = t.d / "ck.safetensors";
  ASSERT_EQ(run_cli(base + "--save " + sh_quote(straight)).code, 0);
  // Stopped after 3 of 6 steps (epoch 0, batch 3): the state goes to --checkpoint.
  const RunResult first = run_cli(base + "--max-steps 3 --checkpoint " + sh_quote(ck));
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  // Resumed without restating the settings (adopted from the state), to the end.
  const RunResult second = run_cli("train --recipe airbench94 --device cpu --data " + sh_quote(t.data) + " --resume " +
                                   sh_quote(ck) + " --no-tta --save " + sh_quote(resumed));
  ASSERT_EQ(second.code, 0) << second.out << second.err;
  EXPECT_NE((second.out + second.err).find("resuming from " + ck + " at step 3"), std::string::npos) << second.out;
  EXPECT_EQ(nlohmann::json::parse(RunResult::lines(second.out).back())["steps"], 6);
  EXPECT_EQ(read_text(resumed), read_text(straight));  // bitwise: the same bytes
  // Another seed than the state's is refused, naming both.
  expect_one_line_exit2(run_cli("train --recipe airbench94 --device cpu --data " + sh_quote(t.data) + " --resume " +
                                sh_quote(ck) + " --seed 4"),
                        "--seed 2, this run has 4");
}

TEST(CliRecipeRun, BadInputIsOneLineAndExit2) {
  Tiny t;
  const std::string base = "train --recipe airbench94 --device cpu --data " + sh_quote(t.data) + " ";
  expect_one_line_exit2(run_cli(base + "--epochs 0"), "--epochs 0: must be above 0");
  expect_one_line_exit2(run_cli(base + "--epochs=-1.5"), "--epochs -1.5: must be above 0");
  expect_one_line_exit2(run_cli(base + "--batch-size 100"), "batch size 100 needs at least that many training images, got 35");
  expect_one_line_exit2(run_cli(base + "--model resnet7"), "known models: lenet");
  expect_one_line_exit2(run_cli("train --epochs 0.5 --device cpu --data " + sh_quote(t.data)),
                        "fractional epochs need --recipe");
  // A LeNet checkpoint given to the recipe's airbench94.
  const std::string lenet = t.d / "lenet.safetensors";
  ASSERT_EQ(run_cli("train --model lenet --max-steps 1 --epochs 1 --device cpu --quiet --data " + sh_quote(t.data) +
                    " --save " + sh_quote(lenet))
                .code,
            0);
  const RunResult wrong = run_cli(base + "--max-steps 1 --init " + sh_quote(lenet));
  EXPECT_EQ(wrong.code, 2) << wrong.out << wrong.err;
  EXPECT_EQ(RunResult::lines(wrong.err).size(), 1u) << wrong.err;
  // --tta on a model without a recipe.
  expect_one_line_exit2(run_cli("eval --model lenet --checkpoint " + sh_quote(lenet) + " --tta --data " + sh_quote(t.data)),
                        "--tta: model lenet has no test-time augmentation");
}

}  // namespace
