#pragma once
/// Checkpoints: model weights that move both ways between gpunet and PyTorch, and the
/// training state that --resume needs, saved so that a crash never leaves a broken pair.
///
/// Weights file (`path`): a pure safetensors state dict, PyTorch's names and shapes and
/// nothing else, so PyTorch loads it strictly:
///     net.load_state_dict(safetensors.torch.load_file(path), strict=True)
/// Its __metadata__ holds {"format": "pt", "gpunet.version": ...} and, for a training
/// checkpoint, "gpunet.train_state" (the scalars as a JSON object of strings) and
/// "gpunet.optimizer_file" / "gpunet.save_id" naming the optimizer file.
///
/// Optimizer file: `<path>.optim-<save_id>.safetensors` in the same folder, a safetensors
/// file of the optimizer's tensors (momentum buffers) with the same "gpunet.save_id".
/// Every save uses a fresh save_id, so the new optimizer file never replaces the old one:
///   1. write the new optimizer file (atomically),
///   2. atomically replace `path`, whose metadata names the new optimizer file: the commit,
///   3. delete the optimizer files of earlier saves of `path`.
/// A crash before 2 leaves the old pair intact (plus an orphan, removed by the next save);
/// after 2, the new pair. There is no moment at which `path` names a missing or newer file.
///
///   io::TrainState st{net.state_dict(), opt.state_dict(), {{"epoch", "3"}, {"step", "12000"}}};
///   io::save_train_state("ckpt.safetensors", st);
///   io::TrainState back = io::load_train_state("ckpt.safetensors");
#include <map>
#include <string>

#include "gpunet/state_dict.h"

namespace gpunet::io {

/// Writes `weights` as a PyTorch-loadable safetensors file (atomically, see save_safetensors),
/// with `extra_metadata` added to {"format": "pt", "gpunet.version": ...}. Removes the
/// optimizer files of earlier training checkpoints saved at `path`.
void save_weights(const std::string& path, const StateDict& weights,
                  const std::map<std::string, std::string>& extra_metadata = {});

/// Loads the safetensors file at `path` into `expected` in place (Tensor::copy_, any device).
/// Checks everything before copying anything, and throws InputError with one line on:
///   a missing tensor      "checkpoint ck.safetensors is missing tensor fc3.bias"
///   an unexpected tensor  "checkpoint ck.safetensors has unexpected tensor foo; is it a LeNet checkpoint?"
///                         (the question only when `model_name` is given)
///   a shape mismatch      "checkpoint ck.safetensors: tensor conv1.weight has shape [6, 1, 5, 5], expected [6, 3, 5, 5]"
///   a dtype mismatch      "checkpoint ck.safetensors: tensor fc1.bias has dtype F64, expected F32"
/// Returns the file's metadata.
std::map<std::string, std::string> load_weights(const std::string& path, const StateDict& expected,
                                                const std::string& model_name = "");

/// Everything --resume needs. `scalars` holds epoch, step, RNG state, loader position, ...
/// as strings (the caller chooses the keys and formats).
struct TrainState {
  StateDict model;                             // PyTorch state_dict names ("conv1.weight")
  StateDict optimizer;                         // e.g. "conv1.weight.momentum_buffer"; may be empty
  std::map<std::string, std::string> scalars;  // e.g. {"epoch": "3", "step": "12000"}
  std::map<std::string, std::string> metadata;  // more entries for the weights file's metadata, as save_weights'
                                               // extra_metadata (e.g. gpunet.classes); not read back here
};

/// Saves `state` as the weights file `path` plus its optimizer file (see the top of this
/// header). Crash-safe: `path` always names a complete, matching pair. InputError on failure.
void save_train_state(const std::string& path, const TrainState& state);

/// Loads a checkpoint written by save_train_state (tensors on the CPU, in file order).
/// InputError when `path` is a weights-only file ("holds no training state"), when its
/// optimizer file is missing or belongs to another save, or on any file error.
TrainState load_train_state(const std::string& path);

/// True when `path` is a checkpoint with training state (reads only the header).
bool has_train_state(const std::string& path);

/// The optimizer file that `path` (a training checkpoint) names, with its folder; "" when none.
std::string optimizer_file_of(const std::string& path);

}  // namespace gpunet::io
