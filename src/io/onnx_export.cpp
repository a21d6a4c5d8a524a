// io::export_onnx: the module's export hooks write into ProtoGraph, an nn::OnnxGraph over an
// onnx::GraphProto (Debian's libonnx-dev 1.12 protobuf classes); the model is checked with
// onnx's checker and strict shape inference, then written atomically (onnx_export_write.cpp).
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <climits>
#include <unordered_set>
#include <variant>

#include "gpunet/config.h"
#include "gpunet/error.h"
#include "gpunet/io/onnx.h"
#include "gpunet/nn/onnx_graph.h"
#include "io/onnx_export_write.h"

namespace gpunet::io {
namespace {

// One line: onnx's messages span several.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int onnx_type(DType t) {
  switch (t) {
    case DType::Float32: return onnx::TensorProto::FLOAT;
    case DType::Float64: return onnx::TensorProto::DOUBLE;
    case DType::Int64: return onnx::TensorProto::INT64;
    case DType::Int32: return onnx::TensorProto::INT32;
    case DType::UInt8: return onnx::TensorProto::UINT8;
  }
  throw Error("ONNX export: a tensor has a dtype with no ONNX type");
}

class ProtoGraph final : public nn::OnnxGraph {
 public:
  ProtoGraph(onnx::GraphProto& g, const StateDict& sd) : g_(g) {
    for (const auto& [name, t] : sd) names_.insert(name);
  }

  std::string node(const std::string& op_type, const std::vector<std::string>& inputs,
                   const std::vector<nn::OnnxAttr>& attrs) override {
    onnx::NodeProto* n = g_.add_node();
    const std::string name = (where().empty() ? "" : where() + "/") + op_type + "_" + std::to_string(count_++);
    n->set_name(name);
    n->set_op_type(op_type);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(name + "_out");
    for (const auto& a : attrs) {
      onnx::AttributeProto* p = n->add_attribute();
      p->set_name(a.name);
      if (const auto* i = std::get_if<int64_t>(&a.value)) {
        p->set_type(onnx::AttributeProto::INT);
        p->set_i(*i);
      } else if (const auto* f = std::get_if<float>(&a.value)) {
        p->set_type(onnx::AttributeProto::FLOAT);
        p->set_f(*f);
      } else if (const auto* v = std::get_if<std::vector<int64_t>>(&a.value)) {
        p->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : *v) p->add_ints(x);
      } else {
        p->set_type(onnx::AttributeProto::STRING);
        p->set_s(std::get<std::string>(a.value));
      }
    }
    return n->output(0);
  }

  std::string scalar(float value) override { return node("Constant", {}, {{"value_float", value}}); }

  std::string tensor(const std::string& local) override {
    const std::string full = scope() + local;
    if (!names_.count(full))
      throw Error("ONNX export: the hook of " + (where().empty() ? std::string("the model") : "'" + where() + "'") +
                  " reads tensor " + full + ", which the model's state_dict lacks");
    return full;
  }

 private:
  onnx::GraphProto& g_;
  std::unordered_set<std::string> names_;
  int64_t count_ = 0;
};

void set_shape(onnx::ValueInfoProto* v, const std::string& name, int64_t batch, const std::vector<int64_t>& rest) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  if (batch > 0) s->add_dim()->set_dim_value(batch);
  else s->add_dim()->set_dim_param("N");
  for (int64_t d : rest) s->add_dim()->set_dim_value(d);
}

// Makes `y`, the hooks' last value, the graph output "logits": its producer's output is renamed
// (and every reader of it), or an Identity is added when y is no node's output.
void name_output(onnx::GraphProto& g, const std::string& y) {
  for (auto& n : *g.mutable_node()) {
    if (n.output(0) != y) continue;
    n.set_output(0, "logits");
    for (auto& m : *g.mutable_node())
      for (auto& in : *m.mutable_input())
        if (in == y) in = "logits";
    return;
  }
  onnx::NodeProto* n = g.add_node();
  n->set_name("output/Identity");
  n->set_op_type("Identity");
  n->add_input(y);
  n->add_output("logits");
}

void add_initializers(onnx::GraphProto& g, const StateDict& sd) {
  for (const auto& [name, t] : sd) {
    onnx::TensorProto* p = g.add_initializer();
    p->set_name(name);
    p->set_data_type(onnx_type(t.dtype()));
    for (int64_t d : t.shape()) p->add_dims(d);
    const Tensor host = t.cpu().contiguous();
    p->set_raw_data(std::string(static_cast<const char*>(host.raw_data()), host.nbytes()));  // little-endian
  }
}

// onnx's checker, then strict shape inference (the Python checker's full_check); returns the
// model with the inferred value_info. Failures are gpunet bugs (a hook), named as such.
onnx::ModelProto check(const onnx::ModelProto& model, const OnnxExportOptions& o) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error("ONNX export: onnx's checker rejects the exported graph (a gpunet bug): " + one_line(e.what()));
  }
  onnx::ModelProto inferred = model;
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*error_mode=*/1));
  } catch (const std::exception& e) {
    throw Error("ONNX export: shape inference fails on the exported graph (a gpunet bug): " + one_line(e.what()));
  }
  // The output was declared [N, num_classes]; inference must have found the same.
  const auto& s = inferred.graph().output(0).type().tensor_type().shape();
  GPUNET_CHECK(s.dim_size() == 2 && s.dim(1).dim_value() == o.num_classes,
               "ONNX export: the graph's output is not [N, ", o.num_classes, "] (a gpunet bug)");
  return inferred;
}

}  // namespace

OnnxExportSummary export_onnx(const nn::Module& module, const std::string& path, const OnnxExportOptions& o) {
  GPUNET_INPUT_CHECK(o.opset >= kOnnxMinOpset && o.opset <= kOnnxMaxOpset, "ONNX export: opset ", o.opset,
                     " is not supported; choose ", kOnnxMinOpset, " to ", kOnnxMaxOpset,
                     " (Debian's ONNX 1.12 knows opsets up to 17)");
  GPUNET_INPUT_CHECK(o.batch >= 0, "ONNX export: batch ", o.batch, " must be >= 1 (or 0: dynamic)");
  GPUNET_INPUT_CHECK(o.image.size() == 3 && o.image[0] > 0 && o.image[1] > 0 && o.image[2] > 0 && o.num_classes > 0,
                     "ONNX export: the input must be [N, C, H, W] with C, H, W >= 1 and num_classes >= 1");
  const StateDict sd = module.state_dict();

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("gpunet");
  model.set_producer_version(GPUNET_VERSION);
  onnx::OperatorSetIdProto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(o.opset);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(o.graph_name);
  set_shape(g->add_input(), "input", o.batch, o.image);

  ProtoGraph pg(*g, sd);
  const std::string y = module.export_onnx(pg, "input");  // InputError: a module without ONNX form
  name_output(*g, y);
  set_shape(g->add_output(), "logits", o.batch, {o.num_classes});
  add_initializers(*g, sd);

  const onnx::ModelProto checked = check(model, o);
  GPUNET_INPUT_CHECK(checked.ByteSizeLong() < static_cast<size_t>(INT_MAX),
                     "ONNX export: the model needs ", checked.ByteSizeLong(),
                     " bytes, over protobuf's 2 GiB limit for one file");
  std::string bytes;
  GPUNET_CHECK(checked.SerializeToString(&bytes), "ONNX export: protobuf could not serialise the model");
  detail::write_file_atomically(path, bytes);

  OnnxExportSummary r;
  r.nodes = checked.graph().node_size();
  r.initializers = checked.graph().initializer_size();
  r.bytes = static_cast<int64_t>(bytes.size());
  return r;
}

}  // namespace gpunet::io
