// The CUDA runtime layer that must work on every machine: device probing never throws (CI has
// the CUDA libraries but no driver), the version line, the error messages of the check
// macros, and the allocator's size classes. Tests needing a GPU are in tests/ops/test_cuda_parity.cpp.
#include <gtest/gtest.h>

#include <string>

#include "gpunet/config.h"
#include "gpunet/device.h"
#include "gpunet/error.h"
#include "support/gpu.h"

#if GPUNET_HAVE_CUDA
#include "core/cuda/allocator.h"
#include "core/cuda/context.h"
#endif

namespace {

TEST(CudaRuntime, ProbingNeverThrows) {
  int n = -1;
  EXPECT_NO_THROW(n = gpunet::cuda::device_count());
  EXPECT_GE(n, 0);
  const std::string reason = gpunet::cuda::unavailable_reason();
  if (n == 0) {
    EXPECT_FALSE(reason.empty()) << "no GPU, but no reason given";
    EXPECT_FALSE(gpunet::cuda::is_available());
    EXPECT_EQ(gpunet::cuda::device_name(0), "");
    EXPECT_NO_THROW(gpunet::cuda::synchronize(0));
  } else {
    EXPECT_EQ(reason, "");
    EXPECT_NE(gpunet::cuda::device_name(0), "");
    EXPECT_EQ(gpunet::cuda::device_name(n), "");
    EXPECT_NO_THROW(gpunet::cuda::synchronize(0));
  }
  EXPECT_EQ(gpunet::cuda::device_name(-1), "");
}

TEST(CudaRuntime, CompiledMatchesTheBuild) {
  EXPECT_EQ(gpunet::cuda::compiled(), GPUNET_HAVE_CUDA != 0);
  const std::string v = gpunet::cuda::version_string();
  if (GPUNET_HAVE_CUDA) {
    EXPECT_NE(v.find("CUDA runtime "), std::string::npos) << v;
    EXPECT_NE(v.find("cuBLAS "), std::string::npos) << v;
    EXPECT_NE(v.find("cuDNN 9."), std::string::npos) << v;
    EXPECT_EQ(v.find('\n'), std::string::npos) << v;
  } else {
    EXPECT_EQ(v, "");
  }
}

#if GPUNET_HAVE_CUDA
namespace cd = gpunet::cuda::detail;

TEST(CudaRuntime, CheckMacroThrowsOneLineNamingStatementAndPlace) {
  try {
    GPUNET_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "no throw";
  } catch (const gpunet::OutOfMemoryError&) {
    FAIL() << "an invalid value is no OOM";
  } catch (const gpunet::CudaError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("CUDA error in cudaErrorInvalidValue at tests/core/test_cuda_runtime.cpp:", 0), 0u) << m;
    EXPECT_NE(m.find(" on cuda:"), std::string::npos) << m;
    EXPECT_NE(m.find(cudaGetErrorString(cudaErrorInvalidValue)), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(CudaRuntime, AllocationFailureIsOutOfMemory) {
  EXPECT_THROW(GPUNET_CUDA_CHECK(cudaErrorMemoryAllocation), gpunet::OutOfMemoryError);
}

TEST(CudaRuntime, LibraryChecksThrowCudaError) {
  try {
    GPUNET_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE);
    FAIL() << "no throw";
  } catch (const gpunet::CudaError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cuBLAS error in CUBLAS_STATUS_INVALID_VALUE at tests/core/", 0), 0u)
        << e.what();
  }
  try {
    GPUNET_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM);
    FAIL() << "no throw";
  } catch (const gpunet::CudaError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("cuDNN error in CUDNN_STATUS_BAD_PARAM at tests/core/", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(CudaRuntime, AllocatorSizeClasses) {
  EXPECT_EQ(cd::round_size(0), 512u);
  EXPECT_EQ(cd::round_size(1), 512u);
  EXPECT_EQ(cd::round_size(512), 512u);
  EXPECT_EQ(cd::round_size(513), 1024u);
  EXPECT_EQ(cd::round_size((1u << 20) - 1), 1u << 20);
  EXPECT_EQ(cd::round_size(1u << 20), 2u << 20);
  EXPECT_EQ(cd::round_size((2u << 20) + 1), 4u << 20);
}

TEST(CudaRuntime, StatsOfAnUnusedDeviceAreZero) {
  // Reading the statistics touches no CUDA call, so it works without a GPU too.
  const gpunet::memory::Stats s = cd::memory_stats(7);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.reserved, 0u);
  EXPECT_EQ(s.system_allocs, 0u);
}
#endif

}  // namespace
