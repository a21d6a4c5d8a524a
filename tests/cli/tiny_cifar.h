#pragma once
// A tiny CIFAR-10-shaped folder for the recipe's CLI tests (the official binary layout: five
// data_batch_N.bin, test_batch.bin, batches.meta.txt), so a whole recipe run, its per-epoch
// validation and its TTA test take a fraction of a second at the recipe's widths.
//   TempDir d; write_tiny_cifar(d.path.string(), 13, 20);   // 65 train + 20 test images
#include <cstdint>
#include <fstream>
#include <string>

namespace gpunet::clitest {

/// Writes `per_file` random records into each of the five training files and `test` into the
/// test file (labels cycle 0..9; pixels from a fixed LCG, or all `constant` when >= 0).
inline void write_tiny_cifar(const std::string& dir, int per_file, int test, int constant = -1) {
  uint32_t state = 12345;
  auto write = [&](const std::string& name, int n) {
    std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < n; ++i) {
      out.put(static_cast<char>(i % 10));
      for (int p = 0; p < 3072; ++p) {
        state = state * 1664525u + 1013904223u;
        out.put(static_cast<char>(constant >= 0 ? constant : static_cast<int>(state >> 24)));
      }
    }
  };
  for (int f = 1; f <= 5; ++f) write("data_batch_" + std::to_string(f) + ".bin", per_file);
  write("test_batch.bin", test);
  std::ofstream meta(dir + "/batches.meta.txt", std::ios::trunc);
  for (const char* c : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"})
    meta << c << "\n";
}

}  // namespace gpunet::clitest
