#include "gpunet/nn/module.h"

#include <set>
#include <sstream>

#include "gpunet/optim/param_store.h"

namespace gpunet::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  if (t.defined()) {
    GPUNET_CHECK(t.dtype() == DType::Float32, "register_parameter: '", name, "' is ", dtype_name(t.dtype()),
                 "; parameters are float32 (use register_buffer for other state)");
    t.requires_grad_(true);
  }
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  GPUNET_CHECK(!t.defined() || !t.requires_grad(), "register_buffer: '", name,
               "' requires grad; a trained tensor is a parameter (register_parameter)");
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, int what, StateDict& out) const {
  if (what & kParams)
    for (auto& [name, t] : params_)
      if (t.defined()) out.emplace_back(prefix + name, t);
  if (what & kBuffers)
    for (auto& [name, t] : buffers_)
      if (t.defined()) out.emplace_back(prefix + name, t);
  for (auto& [name, child] : children_) child->collect(prefix + name + ".", what, out);
}

StateDict Module::named_parameters() const {
  StateDict out;
  collect("", kParams, out);
  return out;
}

StateDict Module::named_buffers() const {
  StateDict out;
  collect("", kBuffers, out);
  return out;
}

StateDict Module::state_dict() const {
  StateDict out;
  collect("", kParams | kBuffers, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& t : parameters()) n += t.numel();
  return n;
}

Device Module::device() const {
  auto ps = parameters();
  if (!ps.empty()) return ps.front().device();
  auto bs = named_buffers();
  return bs.empty() ? Device::cpu() : bs.front().second.device();
}

bool Module::capturable() const {
  for (auto& [n, c] : children_)
    if (!c->capturable()) return false;
  return true;
}

namespace {
// Points `dst`'s impl at `src`'s storage (keeping dst's identity for anyone holding it).
void rebind(const Tensor& dst, const Tensor& src) {
  auto& d = dst.impl();
  d.storage = src.storage();
  d.offset = src.storage_offset();
  d.strides = src.strides();
}

void move_in_place(const Tensor& t, Device device) {
  if (t.device() == device) return;
  rebind(t, t.detach().to(device));
  Tensor g = t.grad();
  if (g.defined() && g.device() != device) rebind(g, g.to(device));
}

template <typename F>
void for_each_module(const Module& m, F&& f) {
  f(m);
  for (auto& [n, c] : m.children()) for_each_module(*c, f);
}
}  // namespace

Module& Module::to(Device device) {
  device.check_available();
  // Stores first: each moves its flat buffers (and optimizer state) as a whole.
  for_each_module(*this, [&](const Module& m) {
    if (auto s = m.param_store()) s->to(device);
  });
  for (auto& [n, t] : state_dict()) move_in_place(t, device);
  return *this;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  auto store = param_store();
  if (store) store->zero_grad();
  for (auto& p : parameters())
    if (!store || !store->contains(p)) p.set_grad(Tensor());  // set_to_none, PyTorch's default
}

void Module::load_state_dict(const StateDict& sd, bool strict) {
  const StateDict mine = state_dict();
  std::set<std::string> used;
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  for (auto& [name, dst] : mine) {
    const Tensor* src = state_dict_find(sd, name);
    if (!src) {
      if (strict) throw InputError("state dict is missing tensor '" + name + "' (shape " + shape_str(dst.shape()) + ")");
      continue;
    }
    if (src->shape() != dst.shape())
      throw InputError("tensor '" + name + "' has shape " + shape_str(src->shape()) + ", expected " +
                       shape_str(dst.shape()));
    if (src->dtype() != dst.dtype())
      throw InputError("tensor '" + name + "' has dtype " + dtype_name(src->dtype()) + ", expected " +
                       dtype_name(dst.dtype()));
    copies.emplace_back(dst, src);
    used.insert(name);
  }
  if (strict)
    for (auto& [n, t] : sd)
      if (!used.count(n)) throw InputError("state dict has unexpected tensor '" + n + "'; is it a checkpoint of this model?");
  for (auto& [dst, src] : copies) {
    Tensor alias = dst.detach();  // no autograd record
    alias.copy_(*src);
  }
}

std::string describe(const Module& m, int indent) {
  std::ostringstream os;
  os << m.repr();
  if (!m.children().empty()) {
    os << "(\n";
    for (auto& [name, c] : m.children())
      os << std::string(indent + 2, ' ') << "(" << name << "): " << describe(*c, indent + 2) << "\n";
    os << std::string(indent, ' ') << ")";
  }
  return os.str();
}

}  // namespace gpunet::nn
