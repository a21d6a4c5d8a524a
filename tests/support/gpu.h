#pragma once
// GPUNET_REQUIRE_GPU(): skip the current test (with the reason) when no GPU is usable here.
#include <gtest/gtest.h>

#include "gpunet/device.h"

#define GPUNET_REQUIRE_GPU()                                                                     \
  do {                                                                                           \
    if (!::gpunet::cuda::is_available())                                                         \
      GTEST_SKIP() << "no usable GPU: " << ::gpunet::cuda::unavailable_reason();                 \
  } while (0)
