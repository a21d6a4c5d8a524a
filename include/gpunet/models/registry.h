#pragma once
/// The model registry: the one place that knows every model by name. The CLI's --model
/// values, its help texts and errors, the name checkpoint errors use ("is it a LeNet
/// checkpoint?") and recognising a model from a checkpoint's tensor names all come from here.
/// Adding a model is one add() in src/models/registry.cpp.
///
///   auto net = gpunet::models::make_model("lenet", gen);      // InputError for an unknown name
///   const auto& m = gpunet::models::registry().recognise_or_throw(names, "checkpoint ck.safetensors");
///   // m.name == "lenet" for a LeNet state_dict
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpunet/nn/module.h"
#include "gpunet/random.h"

namespace gpunet::models {

/// One registered model.
struct ModelEntry {
  std::string name;          ///< the --model value, lower case: "lenet"
  std::string display_name;  ///< for people and messages: "LeNet"
  std::string description;   ///< one line for help texts
  /// A freshly initialised model, its random draws taken from `gen`.
  std::function<std::shared_ptr<nn::Module>(Generator& gen)> make;
  /// The state_dict names (parameters and buffers) of the models `make` builds, in order.
  /// Left empty, the registry reads them once, on first need, from a model built by `make`.
  std::vector<std::string> tensor_names;
  /// The model with `num_classes` outputs (image folders); empty: the model has 10 only.
  std::function<std::shared_ptr<nn::Module>(int num_classes, Generator& gen)> make_classes;
};

/// What ModelRegistry::recognise found for a set of tensor names.
struct Recognition {
  /// The entries whose tensor names equal the set exactly, in registry order.
  std::vector<const ModelEntry*> matches;
  /// When nothing matches: the entry with the fewest missing plus unexpected names (the first
  /// registered on a tie); nullptr only when the registry is empty.
  const ModelEntry* closest = nullptr;
  std::vector<std::string> missing;     ///< closest's names absent from the set, in the model's order
  std::vector<std::string> unexpected;  ///< names of the set that closest lacks, in the given order
  /// The one exact match, or nullptr (none, or several).
  const ModelEntry* unique() const { return matches.size() == 1 ? matches.front() : nullptr; }
};

/// A set of models by name. registry() holds the built-in ones; tests build their own.
/// Thread-safe for concurrent reads once filled; add() is not meant to race with reads.
class ModelRegistry {
 public:
  ModelRegistry();
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  /// Registers `entry`. Requires a non-empty name, display name and factory; throws Error for a
  /// name already registered or names that repeat within entry.tensor_names.
  void add(ModelEntry entry);

  /// The names, in registration order: {"lenet"}.
  std::vector<std::string> names() const;
  /// The names for help texts and errors: "lenet, resnet18" ("none" when empty).
  std::string known() const;
  /// The first registered name: the default model ("lenet"). Error when empty.
  const std::string& default_name() const;

  /// The entry called `name`, or nullptr.
  const ModelEntry* find(const std::string& name) const;
  /// The entry called `name`; InputError "unknown model 'x'; known models: lenet" otherwise.
  const ModelEntry& get(const std::string& name) const;
  /// get(name).make(gen).
  std::shared_ptr<nn::Module> make(const std::string& name, Generator& gen) const;

  /// `entry`'s state_dict names (entry.tensor_names, or read from a built model and cached).
  const std::vector<std::string>& tensor_names(const ModelEntry& entry) const;

  /// Compares `names` (a checkpoint's tensor names, any order) with every entry's.
  Recognition recognise(const std::vector<std::string>& names) const;
  /// The one entry whose names equal `names`. Otherwise throws InputError, one line starting
  /// with `source` (e.g. "checkpoint ck.safetensors"):
  ///   none matches  "... matches no known model; the closest is lenet, but it is missing
  ///                  tensor fc3.bias and has unexpected tensor fc4.weight (known models: lenet)"
  ///   several match "... matches 2 models by its tensor names (a, b); choose one with --model"
  const ModelEntry& recognise_or_throw(const std::vector<std::string>& names, const std::string& source) const;
  /// For an error loading a file with tensor `names` into the model `asked`: when the names are
  /// exactly another model's, "; it looks like a resnet18 checkpoint (--model resnet18)",
  /// else "".
  std::string mismatch_hint(const std::vector<std::string>& names, const std::string& asked) const;

 private:
  struct Slot;
  std::vector<std::unique_ptr<Slot>> slots_;  // unique_ptr: entries keep their addresses
};

/// The built-in models: "lenet" (models::LeNet, the default).
const ModelRegistry& registry();

/// registry().make(name, gen): a freshly initialised model; InputError for an unknown name,
/// listing the known ones.
std::shared_ptr<nn::Module> make_model(const std::string& name, Generator& gen = default_generator());

}  // namespace gpunet::models
