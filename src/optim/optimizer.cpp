#include "gpunet/optim/optimizer.h"

namespace gpunet::optim {

Optimizer::Optimizer(std::vector<Tensor> params, nn::Module* module) : params_(std::move(params)), module_(module) {
  GPUNET_CHECK(!params_.empty(), "optimizer got an empty parameter list");
  for (auto& p : params_)
    GPUNET_CHECK(p.dtype() == DType::Float32 && p.requires_grad(), "optimizer: parameters must be float32 tensors that require grad");
}

void Optimizer::zero_grad() {
  if (module_) return module_->zero_grad();
  for (auto& p : params_) p.set_grad(Tensor());
}

namespace {
Tensor run_view(const Tensor& first, int64_t total) {
  auto im = std::make_shared<TensorImpl>();
  im->storage = first.storage();
  im->offset = first.storage_offset();
  im->shape = {total};
  im->strides = {1};
  im->dtype = first.dtype();
  return Tensor(im);
}
}  // namespace

bool Optimizer::flat() const { return module_ && module_->parameters_flat(); }
Tensor Optimizer::flat_params() const {
  int64_t total = 0;
  for (auto& p : params_) total += p.numel();
  return run_view(params_.front(), total);
}
Tensor Optimizer::flat_grads() const {
  int64_t total = 0;
  for (auto& p : params_) total += p.numel();
  return run_view(params_.front().grad(), total);
}

}  // namespace gpunet::optim
