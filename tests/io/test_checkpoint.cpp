// Checkpoints: load_weights checks names, shapes and dtypes before copying in place; training
// checkpoints (weights file + optimizer file) round-trip, detect a mismatched or missing
// optimizer file, and survive a writer killed at any moment.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "gpunet/io/checkpoint.h"
#include "gpunet/io/safetensors.h"
#include "io_test_util.h"

namespace gpunet::io {
namespace {

using testing::expect_input_error;
using testing::lenet_state;
using testing::TempDir;

bool same_bytes(const Tensor& a, const Tensor& b) {
  Tensor ca = a.cpu().contiguous(), cb = b.cpu().contiguous();
  return ca.dtype() == cb.dtype() && ca.shape() == cb.shape() &&
         (ca.nbytes() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0);
}

void expect_same(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor* other = state_dict_find(b, name);
    ASSERT_NE(other, nullptr) << name;
    EXPECT_TRUE(same_bytes(t, *other)) << name;
  }
}

StateDict without(StateDict sd, const std::string& name) {
  std::erase_if(sd, [&](const auto& p) { return p.first == name; });
  return sd;
}

TEST(LoadWeights, CopiesIntoTheExpectedTensorsInPlace) {
  TempDir dir;
  const StateDict saved = lenet_state(0.25f);
  save_weights(dir.file("w.safetensors"), saved, {{"epoch", "4"}});
  StateDict model = lenet_state(0.0f);
  std::vector<void*> where;
  for (auto& [n, t] : model) where.push_back(t.raw_data());
  auto md = load_weights(dir.file("w.safetensors"), model);
  expect_same(model, saved);
  for (size_t i = 0; i < model.size(); ++i) EXPECT_EQ(model[i].second.raw_data(), where[i]) << "not in place";
  EXPECT_EQ(md.at("format"), "pt");
  EXPECT_EQ(md.at("epoch"), "4");
  EXPECT_EQ(md.count("gpunet.version"), 1u);
}

TEST(LoadWeights, NamesTheMissingTensor) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  StateDict model = lenet_state();
  save_weights(p, without(lenet_state(), "fc3.bias"));
  expect_input_error([&] { load_weights(p, model); }, {"checkpoint " + p + " is missing tensor fc3.bias"});
  save_weights(p, without(without(lenet_state(), "fc3.bias"), "conv1.weight"));
  expect_input_error([&] { load_weights(p, model); }, {"is missing tensor conv1.weight (and 1 more)"});
}

TEST(LoadWeights, NamesTheUnexpectedTensor) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  StateDict extra = lenet_state();
  extra.emplace_back("foo", Tensor::ones({3}));
  save_weights(p, extra);
  StateDict model = lenet_state();
  expect_input_error([&] { load_weights(p, model, "LeNet"); },
                     {"checkpoint " + p + " has unexpected tensor foo; is it a LeNet checkpoint?"});
  expect_input_error([&] { load_weights(p, model); }, {"has unexpected tensor foo"});
}

TEST(LoadWeights, NamesShapeAndDtypeMismatchesAndCopiesNothing) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  StateDict bad = lenet_state(0.5f);
  bad[0].second = Tensor::zeros({6, 1, 5, 5});  // conv1.weight for grey images
  save_weights(p, bad);
  StateDict model = lenet_state();
  const StateDict before = lenet_state();
  expect_input_error([&] { load_weights(p, model); },
                     {"checkpoint " + p + ": tensor conv1.weight has shape [6, 1, 5, 5], expected [6, 3, 5, 5]"});

  bad = lenet_state(0.5f);
  bad.back().second = Tensor::zeros({10}, DType::Float64);  // fc3.bias, the last one checked
  save_weights(p, bad);
  expect_input_error([&] { load_weights(p, model); }, {"tensor fc3.bias has dtype F64, expected F32"});
  expect_same(model, before);  // the valid tensors before fc3.bias were not copied either
}

TEST(LoadWeights, ReportsFileErrors) {
  TempDir dir;
  StateDict model = lenet_state();
  expect_input_error([&] { load_weights(dir.file("none.safetensors"), model); }, {"none.safetensors", "No such file"});
}

TrainState make_state(float base, int step) {
  TrainState st;
  st.model = lenet_state(base);
  for (const auto& [name, t] : lenet_state(base + 1.0f)) st.optimizer.emplace_back(name + ".momentum_buffer", t);
  st.scalars = {{"epoch", std::to_string(step / 100)}, {"step", std::to_string(step)},
                {"rng", "{\"seed\":0,\"counter\":12345}"}, {"loader.position", "4000"}};
  return st;
}

void expect_same(const TrainState& a, const TrainState& b) {
  expect_same(a.model, b.model);
  expect_same(a.optimizer, b.optimizer);
  EXPECT_EQ(a.scalars, b.scalars);
}

TEST(TrainStateCheckpoint, RoundTripsAndKeepsTheWeightsFilePure) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  const TrainState st = make_state(0.1f, 1234);
  save_train_state(p, st);
  expect_same(load_train_state(p), st);
  EXPECT_TRUE(has_train_state(p));

  // Two files: the weights (PyTorch's names only) and the optimizer file it names.
  auto files = dir.list();
  ASSERT_EQ(files.size(), 2u);
  const std::string optim = optimizer_file_of(p);
  EXPECT_EQ(files[1], std::filesystem::path(optim).filename().string());
  EXPECT_EQ(load_safetensors(p).tensors.size(), st.model.size());
  StateDict model = lenet_state();
  load_weights(p, model, "LeNet");  // strict: no extra tensors in the weights file
  expect_same(model, st.model);

  // Saving again replaces both and removes the old optimizer file.
  const TrainState st2 = make_state(0.7f, 2000);
  save_train_state(p, st2);
  expect_same(load_train_state(p), st2);
  EXPECT_EQ(dir.list().size(), 2u);
  EXPECT_NE(optimizer_file_of(p), optim);
  EXPECT_FALSE(std::filesystem::exists(optim));

  // A weights-only save over it removes the optimizer file too.
  save_weights(p, st.model);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ck.safetensors"});
  EXPECT_FALSE(has_train_state(p));
  EXPECT_EQ(optimizer_file_of(p), "");
  expect_input_error([&] { load_train_state(p); }, {"checkpoint " + p + " holds no training state"});
}

TEST(TrainStateCheckpoint, DetectsAMissingOrForeignOptimizerFile) {
  TempDir dir;
  const std::string a = dir.file("a.safetensors"), b = dir.file("b.safetensors");
  save_train_state(a, make_state(0.1f, 100));
  save_train_state(b, make_state(0.2f, 200));
  const std::string optim_a = optimizer_file_of(a), optim_b = optimizer_file_of(b);
  std::filesystem::rename(optim_b, optim_a);  // a's name, b's contents
  expect_input_error([&] { load_train_state(a); }, {"optimizer file " + optim_a, "does not belong to checkpoint " + a});
  std::filesystem::remove(optim_a);
  expect_input_error([&] { load_train_state(a); }, {"checkpoint " + a + " names optimizer file " + optim_a, "missing"});
}

TEST(TrainStateCheckpoint, AFailedSaveKeepsThePreviousPair) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  const TrainState st = make_state(0.1f, 100);
  save_train_state(p, st);
  TrainState bad = make_state(0.3f, 200);
  bad.model.emplace_back("conv1.weight", Tensor::ones({1}));  // duplicate name: the weights save fails
  EXPECT_THROW(save_train_state(p, bad), Error);
  expect_same(load_train_state(p), st);
  EXPECT_EQ(dir.list().size(), 2u) << "the new optimizer file was not removed";
}

// What a save killed between its two steps leaves: a new optimizer file that the weights file
// does not name, and temporary files of a dead writer. They are ignored, then cleaned up.
TEST(TrainStateCheckpoint, IgnoresAndRemovesLeftoversOfAnInterruptedSave) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  const TrainState a = make_state(0.1f, 100), b = make_state(0.2f, 200);
  save_train_state(p, a);
  const std::string orphan = p + ".optim-0123456789abcdef.safetensors";
  save_safetensors(orphan, b.optimizer, {{"gpunet.save_id", "0123456789abcdef"}});
  pid_t dead = 0;
  for (pid_t pid = 3999999; pid > 1000 && !dead; --pid)
    if (::kill(pid, 0) == -1 && errno == ESRCH) dead = pid;
  testing::write_bytes(orphan + ".tmp." + std::to_string(dead), "half");
  testing::write_bytes(p + ".tmp." + std::to_string(dead), "half");
  EXPECT_EQ(dir.list().size(), 5u);
  expect_same(load_train_state(p), a);
  save_train_state(p, b);
  expect_same(load_train_state(p), b);
  EXPECT_EQ(dir.list().size(), 2u);
}

// A writer saving two training states in turn is killed at many moments (including between
// the optimizer file and the weights file): the checkpoint always loads as one whole state.
TEST(TrainStateCheckpoint, KillDuringSaveLeavesAMatchingPair) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  TrainState states[2] = {make_state(0.1f, 100), make_state(0.2f, 200)};
  // Heavier optimizer state, so that kills land inside both files.
  for (auto& st : states) st.optimizer.emplace_back("extra", Tensor::full({1 << 20}, st.scalars.at("step") == "100" ? 1.0 : 2.0));
  save_train_state(p, states[0]);

  const int delays_ms[] = {0, 2, 5, 9, 14, 20, 35, 50, 80, 120, 200};
  for (int delay : delays_ms) {
    SCOPED_TRACE("kill after " + std::to_string(delay) + " ms");
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        for (int i = 1;; ++i) save_train_state(p, states[i % 2]);
      } catch (...) {
        ::_exit(1);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself (exit " << WEXITSTATUS(status) << ")";
    TrainState back = load_train_state(p);
    expect_same(back, back.scalars.at("step") == "100" ? states[0] : states[1]);
  }
  // Orphans of interrupted saves go with the next save.
  save_train_state(p, states[0]);
  EXPECT_EQ(dir.list().size(), 2u);
}

}  // namespace
}  // namespace gpunet::io
