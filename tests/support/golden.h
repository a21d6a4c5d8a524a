#pragma once
// PyTorch fixtures written by tools/gen_golden.py (tests/golden/*.json): tensors are
// {"shape": [...], "data": [...]}; each file names the torch version that made it.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "gpunet/tensor.h"

namespace gpunet::test {

/// Parses tests/golden/<name>; throws with the path when missing or malformed.
nlohmann::json load_golden(const std::string& name);
/// The case object fixture["cases"][key].
const nlohmann::json& golden_case(const nlohmann::json& fixture, const std::string& key);
Shape golden_shape(const nlohmann::json& t);
std::vector<float> golden_floats(const nlohmann::json& t);
std::vector<double> golden_doubles(const nlohmann::json& t);
std::vector<int64_t> golden_ints(const nlohmann::json& t);
/// A CPU tensor (float32, or int64 for integer data when `dtype` says so) from a fixture tensor.
Tensor golden_tensor(const nlohmann::json& t, DType dtype = DType::Float32, Device device = Device::cpu());

}  // namespace gpunet::test
