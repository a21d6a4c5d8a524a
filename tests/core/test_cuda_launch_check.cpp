// Runs tools/check_kernel_launches.sh over src/ (every build, GPU or not): every CUDA kernel
// launch must be followed by GPUNET_KERNEL_CHECK(). Also checks that the checker itself
// catches an unchecked launch.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct CheckerRun {
  int status = -1;
  std::string output;
};

CheckerRun run_checker(const std::string& dir) {
  const fs::path log = fs::temp_directory_path() / ("gpunet_klc_" + std::to_string(::getpid()) + ".log");
  const std::string cmd = std::string("bash '") + GPUNET_SOURCE_DIR + "/tools/check_kernel_launches.sh' '" + dir +
                          "' > '" + log.string() + "' 2>&1";
  CheckerRun r;
  const int raw = std::system(cmd.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  fs::remove(log);
  return r;
}

TEST(CudaLaunchCheck, EveryLaunchInSrcIsChecked) {
  const CheckerRun r = run_checker(std::string(GPUNET_SOURCE_DIR) + "/src");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("all checked"), std::string::npos) << r.output;
}

TEST(CudaLaunchCheck, CheckerFindsAnUncheckedLaunch) {
  const fs::path dir = fs::temp_directory_path() / ("gpunet_klc_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "bad.cu");
    f << "void f(float* p) {\n  k<<<1, 1>>>(p);\n  a();\n  b();\n  GPUNET_KERNEL_CHECK();\n}\n";
    std::ofstream g(dir / "good.cu");
    g << "void g(float* p) {\n  k<<<1, 1, 0, s>>>(\n      p);\n  GPUNET_KERNEL_CHECK();\n}\n// k<<<1, 1>>> in a comment\n";
  }
  const CheckerRun r = run_checker(dir.string());
  fs::remove_all(dir);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("bad.cu:2:"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("good.cu"), std::string::npos) << r.output;
}

}  // namespace
