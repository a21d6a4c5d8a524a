// Layering rule of issue 11: only src/ops/ and src/optim/ call kernels. The Tensor (src/core/)
// and the autograd engine (src/autograd/) reach them through ops front ends (ops/copy.h), so
// neither includes a kernels/ header nor names kernels::. src/core/device.cpp's CPU ISA query
// is the one exception (it reports which CPU kernels run).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

TEST(Layering, CoreAndAutogradCallNoKernels) {
  const fs::path root = fs::path(GPUNET_SOURCE_DIR) / "src";
  int files = 0;
  for (const char* dir : {"core", "autograd"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      const fs::path rel = fs::relative(entry.path(), root);
      if (rel == fs::path("core/device.cpp")) continue;
      std::ifstream in(entry.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      ++files;
      EXPECT_EQ(text.find("#include \"kernels/"), std::string::npos) << rel << " includes a kernels/ header";
      EXPECT_EQ(text.find("kernels::"), std::string::npos) << rel << " calls kernels:: directly";
    }
  }
  EXPECT_GT(files, 5);
}

}  // namespace
