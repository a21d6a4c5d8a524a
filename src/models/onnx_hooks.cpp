// The ONNX export hooks of the registered models: each mirrors its model's forward(), module
// calls through OnnxGraph::child (so the initializers get the state_dict names) and the
// functional ops between them through OnnxGraph's helpers. tests/io/test_onnx_interop.cpp holds
// every hook to its forward() through onnxruntime.
#include "gpunet/models/airbench.h"
#include "gpunet/models/lenet.h"
#include "gpunet/models/resnet.h"
#include "gpunet/nn/onnx_graph.h"

namespace gpunet::models {

std::string LeNet::export_onnx(nn::OnnxGraph& g, const std::string& x) const {
  std::string h = g.child("pool", *pool, g.relu(g.child("conv1", *conv1, x)));
  h = g.child("pool", *pool, g.relu(g.child("conv2", *conv2, h)));
  h = g.flatten(h);
  h = g.relu(g.child("fc1", *fc1, h));
  h = g.relu(g.child("fc2", *fc2, h));
  return g.child("fc3", *fc3, h);
}

std::string BasicBlock::export_onnx(nn::OnnxGraph& g, const std::string& x) const {
  std::string h = g.relu(g.child("bn1", *bn1, g.child("conv1", *conv1, x)));
  h = g.child("bn2", *bn2, g.child("conv2", *conv2, h));
  const std::string identity = downsample ? g.child("downsample", *downsample, x) : x;
  return g.relu(g.add(h, identity));
}

std::string ResNet18::export_onnx(nn::OnnxGraph& g, const std::string& x) const {
  std::string h = g.relu(g.child("bn1", *bn1, g.child("conv1", *conv1, x)));
  h = g.child("layer1", *layer1, h);
  h = g.child("layer2", *layer2, h);
  h = g.child("layer3", *layer3, h);
  h = g.child("layer4", *layer4, h);
  h = g.node("GlobalAveragePool", {h});  // adaptive_avg_pool2d(h, 1, 1)
  return g.child("fc", *fc, g.flatten(h));
}

std::string AirbenchConvGroup::export_onnx(nn::OnnxGraph& g, const std::string& x) const {
  std::string h = g.gelu(g.child("norm1", *norm1, g.max_pool2d(g.child("conv1", *conv1, x), 2)));
  return g.gelu(g.child("norm2", *norm2, g.child("conv2", *conv2, h)));
}

std::string Airbench94::export_onnx(nn::OnnxGraph& g, const std::string& x) const {
  std::string h = g.gelu(g.child("whiten", *whiten, x));
  const bool rec = opts_.record_layout;  // the record's names: layers.1..3
  h = g.child(rec ? "layers.1" : "group1", *group1, h);
  h = g.child(rec ? "layers.2" : "group2", *group2, h);
  h = g.child(rec ? "layers.3" : "group3", *group3, h);
  h = g.flatten(g.max_pool2d(h, 3));
  return g.mul(g.child("head", *head, h), static_cast<float>(opts_.head_scale));
}

}  // namespace gpunet::models
