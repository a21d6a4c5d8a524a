#include "support/golden.h"

#include <fstream>

#include "gpunet/error.h"

namespace gpunet::test {

nlohmann::json load_golden(const std::string& name) {
  const std::string path = std::string(GPUNET_TEST_GOLDEN_DIR) + "/" + name;
  std::ifstream in(path);
  GPUNET_CHECK(in.good(), "golden fixture ", path, " not found (regenerate with tools/gen_golden.py)");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(detail::cat("golden fixture ", path, " is malformed: ", e.what()));
  }
}

const nlohmann::json& golden_case(const nlohmann::json& fixture, const std::string& key) {
  const auto& cases = fixture.at("cases");
  GPUNET_CHECK(cases.contains(key), "golden fixture has no case '", key, "'");
  return cases.at(key);
}

Shape golden_shape(const nlohmann::json& t) { return t.at("shape").get<Shape>(); }
std::vector<float> golden_floats(const nlohmann::json& t) { return t.at("data").get<std::vector<float>>(); }
std::vector<double> golden_doubles(const nlohmann::json& t) { return t.at("data").get<std::vector<double>>(); }
std::vector<int64_t> golden_ints(const nlohmann::json& t) { return t.at("data").get<std::vector<int64_t>>(); }

Tensor golden_tensor(const nlohmann::json& t, DType dtype, Device device) {
  if (dtype == DType::Int64) return Tensor::from_vector(golden_ints(t), golden_shape(t), device);
  GPUNET_CHECK(dtype == DType::Float32, "golden_tensor: only float32 and int64 are supported");
  return Tensor::from_vector(golden_floats(t), golden_shape(t), device);
}

}  // namespace gpunet::test
