#pragma once
// Helpers shared by the subcommands: choosing the device and the data folder, threads,
// loading a model from a checkpoint, the --model and --cuda-graph flags.
#include <memory>
#include <string>
#include <vector>

#include "gpunet/data/cifar10.h"
#include "gpunet/device.h"
#include "gpunet/models/registry.h"
#include "gpunet/nn/module.h"
#include "gpunet/train.h"

namespace gpunet::cli {

/// `--device` when given (parsed and checked: InputError naming what is present), else
/// Device::best(). `why` receives a human line: "using cuda:0 (NVIDIA H200)" or
/// "using cpu (no GPU: <reason>)".
Device choose_device(const std::string& flag, std::string* why);

struct DataChoice {
  std::string dir;      // the folder holding the batch files
  bool sample = false;  // the embedded sample was chosen because none held a dataset
  std::string note;     // a line to print when `sample` is true
};
/// `--data` when given (must hold a dataset: InputError otherwise), else $GPUNET_DATA, else
/// ./data/cifar-10-batches-bin, else the embedded sample with a note saying how to get the
/// full set (`gpunet data download cifar10`).
DataChoice choose_data(const std::string& flag);

/// Sets OpenMP and OpenBLAS threads (n >= 1; 0 leaves the defaults).
void set_threads(int n);

/// The --cuda-graph values "auto", "on", "off" as a GraphMode; InputError naming the flag
/// otherwise. The one mapping, used by train and bench.
GraphMode parse_graph_mode(const std::string& flag);
/// The --cuda-graph help text, listing the values parse_graph_mode accepts.
std::string graph_mode_help();

/// The registered model a --model flag names; InputError "--model x: unknown model; known
/// models: lenet" otherwise.
const models::ModelEntry& model_flag(const std::string& name);
/// The --model help text: the known models from the registry, and (for eval and predict, where
/// `recognised_without`) that the checkpoint's tensor names choose the model without it.
std::string model_help(bool recognised_without);

/// The tensor names of the safetensors file `path` (InputError, naming it, when unreadable).
std::vector<std::string> checkpoint_tensor_names(const std::string& path);

/// Loads the weights file `path` into `net`, a model `entry` built, strictly (io::load_weights).
/// On a mismatch whose file is exactly another registered model's, the one-line error says
/// which: "...; it looks like a resnet18 checkpoint (--model resnet18)".
void load_weights_into(nn::Module& net, const models::ModelEntry& entry, const std::string& path);

/// `entry`'s model with `num_classes` outputs (entry.make for 10 or 0); InputError "--model X
/// has 10 classes only" when the model cannot have another count.
std::shared_ptr<nn::Module> make_for_classes(const models::ModelEntry& entry, int num_classes, Generator& gen);

struct LoadedModel {
  std::shared_ptr<nn::Module> net;
  const models::ModelEntry* entry = nullptr;
};
/// Makes the model (seeded) and loads `checkpoint` (a safetensors weights file) into it.
/// `model_name` given: that model (InputError for an unknown name). Empty: the model is
/// recognised from the file's tensor names, and once loaded one line on stderr says which:
/// "gpunet: checkpoint looks like lenet". A file no model matches is an InputError naming the
/// closest model and its missing and unexpected tensors.
/// `num_classes` (0: 10) sizes the head, from the checkpoint's class names.
LoadedModel load_model(const std::string& model_name, const std::string& checkpoint, int num_classes = 0);

/// True when stderr is a terminal (progress bars).
bool stderr_is_tty();

}  // namespace gpunet::cli
