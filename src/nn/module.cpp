#include "gpunet/nn/module.h"

#include <set>
#include <sstream>

namespace gpunet::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  if (t.defined()) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

void Module::collect(const std::string& prefix, StateDict& out) const {
  for (auto& [name, t] : params_)
    if (t.defined()) out.emplace_back(prefix + name, t);
  for (auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

StateDict Module::named_parameters() const {
  StateDict out;
  collect("", out);
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
  return ps.empty() ? Device::cpu() : ps.front().device();
}

namespace {
// Points `dst`'s impl at `src`'s storage (keeping dst's identity for anyone holding it).
void rebind(Tensor& dst, const Tensor& src) {
  auto& d = dst.impl();
  d.storage = src.storage();
  d.offset = src.storage_offset();
  d.strides = src.strides();
}
}  // namespace

Module& Module::to(Device device) {
  device.check_available();
  const bool was_flat = parameters_flat();
  for (auto& t : parameters()) {
    if (t.device() == device) continue;
    Tensor moved = t.to(device);
    Tensor p = t;
    rebind(p, moved);
    Tensor g = p.grad();
    if (g.defined()) {
      Tensor gm = g.to(device);
      rebind(g, gm);
    }
  }
  if (was_flat) flatten_parameters();
  return *this;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  auto ps = parameters();
  if (ps.empty()) return;
  if (parameters_flat()) {
    // One fill over the flat gradient buffer.
    Tensor g0 = ps.front().grad();
    auto im = std::make_shared<TensorImpl>();
    im->storage = g0.storage();
    im->offset = g0.storage_offset();
    im->shape = {num_parameters()};
    im->strides = {1};
    im->dtype = g0.dtype();
    Tensor flat(im);
    flat.zero_();
    return;
  }
  for (auto& p : ps) p.set_grad(Tensor());  // set_to_none, PyTorch's default
}

bool Module::parameters_flat() const {
  auto ps = parameters();
  if (ps.empty()) return false;
  auto st = ps.front().storage();
  auto gst = ps.front().grad().defined() ? ps.front().grad().storage() : nullptr;
  if (!gst) return false;
  int64_t off = ps.front().storage_offset(), goff = ps.front().grad().storage_offset();
  for (auto& p : ps) {
    Tensor g = p.grad();
    if (p.storage() != st || p.storage_offset() != off || !p.is_contiguous()) return false;
    if (!g.defined() || g.storage() != gst || g.storage_offset() != goff || !g.is_contiguous()) return false;
    off += p.numel();
    goff += p.numel();
  }
  return true;
}

void Module::flatten_parameters() {
  auto ps = parameters();
  if (ps.empty() || parameters_flat()) return;
  const Device dev = ps.front().device();
  for (auto& p : ps)
    GPUNET_CHECK(p.device() == dev && p.dtype() == DType::Float32, "flatten_parameters: parameters must all be float32 on one device");
  const int64_t total = num_parameters();
  Tensor flat_p = Tensor::empty({total}, DType::Float32, dev);
  Tensor flat_g = Tensor::zeros({total}, DType::Float32, dev);
  int64_t off = 0;
  for (auto& p : ps) {
    const int64_t n = p.numel();
    Tensor pv = flat_p.narrow(0, off, n).reshape(p.shape());
    pv.copy_(p);
    Tensor gv = flat_g.narrow(0, off, n).reshape(p.shape());
    if (p.grad().defined()) gv.copy_(p.grad());
    Tensor pp = p;
    rebind(pp, pv);
    pp.set_grad(gv);
    off += n;
  }
}

void Module::load_state_dict(const StateDict& sd, bool strict) {
  auto mine = named_parameters();
  std::set<std::string> used;
  for (auto& [name, p] : mine) {
    const Tensor* src = nullptr;
    for (auto& [n2, t] : sd)
      if (n2 == name) src = &t;
    if (!src) {
      if (strict) throw InputError("state dict is missing tensor '" + name + "' (shape " + shape_str(p.shape()) + ")");
      continue;
    }
    if (src->shape() != p.shape())
      throw InputError("tensor '" + name + "' has shape " + shape_str(src->shape()) + ", expected " +
                       shape_str(p.shape()));
    if (src->dtype() != DType::Float32)
      throw InputError("tensor '" + name + "' has dtype " + dtype_name(src->dtype()) + ", expected float32");
    Tensor dst = p;
    dst.copy_(*src);
    used.insert(name);
  }
  if (strict)
    for (auto& [n, t] : sd)
      if (!used.count(n)) throw InputError("state dict has unexpected tensor '" + n + "'; is it a checkpoint of this model?");
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
