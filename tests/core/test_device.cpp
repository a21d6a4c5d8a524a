#include <gtest/gtest.h>

#include "gpunet/gpunet.h"

using namespace gpunet;

TEST(Device, Parses) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:0"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3").index(), 3);
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  EXPECT_EQ(Device::cpu().str(), "cpu");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "CPU", "", "cuda:-1", "cuda:0:1"}) {
    try {
      Device::parse(bad);
      FAIL() << "parsed '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("use cpu, cuda or cuda:N"), std::string::npos) << e.what();
    }
  }
}

TEST(Device, BestFallsBackToCpuWithoutGpu) {
  if (cuda::is_available()) {
    EXPECT_EQ(Device::best(), Device::cuda(0));
  } else {
    EXPECT_EQ(Device::best(), Device::cpu());
    EXPECT_FALSE(cuda::unavailable_reason().empty());
  }
}

TEST(Device, UnavailableGpuIsAClearError) {
  Device::cpu().check_available();
  const int n = cuda::device_count();
  try {
    Device::cuda(n).check_available();  // one past the last GPU
    FAIL() << "cuda:" << n << " accepted";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cuda:" + std::to_string(n)), std::string::npos) << m;
    EXPECT_NE(m.find("--device cpu"), std::string::npos) << m;
    if (!cuda::compiled()) EXPECT_NE(m.find("CPU-only build"), std::string::npos) << m;
  }
}
