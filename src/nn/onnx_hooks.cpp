// The ONNX export hooks of the nn layers (Module::export_onnx) and OnnxGraph's functional
// helpers. Each hook emits the layer's inference-mode computation; the protobuf side lives in
// src/io/onnx_export.cpp.
#include <cmath>

#include "gpunet/error.h"
#include "gpunet/nn/batch_norm.h"
#include "gpunet/nn/cnn_layers.h"
#include "gpunet/nn/layers.h"
#include "gpunet/nn/onnx_graph.h"

namespace gpunet::nn {
namespace {

using Ints = std::vector<int64_t>;

[[noreturn]] void no_onnx_form(const OnnxGraph& g, const std::string& repr, const std::string& why) {
  const std::string where = g.where().empty() ? "the model" : "module '" + g.where() + "'";
  throw InputError("ONNX export: " + where + " (" + repr + ") has no ONNX form" + why +
                   "; exportable are Conv2d, Linear, BatchNorm2d (affine, running statistics), ReLU, GELU, SiLU, "
                   "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten(1), Dropout, Sequential and the "
                   "registered models");
}

}  // namespace

// ---- OnnxGraph --------------------------------------------------------------------------

std::string OnnxGraph::child(const std::string& name, const Module& m, const std::string& x) {
  const std::string saved = scope_;
  scope_ += name + ".";
  try {
    std::string y = m.export_onnx(*this, x);
    scope_ = saved;
    return y;
  } catch (...) {
    scope_ = saved;
    throw;
  }
}

std::string OnnxGraph::gelu(const std::string& x, const std::string& approximate) {
  if (approximate == "tanh") {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const std::string cube = node("Mul", {x, node("Mul", {x, x})});
    const std::string inner = mul(add(x, mul(cube, 0.044715f)), static_cast<float>(std::sqrt(2.0 / M_PI)));
    return mul(node("Mul", {x, node("Add", {node("Tanh", {inner}), scalar(1.f)})}), 0.5f);
  }
  GPUNET_CHECK(approximate == "none", "OnnxGraph::gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  // 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's exact GELU.
  const std::string e = node("Erf", {mul(x, static_cast<float>(M_SQRT1_2))});
  return mul(node("Mul", {x, node("Add", {e, scalar(1.f)})}), 0.5f);
}

std::string OnnxGraph::max_pool2d(const std::string& x, int kernel, int stride, int padding, bool ceil_mode) {
  const int64_t k = kernel, s = stride ? stride : kernel, p = padding;
  return node("MaxPool", {x},
              {{"kernel_shape", Ints{k, k}}, {"strides", Ints{s, s}}, {"pads", Ints{p, p, p, p}},
               {"ceil_mode", int64_t{ceil_mode ? 1 : 0}}});
}

// ---- the default: no ONNX form ----------------------------------------------------------

std::string Module::export_onnx(OnnxGraph& g, const std::string&) const { no_onnx_form(g, repr(), ""); }

// ---- layers.h -----------------------------------------------------------------------------

std::string Conv2d::export_onnx(OnnxGraph& g, const std::string& x) const {
  std::vector<std::string> in = {x, g.tensor("weight")};
  if (bias.defined()) in.push_back(g.tensor("bias"));
  const int64_t k = k_, s = stride_, p = padding_;
  return g.node("Conv", in, {{"kernel_shape", Ints{k, k}}, {"strides", Ints{s, s}}, {"pads", Ints{p, p, p, p}}});
}

std::string Linear::export_onnx(OnnxGraph& g, const std::string& x) const {
  // y = x W^T + b: Gemm with transB (x is [N, in] after a Flatten).
  std::vector<std::string> in = {x, g.tensor("weight")};
  if (bias.defined()) in.push_back(g.tensor("bias"));
  return g.node("Gemm", in, {{"transB", int64_t{1}}});
}

std::string MaxPool2d::export_onnx(OnnxGraph& g, const std::string& x) const {
  return g.max_pool2d(x, k_, stride_, padding_, ceil_mode_);
}

std::string ReLU::export_onnx(OnnxGraph& g, const std::string& x) const { return g.relu(x); }

std::string Flatten::export_onnx(OnnxGraph& g, const std::string& x) const {
  if (start_ != 1 || end_ != -1) no_onnx_form(g, repr(), " (only Flatten(start_dim=1, end_dim=-1) maps to ONNX Flatten)");
  return g.flatten(x);
}

std::string Sequential::export_onnx(OnnxGraph& g, const std::string& x) const {
  std::string y = x;
  for (const auto& [name, m] : children()) y = g.child(name, *m, y);
  return y;
}

// ---- cnn_layers.h -------------------------------------------------------------------------

std::string GELU::export_onnx(OnnxGraph& g, const std::string& x) const { return g.gelu(x, approximate_); }

std::string SiLU::export_onnx(OnnxGraph& g, const std::string& x) const { return g.silu(x); }

// Inference mode: the identity.
std::string Dropout::export_onnx(OnnxGraph& g, const std::string& x) const { return g.node("Identity", {x}); }

std::string AvgPool2d::export_onnx(OnnxGraph& g, const std::string& x) const {
  const int64_t k = k_, s = stride_, p = padding_;
  return g.node("AveragePool", {x},
                {{"kernel_shape", Ints{k, k}},
                 {"strides", Ints{s, s}},
                 {"pads", Ints{p, p, p, p}},
                 {"ceil_mode", int64_t{ceil_mode_ ? 1 : 0}},
                 {"count_include_pad", int64_t{count_include_pad_ ? 1 : 0}}});
}

std::string AdaptiveAvgPool2d::export_onnx(OnnxGraph& g, const std::string& x) const {
  if (oh_ != 1 || ow_ != 1) no_onnx_form(g, repr(), " (only output size 1 maps to GlobalAveragePool)");
  return g.node("GlobalAveragePool", {x});
}

// ---- batch_norm.h -------------------------------------------------------------------------

// Inference mode: (x - running_mean) / sqrt(running_var + eps) * weight + bias.
std::string BatchNorm2d::export_onnx(OnnxGraph& g, const std::string& x) const {
  if (!affine_ || !track_)
    no_onnx_form(g, repr(), " (BatchNormalization needs a weight, a bias and running statistics)");
  return g.node("BatchNormalization",
                {x, g.tensor("weight"), g.tensor("bias"), g.tensor("running_mean"), g.tensor("running_var")},
                {{"epsilon", static_cast<float>(eps_)}});
}

}  // namespace gpunet::nn
