// `gpunet train`: a loss or weights that stop being finite end the run with exit code 2 and one
// line saying where (epoch, step), what (nan, inf, non-finite values) and which checkpoint was
// kept, before any checkpoint could record the broken state.
#include <cmath>
#include <filesystem>

#include "gpunet/ops.h"
#include "train_run.h"

namespace gpunet::cli::train {

Divergence::Divergence(const TrainOptions& opt, const nn::Module& net, const TrainStep& step)
    : opt_(opt), net_(net), step_(step) {}

bool Divergence::weights_finite() const {
  for (auto& p : net_.parameters())
    if (!ops::all_finite(p)) return false;
  return true;
}

bool Divergence::state_finite() const { return std::isfinite(step_.running_sum()) && weights_finite(); }

void Divergence::check_loss(double mean, uint64_t epoch, int64_t steps) const {
  if (!std::isfinite(mean)) throw error(std::isnan(mean) ? "nan" : "inf", epoch, steps);
}

void Divergence::check_state(uint64_t epoch, int64_t steps) const {
  if (!state_finite()) throw error("non-finite values", epoch, steps);
}

void Divergence::check_final_weights() const {
  if (!weights_finite())
    throw InputError("the weights are not finite after training (the loss diverged); try a smaller --lr");
}

InputError Divergence::error(const std::string& what, uint64_t epoch, int64_t steps) const {
  std::error_code ec;
  const bool kept = !opt_.checkpoint.empty() && std::filesystem::exists(opt_.checkpoint, ec);
  return InputError("the loss diverged (" + what + ") at epoch " + std::to_string(epoch + 1) + ", step " +
                    std::to_string(steps) +
                    (kept ? "; the last good checkpoint " + opt_.checkpoint + " is kept" : std::string()) +
                    "; try a smaller --lr");
}

}  // namespace gpunet::cli::train
