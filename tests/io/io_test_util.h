#pragma once
// Helpers for the io tests: a temporary folder, raw file bytes, a LeNet-shaped state dict,
// and an expectation that a call throws InputError with a given message.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gpunet/state_dict.h"

namespace gpunet::io::testing {

namespace fs = std::filesystem;

/// A fresh folder under /tmp, removed with everything in it at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gpunet_io_test_XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  /// File names in the folder, sorted.
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The tutorial LeNet's names and shapes (PyTorch's state_dict order), float32 values
/// `base + 0.001 * i` (i counts through all tensors), so every element is distinct.
inline StateDict lenet_state(float base = 0.0f) {
  const std::vector<std::pair<std::string, Shape>> spec = {
      {"conv1.weight", {6, 3, 5, 5}}, {"conv1.bias", {6}},   {"conv2.weight", {16, 6, 5, 5}},
      {"conv2.bias", {16}},           {"fc1.weight", {120, 400}}, {"fc1.bias", {120}},
      {"fc2.weight", {84, 120}},      {"fc2.bias", {84}},    {"fc3.weight", {10, 84}},
      {"fc3.bias", {10}}};
  StateDict sd;
  int64_t k = 0;
  for (const auto& [name, shape] : spec) {
    std::vector<float> v(static_cast<size_t>(numel_of(shape)));
    for (auto& x : v) x = base + 0.001f * static_cast<float>(k++ % 1000) - 0.5f;
    sd.emplace_back(name, Tensor::from_vector(v, shape));
  }
  return sd;
}

/// Asserts that `fn()` throws gpunet::InputError whose one-line message contains every
/// part of `parts`; prints the message either way.
template <typename Fn>
void expect_input_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected InputError containing '" << parts.front() << "', nothing was thrown";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
  }
}

}  // namespace gpunet::io::testing
