#pragma once
/// ONNX export: a module's inference-mode computation as an ONNX model that onnxruntime runs.
/// The graph is built from the modules' export hooks (nn::Module::export_onnx, nn/onnx_graph.h)
/// with the protobuf classes of Debian's ONNX 1.12 (IR version 8):
///   input  `input`  float32 [N, 3, 32, 32] (the normalised image, as forward() takes it)
///   output `logits` float32 [N, 10]
///   initializers: every state_dict tensor, named by its state_dict key, in state_dict order
///   BatchNormalization in inference mode; exact GELU written with Erf (Gelu is opset 20).
/// N is a fixed batch size or the symbol "N" (dynamic).
///
///   gpunet::io::export_onnx(*net, "lenet.onnx");                    // opset 17, dynamic batch
///   gpunet::io::export_onnx(*net, "lenet.onnx", {.opset = 13, .batch = 64});
#include <cstdint>
#include <string>
#include <vector>

#include "gpunet/nn/module.h"

namespace gpunet::io {

/// The opsets export_onnx writes: 13 (Gemm/Conv/BatchNormalization as today) to 17, the newest
/// Debian's ONNX 1.12 knows.
constexpr int kOnnxMinOpset = 13;
constexpr int kOnnxMaxOpset = 17;

struct OnnxExportOptions {
  int opset = kOnnxMaxOpset;                 ///< in [kOnnxMinOpset, kOnnxMaxOpset]
  int64_t batch = 0;                         ///< N: >= 1 fixed, 0 dynamic (dim_param "N")
  std::vector<int64_t> image = {3, 32, 32};  ///< the input's dims after N: C, H, W
  int64_t num_classes = 10;                  ///< the output's dim after N
  std::string graph_name = "gpunet";         ///< GraphProto.name (e.g. the model's name)
};

/// What export_onnx wrote.
struct OnnxExportSummary {
  int64_t nodes = 0;
  int64_t initializers = 0;
  int64_t bytes = 0;  ///< the file's size
};

/// Writes `module`'s inference graph to `path` as an ONNX model.
/// Requires: every module on the way has an ONNX form (else InputError, one line naming the
/// module and its repr: "ONNX export: module 'block' (MyOp()) has no ONNX form; ..."); an opset
/// in range and batch >= 0 (InputError naming the value). The module's tensors may be on any
/// device (copied to the host one at a time); its training/eval mode does not matter.
/// Guarantees: before anything is written the model passes onnx::checker::check_model and
/// strict shape inference (type checks on, node errors thrown), whose inferred output must be
/// [N, num_classes] (Error otherwise: a hook that does not match its forward()); the file is
/// written atomically (`<path>.tmp.<pid>`, fsync, rename): on failure (a folder that is missing
/// or not a folder, a full disk) InputError names `path` and the cause, and neither `path` nor a
/// temporary file is left behind (a previous `path` stays as it was).
OnnxExportSummary export_onnx(const nn::Module& module, const std::string& path, const OnnxExportOptions& options = {});

}  // namespace gpunet::io
