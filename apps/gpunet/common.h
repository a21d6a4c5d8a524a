#pragma once
// Helpers shared by the subcommands: choosing the device and the data folder, threads,
// loading a model from a checkpoint.
#include <memory>
#include <string>

#include "gpunet/data/cifar10.h"
#include "gpunet/device.h"
#include "gpunet/nn/module.h"

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

/// Makes `model_name` (seeded) and loads `checkpoint` (a safetensors weights file) into it.
std::shared_ptr<nn::Module> load_model(const std::string& model_name, const std::string& checkpoint);

/// True when stderr is a terminal (progress bars).
bool stderr_is_tty();

}  // namespace gpunet::cli
