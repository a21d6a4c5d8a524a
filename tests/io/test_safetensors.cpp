// safetensors round trips and compatibility with files written by PyTorch's safetensors
// library (fixtures from tools/make_torch_checkpoint.py). Stored values must come back
// bit for bit, so values are compared by their bytes, not as floats.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gpunet/io/safetensors.h"
#include "io_test_util.h"

namespace gpunet::io {
namespace {

using testing::read_bytes;
using testing::TempDir;

bool same_bytes(const Tensor& a, const Tensor& b) {
  Tensor ca = a.cpu().contiguous(), cb = b.cpu().contiguous();
  return ca.dtype() == cb.dtype() && ca.shape() == cb.shape() &&
         (ca.nbytes() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

const Tensor& find(const SafetensorsFile& f, const std::string& name) {
  for (const auto& [n, t] : f.tensors)
    if (n == name) return t;
  throw std::runtime_error("no tensor " + name);
}

TEST(Safetensors, RoundTripsEveryDtypeScalarAndEmpty) {
  TempDir dir;
  std::vector<std::pair<std::string, Tensor>> in = {
      {"w", Tensor::from_vector<float>({1.5f, -2.25f, 3e-38f, -1e30f, 0.1f, 7.f}, {2, 3})},
      {"d", Tensor::from_vector<double>({3.141592653589793, -1e300, 5e-324}, {3})},
      {"l", Tensor::from_vector<int64_t>({INT64_MIN, INT64_MAX, 0, -1}, {2, 2})},
      {"i", Tensor::from_vector<int32_t>({INT32_MIN, INT32_MAX, 12345}, {3, 1})},
      {"u", Tensor::from_vector<uint8_t>({0, 1, 127, 128, 255}, {5})},
      {"scalar", Tensor::from_vector<float>({2.5f}, {})},
      {"empty", Tensor::zeros({0, 4})},
  };
  std::map<std::string, std::string> md = {{"format", "pt"}, {"epoch", "3"}, {"note", "caf\xc3\xa9 \"quoted\""}};
  save_safetensors(dir.file("a.safetensors"), in, md);
  SafetensorsFile out = load_safetensors(dir.file("a.safetensors"));

  EXPECT_EQ(out.metadata, md);
  ASSERT_EQ(out.tensors.size(), in.size());
  // File order is the Python library's: dtype alignment (I64, F64, F32, I32, U8), then name.
  std::vector<std::string> order;
  for (const auto& [n, t] : out.tensors) order.push_back(n);
  EXPECT_EQ(order, (std::vector<std::string>{"l", "d", "empty", "scalar", "w", "i", "u"}));
  for (const auto& [name, t] : in) {
    const Tensor& back = find(out, name);
    EXPECT_TRUE(back.device().is_cpu());
    EXPECT_TRUE(same_bytes(t, back)) << name << ": wrote " << t.str() << ", read " << back.str();
  }
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a.safetensors"}) << "temporary files left behind";
}

TEST(Safetensors, WritesNonContiguousViewsAsTheirElements) {
  TempDir dir;
  Tensor base = Tensor::arange(12, DType::Int64).reshape({3, 4});
  Tensor view = base.narrow(1, 1, 2);  // [[1,2],[5,6],[9,10]], strided
  ASSERT_FALSE(view.is_contiguous());
  save_safetensors(dir.file("v.safetensors"), {{"v", view}});
  SafetensorsFile f = load_safetensors(dir.file("v.safetensors"));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].second.shape(), (Shape{3, 2}));
  EXPECT_EQ(f.tensors[0].second.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 5, 6, 9, 10}));
}

TEST(Safetensors, ReplacesAnExistingFile) {
  TempDir dir;
  const std::string p = dir.file("x.safetensors");
  save_safetensors(p, {{"a", Tensor::ones({100})}});
  save_safetensors(p, {{"b", Tensor::zeros({2}, DType::UInt8)}}, {{"v", "2"}});
  SafetensorsFile f = load_safetensors(p);
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].first, "b");
  EXPECT_EQ(f.metadata.at("v"), "2");
}

TEST(Safetensors, RejectsInvalidNamesAsProgrammingErrors) {
  TempDir dir;
  EXPECT_THROW(save_safetensors(dir.file("x"), {{"a", Tensor::ones({1})}, {"a", Tensor::ones({1})}}), Error);
  EXPECT_THROW(save_safetensors(dir.file("x"), {{"__metadata__", Tensor::ones({1})}}), Error);
  EXPECT_THROW(save_safetensors(dir.file("x"), {{"", Tensor::ones({1})}}), Error);
  EXPECT_EQ(dir.list(), std::vector<std::string>{});
}

// Every value of the PyTorch-written fixture, compared exactly (edge values: int64 min/max,
// 1e-30f, -1e30f, an empty and a scalar tensor).
TEST(Safetensors, ReadsPyTorchDtypesFixtureExactly) {
  const std::string path = std::string(GPUNET_TEST_GOLDEN_DIR) + "/io_dtypes_torch.safetensors";
  nlohmann::json want = read_json(std::string(GPUNET_TEST_GOLDEN_DIR) + "/io_dtypes_torch.json");
  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(f.tensors.size(), want["tensors"].size());
  for (const auto& [name, w] : want["tensors"].items()) {
    SCOPED_TRACE(name);
    const Tensor& t = find(f, name);
    EXPECT_EQ(t.shape(), w["shape"].get<Shape>());
    EXPECT_STREQ(safetensors_dtype_name(t.dtype()), w["dtype"].get<std::string>().c_str());
    const auto& values = w["values"];
    ASSERT_EQ(static_cast<size_t>(t.numel()), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      switch (t.dtype()) {
        case DType::Float32:  // the JSON double is the float32 value exactly
          EXPECT_EQ(std::bit_cast<uint32_t>(t.to_vector<float>()[i]), std::bit_cast<uint32_t>(values[i].get<float>())) << i;
          break;
        case DType::Float64:
          EXPECT_EQ(std::bit_cast<uint64_t>(t.to_vector<double>()[i]), std::bit_cast<uint64_t>(values[i].get<double>())) << i;
          break;
        case DType::Int64: EXPECT_EQ(t.to_vector<int64_t>()[i], values[i].get<int64_t>()) << i; break;
        case DType::Int32: EXPECT_EQ(t.to_vector<int32_t>()[i], values[i].get<int32_t>()) << i; break;
        case DType::UInt8: EXPECT_EQ(t.to_vector<uint8_t>()[i], values[i].get<uint8_t>()) << i; break;
      }
    }
  }
}

// gpunet writes the very bytes the Python library wrote: same tensor order, same header
// JSON (key order, number format), same padding.
TEST(Safetensors, WritesTheBytesPyTorchWrites) {
  TempDir dir;
  for (const char* fixture : {"io_dtypes_torch.safetensors", "io_lenet_torch.safetensors"}) {
    SCOPED_TRACE(fixture);
    const std::string path = std::string(GPUNET_TEST_GOLDEN_DIR) + "/" + fixture;
    SafetensorsFile f = load_safetensors(path);
    save_safetensors(dir.file(fixture), f.tensors, f.metadata);
    const std::string a = read_bytes(path), b = read_bytes(dir.file(fixture));
    ASSERT_EQ(a.size(), b.size());
    size_t first_diff = 0;
    while (first_diff < a.size() && a[first_diff] == b[first_diff]) ++first_diff;
    EXPECT_EQ(first_diff, a.size()) << "first differing byte at " << first_diff;
  }
}

// The LeNet that PyTorch initialised with torch.manual_seed(0): names, order, shapes and
// checksums from io_lenet_torch.json.
TEST(Safetensors, ReadsPyTorchLeNetStateDict) {
  const std::string golden = GPUNET_TEST_GOLDEN_DIR;
  nlohmann::json want = read_json(golden + "/io_lenet_torch.json");
  SafetensorsFile f = load_safetensors(golden + "/io_lenet_torch.safetensors");
  ASSERT_EQ(f.tensors.size(), want["order"].size());
  double worst = 0;
  std::string worst_name;
  for (const auto& name : want["order"]) {
    SCOPED_TRACE(name.get<std::string>());
    const nlohmann::json& w = want["tensors"][name.get<std::string>()];
    const Tensor& t = find(f, name);
    ASSERT_EQ(t.shape(), w["shape"].get<Shape>());
    ASSERT_EQ(t.dtype(), DType::Float32);
    std::vector<float> v = t.to_vector<float>();
    for (size_t i = 0; i < w["first"].size(); ++i)
      EXPECT_EQ(std::bit_cast<uint32_t>(v[i]), std::bit_cast<uint32_t>(w["first"][i].get<float>())) << "element " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(v.back()), std::bit_cast<uint32_t>(w["last"].get<float>()));
    // Sums in float64 of the same float32 values; only the summation order differs.
    double sum = 0, abs_sum = 0;
    for (float x : v) sum += x, abs_sum += std::abs(x);
    const double err = std::max(std::abs(sum - w["sum"].get<double>()), std::abs(abs_sum - w["abs_sum"].get<double>()));
    if (err >= worst) worst = err, worst_name = name;
  }
  EXPECT_LT(worst, 1e-9) << "worst checksum error " << worst << " in " << worst_name;
}

}  // namespace
}  // namespace gpunet::io
