#include "gpunet/models/registry.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "gpunet/error.h"
#include "gpunet/models/airbench.h"
#include "gpunet/models/lenet.h"
#include "gpunet/models/resnet.h"

namespace gpunet::models {

struct ModelRegistry::Slot {
  ModelEntry entry;
  std::once_flag names_once;  // fills entry.tensor_names from a built model when it was empty
};

ModelRegistry::ModelRegistry() = default;
ModelRegistry::~ModelRegistry() = default;

namespace {

// "a, b, c, d and 3 more": at most `show` names, so that a message stays one readable line.
std::string name_list(const std::vector<std::string>& names, size_t show = 4) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < show; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > show) s += " and " + std::to_string(names.size() - show) + " more";
  return s;
}

// "tensor fc3.bias" or "tensors a, b": the singular form keeps io::load_weights' wording.
std::string tensors_phrase(const std::vector<std::string>& names) {
  return (names.size() == 1 ? "tensor " : "tensors ") + name_list(names);
}

}  // namespace

void ModelRegistry::add(ModelEntry entry) {
  if (entry.name.empty() || entry.display_name.empty() || !entry.make)
    throw Error("ModelRegistry::add: a model needs a name, a display name and a factory");
  if (find(entry.name)) throw Error("ModelRegistry::add: model '" + entry.name + "' is already registered");
  std::unordered_set<std::string> seen;
  for (const auto& n : entry.tensor_names)
    if (!seen.insert(n).second) throw Error("ModelRegistry::add: model '" + entry.name + "' lists tensor " + n + " twice");
  auto slot = std::make_unique<Slot>();
  slot->entry = std::move(entry);
  slots_.push_back(std::move(slot));
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> v;
  for (const auto& s : slots_) v.push_back(s->entry.name);
  return v;
}

std::string ModelRegistry::known() const {
  const auto v = names();
  return v.empty() ? "none" : name_list(v, v.size());
}

const std::string& ModelRegistry::default_name() const {
  if (slots_.empty()) throw Error("ModelRegistry: no models are registered");
  return slots_.front()->entry.name;
}

const ModelEntry* ModelRegistry::find(const std::string& name) const {
  for (const auto& s : slots_)
    if (s->entry.name == name) return &s->entry;
  return nullptr;
}

const ModelEntry& ModelRegistry::get(const std::string& name) const {
  if (const ModelEntry* e = find(name)) return *e;
  throw InputError("unknown model '" + name + "'; known models: " + known());
}

std::shared_ptr<nn::Module> ModelRegistry::make(const std::string& name, Generator& gen) const {
  return get(name).make(gen);
}

const std::vector<std::string>& ModelRegistry::tensor_names(const ModelEntry& entry) const {
  for (const auto& s : slots_) {
    if (&s->entry != &entry) continue;
    std::call_once(s->names_once, [&] {
      if (!s->entry.tensor_names.empty()) return;
      Generator gen(0);  // the names do not depend on the draws
      std::vector<std::string> names;
      for (const auto& [n, t] : s->entry.make(gen)->state_dict()) names.push_back(n);
      s->entry.tensor_names = std::move(names);
    });
    return s->entry.tensor_names;
  }
  throw Error("ModelRegistry::tensor_names: '" + entry.name + "' is not an entry of this registry");
}

Recognition ModelRegistry::recognise(const std::vector<std::string>& names) const {
  const std::unordered_set<std::string> given(names.begin(), names.end());
  Recognition r;
  size_t best = SIZE_MAX;
  for (const auto& s : slots_) {
    const std::vector<std::string>& want = tensor_names(s->entry);
    const std::unordered_set<std::string> wanted(want.begin(), want.end());
    std::vector<std::string> missing, unexpected;
    for (const auto& n : want)
      if (!given.count(n)) missing.push_back(n);
    for (const auto& n : names)
      if (!wanted.count(n)) unexpected.push_back(n);
    if (missing.empty() && unexpected.empty()) r.matches.push_back(&s->entry);
    if (missing.size() + unexpected.size() < best) {
      best = missing.size() + unexpected.size();
      r.closest = &s->entry;
      r.missing = std::move(missing);
      r.unexpected = std::move(unexpected);
    }
  }
  if (!r.matches.empty()) {  // `closest` describes a near miss only
    r.closest = nullptr;
    r.missing.clear();
    r.unexpected.clear();
  }
  return r;
}

const ModelEntry& ModelRegistry::recognise_or_throw(const std::vector<std::string>& names,
                                                    const std::string& source) const {
  const Recognition r = recognise(names);
  if (const ModelEntry* e = r.unique()) return *e;
  if (r.matches.size() > 1) {
    std::vector<std::string> which;
    for (const ModelEntry* e : r.matches) which.push_back(e->name);
    throw InputError(source + " matches " + std::to_string(which.size()) + " models by its tensor names (" +
                     name_list(which, which.size()) + "); choose one with --model");
  }
  if (!r.closest) throw InputError(source + ": no models are registered to recognise it");
  std::string why;
  if (names.empty()) why = "it holds no tensors";
  if (!r.missing.empty() && !names.empty()) why = "it is missing " + tensors_phrase(r.missing);
  if (!r.unexpected.empty()) why += (why.empty() ? "it has unexpected " : " and has unexpected ") + tensors_phrase(r.unexpected);
  throw InputError(source + " matches no known model; the closest is " + r.closest->name + ", but " + why +
                   " (known models: " + known() + ")");
}

std::string ModelRegistry::mismatch_hint(const std::vector<std::string>& names, const std::string& asked) const {
  const Recognition r = recognise(names);
  const ModelEntry* e = r.unique();
  if (!e || e->name == asked) return "";
  return "; it looks like a " + e->name + " checkpoint (--model " + e->name + ")";
}

const ModelRegistry& registry() {
  static const ModelRegistry* const r = [] {
    auto* reg = new ModelRegistry();  // never destroyed: usable from other static destructors
    reg->add({"lenet", "LeNet", "the PyTorch CIFAR-10 tutorial's LeNet (62k parameters)",
              [](Generator& gen) { return std::make_shared<LeNet>(gen); }, {},
              [](int n, Generator& gen) { return std::make_shared<LeNet>(gen, n); }});
    reg->add({"resnet18", "ResNet-18", "ResNet-18, CIFAR variant (3x3 stem, no max-pool; 11.2M parameters)",
              [](Generator& gen) { return std::make_shared<ResNet18>(10, gen); }, {},
              [](int n, Generator& gen) { return std::make_shared<ResNet18>(n, gen); }});
    reg->add({"airbench94", "airbench94",
              "airbench94's net: whitening conv, three conv groups with BN and GELU, linear head (2.0M parameters)",
              [](Generator& gen) { return std::make_shared<Airbench94>(gen); }, {}});
    reg->add({"airbench94_muon", "airbench94_muon",
              "the Muon record's net (airbench94_muon.py): airbench94's, head x 1/256, groups named layers.1-3 "
              "(2.0M parameters)",
              [](Generator& gen) { return std::make_shared<Airbench94>(gen, Airbench94Options::muon_record()); }, {}});
    return reg;
  }();
  return *r;
}

std::shared_ptr<nn::Module> make_model(const std::string& name, Generator& gen) { return registry().make(name, gen); }

}  // namespace gpunet::models
