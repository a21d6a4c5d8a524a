// Capture guards: inside an open CUDA graph capture, every host<->device copy and every
// synchronising call (Tensor::item, cpu(), to_vector, copy_ from the host, from_blob,
// cuda::synchronize) throws gpunet::Error naming the call, instead of recording a copy of stale
// host data; the capture then closes cleanly (Graph::capture ends it and rethrows) and the
// device works on. Copies on one GPU and kernels are allowed inside, and replay correctly.
// GPU only (skipped here without one).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "gpunet/config.h"
#include "gpunet/device.h"
#include "gpunet/ops.h"
#include "gpunet/tensor.h"
#include "support/gpu.h"
#if GPUNET_HAVE_CUDA
#include "core/cuda/graph.h"
#endif

namespace gpunet {
namespace {

#if GPUNET_HAVE_CUDA
// Captures `body`, expecting it to throw gpunet::Error whose message holds `call` and the
// capture; then checks that the device is usable (no capture left open, no sticky error).
void expect_refused(const char* call, const std::function<void()>& body) {
  SCOPED_TRACE(call);
  cuda::detail::Graph g(0);
  try {
    g.capture(body);
    ADD_FAILURE() << call << " inside a capture did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(std::string(call) + ": would ", 0), 0u) << msg;
    EXPECT_NE(msg.find("cuda:0 while a CUDA graph capture is open"), std::string::npos) << msg;
  }
  EXPECT_FALSE(g.captured());
  // The capture is closed: a synchronising call works again.
  Tensor t = Tensor::full({1}, 2.5, DType::Float32, Device::cuda(0));
  EXPECT_DOUBLE_EQ(t.item(), 2.5);
  EXPECT_NO_THROW(cuda::synchronize(0));
}
#endif

TEST(CaptureGuard, HostCopiesAndSynchronisationThrowInsideACapture) {
  GPUNET_REQUIRE_GPU();
#if GPUNET_HAVE_CUDA
  const Device gpu = Device::cuda(0);
  Tensor d = Tensor::full({4}, 1.0, DType::Float32, gpu);
  Tensor h = Tensor::full({4}, 3.0);
  Tensor one = Tensor::full({1}, 1.0, DType::Float32, gpu);
  expect_refused("Tensor::item", [&] { (void)one.item(); });
  expect_refused("Tensor::copy_", [&] { d.copy_(h); });                 // host -> device
  expect_refused("Tensor::copy_", [&] { h.copy_(d); });                 // device -> host
  expect_refused("Tensor::cpu", [&] { (void)d.cpu(); });
  expect_refused("Tensor::to_vector", [&] { (void)d.to_vector<float>(); });
  expect_refused("Tensor::from_blob", [&] { (void)Tensor::from_vector<float>({1, 2}, {2}, gpu); });
  expect_refused("cuda::synchronize", [&] { cuda::synchronize(0); });
  EXPECT_EQ(d.to_vector<float>(), (std::vector<float>{1, 1, 1, 1}));  // nothing was recorded into d
#endif
}

TEST(CaptureGuard, DeviceCopiesAreCapturedAndReplayed) {
  GPUNET_REQUIRE_GPU();
#if GPUNET_HAVE_CUDA
  const Device gpu = Device::cuda(0);
  Tensor src = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3}, gpu);
  Tensor dst = Tensor::full({2, 3}, -1.0, DType::Float32, gpu);
  Tensor col = Tensor::full({2, 2}, -1.0, DType::Float32, gpu);
  { Tensor warm = Tensor::empty({2, 1}, DType::Float32, gpu); }  // fill_'s scratch block comes from the cache
  cuda::detail::Graph g(0);
  g.capture([&] {
    dst.copy_(src);                             // device -> device
    col.copy_(src.narrow(1, 1, 2));             // a strided gather on the device
    dst.narrow(1, 0, 1).fill_(9);               // a strided fill
  });
  ASSERT_TRUE(g.captured());
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>(6, -1.0f)));  // captured, not run
  g.launch();
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{9, 1, 2, 9, 4, 5}));
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
#endif
}

}  // namespace
}  // namespace gpunet
