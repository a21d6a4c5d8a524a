// The model registry: the known names, the unknown-name error, and recognising a model from a
// checkpoint's tensor names (exact match, ambiguity, the closest model when none matches).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "gpunet/error.h"
#include "gpunet/models/lenet.h"
#include "gpunet/models/registry.h"
#include "gpunet/nn/layers.h"

using namespace gpunet;
using models::ModelEntry;
using models::ModelRegistry;

namespace {

std::vector<std::string> names_of(const StateDict& sd) {
  std::vector<std::string> v;
  for (const auto& [n, t] : sd) v.push_back(n);
  return v;
}

std::vector<std::string> lenet_names() {
  models::LeNet net;
  return names_of(net.state_dict());
}

ModelEntry lenet_entry(const std::string& name) {
  return {name, "LeNet", "test", [](Generator& g) { return std::make_shared<models::LeNet>(g); }, {}};
}

// A one-layer model: state_dict {"weight", "bias"}.
ModelEntry linear_entry(const std::string& name) {
  return {name, "Linear", "test", [](Generator& g) { return std::make_shared<nn::Linear>(4, 2, true, g); }, {}};
}

// The message of the InputError `f` throws ("" and a failure when it throws nothing).
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

void expect_has(const std::string& text, const std::string& needle) {
  EXPECT_NE(text.find(needle), std::string::npos) << "'" << needle << "' not in: " << text;
}

}  // namespace

TEST(ModelRegistry, BuiltinListsLeNetAsTheDefault) {
  const ModelRegistry& reg = models::registry();
  ASSERT_FALSE(reg.names().empty());
  EXPECT_EQ(reg.names().front(), "lenet");
  EXPECT_NE(std::find(reg.names().begin(), reg.names().end(), "resnet18"), reg.names().end());
  EXPECT_EQ(reg.known().rfind("lenet, resnet18", 0), 0u) << reg.known();
  EXPECT_EQ(reg.default_name(), "lenet");
  ASSERT_NE(reg.find("lenet"), nullptr);
  EXPECT_EQ(reg.find("lenet")->display_name, "LeNet");
  EXPECT_EQ(reg.find("LeNet"), nullptr) << "names are exact";
}

TEST(ModelRegistry, UnknownNameListsTheKnownOnes) {
  expect_has(input_error([] { models::registry().get("resnet"); }), "unknown model 'resnet'; known models: lenet");
  Generator gen(0);
  expect_has(input_error([&] { models::make_model("", gen); }), "unknown model ''; known models: lenet");
}

TEST(ModelRegistry, MakeModelBuildsTheSeededModel) {
  Generator a(7), b(7);
  auto net = models::make_model("lenet", a);
  ASSERT_NE(dynamic_cast<models::LeNet*>(net.get()), nullptr);
  models::LeNet same(b);
  const StateDict x = net->state_dict(), y = same.state_dict();
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].first, y[i].first);
    EXPECT_EQ(x[i].second.to_vector<float>(), y[i].second.to_vector<float>()) << x[i].first;
  }
}

TEST(ModelRegistry, TensorNamesAreTheStateDicts) {
  const ModelRegistry& reg = models::registry();
  EXPECT_EQ(reg.tensor_names(reg.get("lenet")), lenet_names());
}

TEST(ModelRegistry, RecognisesLeNetFromItsStateDictInAnyOrder) {
  const ModelRegistry& reg = models::registry();
  std::vector<std::string> names = lenet_names();
  std::shuffle(names.begin(), names.end(), std::mt19937(3));
  const models::Recognition r = reg.recognise(names);
  ASSERT_NE(r.unique(), nullptr);
  EXPECT_EQ(r.unique()->name, "lenet");
  EXPECT_EQ(r.closest, nullptr);
  EXPECT_EQ(reg.recognise_or_throw(names, "checkpoint x").name, "lenet");
}

TEST(ModelRegistry, UnrecognisedNamesTheClosestModelAndTheDifferences) {
  const ModelRegistry& reg = models::registry();
  std::vector<std::string> names = lenet_names();
  names.erase(std::find(names.begin(), names.end(), "fc3.bias"));
  names.push_back("fc4.weight");
  const models::Recognition r = reg.recognise(names);
  EXPECT_EQ(r.unique(), nullptr);
  ASSERT_NE(r.closest, nullptr);
  EXPECT_EQ(r.closest->name, "lenet");
  EXPECT_EQ(r.missing, std::vector<std::string>{"fc3.bias"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"fc4.weight"});
  const std::string msg = input_error([&] { reg.recognise_or_throw(names, "checkpoint ck.safetensors"); });
  expect_has(msg, "checkpoint ck.safetensors matches no known model");
  expect_has(msg, "the closest is lenet");
  expect_has(msg, "missing tensor fc3.bias");
  expect_has(msg, "unexpected tensor fc4.weight");
  expect_has(msg, "(known models: lenet, resnet18");
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

TEST(ModelRegistry, LongListsAreCutShortAndAnEmptyFileIsSaidSo) {
  const ModelRegistry& reg = models::registry();
  const std::string unrelated = input_error([&] { reg.recognise_or_throw({"encoder.weight"}, "f"); });
  expect_has(unrelated, "missing tensors conv1.weight, conv1.bias, conv2.weight, conv2.bias and 6 more");
  expect_has(unrelated, "has unexpected tensor encoder.weight");
  expect_has(input_error([&] { reg.recognise_or_throw({}, "f"); }), "it holds no tensors");
}

TEST(ModelRegistry, TheClosestIsTheFewestDifferences) {
  ModelRegistry reg;
  reg.add(lenet_entry("lenet"));
  reg.add(linear_entry("linear"));
  const models::Recognition r = reg.recognise({"weight", "extra"});
  ASSERT_NE(r.closest, nullptr);
  EXPECT_EQ(r.closest->name, "linear");
  EXPECT_EQ(r.missing, std::vector<std::string>{"bias"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"extra"});
  EXPECT_EQ(reg.recognise({"bias", "weight"}).unique()->name, "linear");
}

TEST(ModelRegistry, SameNamesInTwoModelsIsAmbiguous) {
  ModelRegistry reg;
  reg.add(lenet_entry("lenet"));
  reg.add(lenet_entry("lenet_twin"));
  const models::Recognition r = reg.recognise(lenet_names());
  EXPECT_EQ(r.matches.size(), 2u);
  EXPECT_EQ(r.unique(), nullptr);
  const std::string msg = input_error([&] { reg.recognise_or_throw(lenet_names(), "checkpoint ck"); });
  expect_has(msg, "checkpoint ck matches 2 models by its tensor names (lenet, lenet_twin); choose one with --model");
}

TEST(ModelRegistry, MismatchHintNamesAnotherModelOnlyOnAnExactMatch) {
  ModelRegistry reg;
  reg.add(lenet_entry("lenet"));
  reg.add(linear_entry("linear"));
  EXPECT_EQ(reg.mismatch_hint({"weight", "bias"}, "lenet"), "; it looks like a linear checkpoint (--model linear)");
  EXPECT_EQ(reg.mismatch_hint({"weight", "bias"}, "linear"), "");
  EXPECT_EQ(reg.mismatch_hint({"weight"}, "lenet"), "");
}

TEST(ModelRegistry, GivenTensorNamesAreUsedWithoutBuildingTheModel) {
  ModelRegistry reg;
  reg.add({"big", "Big", "never built", [](Generator&) -> std::shared_ptr<nn::Module> { throw Error("built"); },
           {"a.weight", "a.bias"}});
  EXPECT_EQ(reg.recognise({"a.bias", "a.weight"}).unique()->name, "big");
}

TEST(ModelRegistry, AddRejectsBadEntries) {
  ModelRegistry reg;
  reg.add(lenet_entry("lenet"));
  EXPECT_THROW(reg.add(lenet_entry("lenet")), Error);
  EXPECT_THROW(reg.add({"x", "X", "", nullptr, {}}), Error);
  EXPECT_THROW(reg.add({"", "X", "", lenet_entry("y").make, {}}), Error);
  EXPECT_THROW(reg.add({"y", "Y", "", lenet_entry("y").make, {"a", "a"}}), Error);
  EXPECT_EQ(reg.names(), std::vector<std::string>{"lenet"});
}

TEST(ModelRegistry, EmptyRegistrySaysSo) {
  ModelRegistry reg;
  EXPECT_EQ(reg.known(), "none");
  EXPECT_THROW(reg.default_name(), Error);
  expect_has(input_error([&] { reg.get("lenet"); }), "unknown model 'lenet'; known models: none");
  expect_has(input_error([&] { reg.recognise_or_throw({"w"}, "f"); }), "no models are registered");
}
