// `gpunet export --checkpoint W.safetensors [--model NAME] -o model.onnx [--opset 17]
// [--batch N|dynamic]`: the checkpoint's model as an ONNX file (io::export_onnx). Without
// --model the model is recognised from the checkpoint's tensor names (said on stderr once written).
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "common.h"
#include "gpunet/io/onnx.h"

namespace gpunet::cli {
namespace {

struct ExportOptions {
  std::string checkpoint, model, output;
  std::string batch = "dynamic";
  int opset = io::kOnnxMaxOpset;
};

// "dynamic" -> 0; a whole number >= 1 -> itself; InputError naming the flag otherwise.
int64_t parse_batch(const std::string& s) {
  if (s == "dynamic") return 0;
  const bool digits = !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoll(s) < 1)
    throw InputError("--batch " + s + ": expected a batch size >= 1 or 'dynamic'");
  return std::stoll(s);
}

int run_export(const ExportOptions& o) {
  io::OnnxExportOptions eo;
  eo.batch = parse_batch(o.batch);
  eo.opset = o.opset;
  if (eo.opset < io::kOnnxMinOpset || eo.opset > io::kOnnxMaxOpset)
    throw InputError("--opset " + std::to_string(o.opset) + ": choose " + std::to_string(io::kOnnxMinOpset) + " to " +
                     std::to_string(io::kOnnxMaxOpset) + " (Debian's ONNX 1.12 knows opsets up to 17)");
  // Recognised here rather than by load_model, so that the note comes after a successful export
  // and a failure stays one line on stderr.
  std::string model = o.model;
  if (model.empty()) {
    if (!std::filesystem::exists(o.checkpoint)) throw InputError("checkpoint " + o.checkpoint + ": no such file");
    model = models::registry().recognise_or_throw(checkpoint_tensor_names(o.checkpoint), "checkpoint " + o.checkpoint).name;
  }
  const LoadedModel m = load_model(model, o.checkpoint);
  eo.graph_name = m.entry->name;
  const io::OnnxExportSummary s = io::export_onnx(*m.net, o.output, eo);
  if (o.model.empty()) std::fprintf(stderr, "gpunet: checkpoint looks like %s\n", m.entry->name.c_str());
  std::printf("wrote %s: %s, opset %d, batch %s, %lld nodes, %lld initializers, %lld bytes\n", o.output.c_str(),
              m.entry->name.c_str(), eo.opset, eo.batch ? std::to_string(eo.batch).c_str() : "dynamic",
              static_cast<long long>(s.nodes), static_cast<long long>(s.initializers), static_cast<long long>(s.bytes));
  return 0;
}

}  // namespace

void register_export(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("export", "write a checkpoint's model as an ONNX file (for onnxruntime and others)");
  auto o = std::make_shared<ExportOptions>();
  cmd->add_option("--checkpoint", o->checkpoint, "weights (safetensors, PyTorch names), from gpunet or PyTorch")->required();
  cmd->add_option("--model", o->model, model_help(true));
  cmd->add_option("-o,--output", o->output, "the ONNX file to write (atomically)")->required();
  cmd->add_option("--opset", o->opset, "ONNX opset, 13 to 17")->capture_default_str();
  cmd->add_option("--batch", o->batch, "the input's batch size N, or 'dynamic'")->capture_default_str();
  cmd->callback([o, &exit_code]() { exit_code = run_export(*o); });
}

}  // namespace gpunet::cli
