#pragma once
/// The start-up of a data-parallel run, as DDP's: the ranks check that their settings and the
/// model's shapes agree, then rank 0's parameters and buffers go to every rank.
///
///   dist::check_agreement(*pg, {{"--batch-size", "32"}, {"model", dist::model_signature(net)}});
///   dist::broadcast_state(*pg, net);   // every rank now starts from rank 0's weights
#include <string>
#include <utility>
#include <vector>

#include "gpunet/dist/process_group.h"
#include "gpunet/nn/module.h"

namespace gpunet::dist {

/// A setting that differs between ranks: every rank throws it (the same message), rank 0 says it.
struct MismatchError : InputError {
  using InputError::InputError;
};

using Settings = std::vector<std::pair<std::string, std::string>>;

/// Gathers every rank's `settings` (the same names in the same order) and throws MismatchError on
/// every rank for the first one whose value differs, naming it and which ranks hold which value:
///   "distributed: the ranks disagree on --batch-size: 4 on rank 0, 8 on rank 1; start every
///    rank with the same settings"
void check_agreement(ProcessGroup& pg, const Settings& settings);

/// The model's state_dict names, shapes and dtypes, as one string (a setting for check_agreement).
std::string model_signature(const nn::Module& model);

/// Rank 0's parameters and buffers (state_dict order) copied into every rank's. Requires the
/// shapes to agree (check_agreement with model_signature first).
void broadcast_state(ProcessGroup& pg, nn::Module& model);

/// The ranks' name for the message: "rank 1" or "ranks 0, 2".
std::string rank_list(const std::vector<int>& ranks);

}  // namespace gpunet::dist
