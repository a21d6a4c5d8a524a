// Layering rule of issue 11: only src/ops/ and src/optim/ call kernels. The Tensor (src/core/)
// and the autograd engine (src/autograd/) reach them through ops front ends (ops/copy.h), so
// neither includes a kernels/ header nor names kernels::. src/core/device.cpp's CPU ISA query
// is the one exception (it reports which CPU kernels run). And the engine is the only place
// that accumulates into .grad: nothing else in src/ calls ops::detail::accumulate_.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Layering, CoreAndAutogradCallNoKernels) {
  const fs::path root = fs::path(GPUNET_SOURCE_DIR) / "src";
  int files = 0;
  for (const char* dir : {"core", "autograd"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      const fs::path rel = fs::relative(entry.path(), root);
      if (rel == fs::path("core/device.cpp")) continue;
      const std::string text = read(entry.path());
      ++files;
      EXPECT_EQ(text.find("#include \"kernels/"), std::string::npos) << rel << " includes a kernels/ header";
      EXPECT_EQ(text.find("kernels::"), std::string::npos) << rel << " calls kernels:: directly";
    }
  }
  EXPECT_GT(files, 5);
}

TEST(Layering, OnlyTheEngineAccumulatesIntoGrad) {
  const fs::path root = fs::path(GPUNET_SOURCE_DIR) / "src";
  int callers = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const fs::path rel = fs::relative(entry.path(), root);
    if (rel == fs::path("ops/copy.h") || rel == fs::path("ops/copy.cpp")) continue;  // its declaration and definition
    if (read(entry.path()).find("accumulate_(") == std::string::npos) continue;
    EXPECT_EQ(rel, fs::path("autograd/engine.cpp")) << rel << " accumulates into a gradient";
    ++callers;
  }
  EXPECT_EQ(callers, 1);
}

}  // namespace
