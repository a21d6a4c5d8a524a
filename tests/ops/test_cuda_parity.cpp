// CUDA vs CPU: every op of include/gpunet/ops.h, forward and backward, on cuda:0 against the
// CPU twins on random inputs (atol 1e-5, rtol 1e-4 unless a comment says why), plus the CUDA
// kernels no op reaches directly (optimizer steps, the batch kernel, dtype conversion, fill).
// conv2d is compared with the plain reference (kernels::cpu::reference), not with the CPU twin,
// whose float paths are AVX kernels. Before every GPU op and backward, the allocator's cache is
// poisoned with NaN blocks of the sizes about to be asked for (ops/cuda_check.h), so an output
// element a kernel leaves unwritten fails the comparison. The shape sweep beyond LeNet's is
// tests/ops/test_cuda_sweep.cpp. Every test skips (with the reason) where no GPU is usable; the
// file compiles in every build.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/ops.h"
#include "kernels/conv2d.h"
#include "ops/cuda_check.h"
#include "support/assert_close.h"
#include "support/gpu.h"

#if GPUNET_HAVE_CUDA
#include "kernels/batch.h"
#include "kernels/copy.h"
#include "kernels/elementwise.h"
#include "kernels/optim.h"
#endif

namespace gpunet {
namespace {

const Device kGpu = Device::cuda(0);
using Inputs = std::vector<Tensor>;
using Op = std::function<Tensor(const Inputs&)>;

Tensor rand_cpu(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Generator g(seed);
  return Tensor::uniform(s, lo, hi, g);
}

Tensor labels_cpu(int64_t n, int64_t classes, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> v(n);
  for (auto& t : v) t = static_cast<int64_t>(g.randint(classes));
  return Tensor::from_vector(v, {n});
}

struct Tol {
  double atol = 1e-5, rtol = 1e-4;
};

// Runs `op` on CPU copies and on cuda:0 copies of `inputs`; compares the outputs and, when some
// input has grad[i], the gradients after a backward seeded with the same random upstream gradient.
void check_parity(const char* name, const Inputs& inputs, const std::vector<bool>& grad, const Op& op, Tol out_tol = {},
                  Tol grad_tol = {}) {
  SCOPED_TRACE(name);
  Inputs a, b;
  bool any_grad = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    a.push_back(inputs[i].clone());
    b.push_back(inputs[i].to(kGpu));
    if (i < grad.size() && grad[i]) {
      a.back().requires_grad_();
      b.back().requires_grad_();
      any_grad = true;
    }
  }
  Tensor ya = op(a);
  std::vector<int64_t> sizes{ya.numel()};
  for (const Tensor& t : inputs) sizes.push_back(t.numel());
  test::poison_gpu_cache(sizes);
  Tensor yb = op(b);
  ASSERT_EQ(yb.device(), kGpu);
  ASSERT_EQ(yb.shape(), ya.shape());
  test::expect_match(std::string(name) + ": output", test::read_back(yb), test::read_back(ya), out_tol.atol,
                     out_tol.rtol);
  if (!any_grad) return;
  const Tensor up = rand_cpu(ya.shape(), 977);
  ya.backward(up);
  const Tensor up_gpu = up.to(kGpu);
  test::poison_gpu_cache(sizes);
  yb.backward(up_gpu);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!(i < grad.size() && grad[i])) continue;
    SCOPED_TRACE(testing::Message() << "gradient of input " << i);
    ASSERT_TRUE(b[i].grad().defined());
    EXPECT_EQ(b[i].grad().device(), kGpu);
    test::expect_match(std::string(name) + ": gradient of input " + std::to_string(i), test::read_back(b[i].grad()),
                       test::read_back(a[i].grad()), grad_tol.atol, grad_tol.rtol);
  }
}

TEST(CudaParity, Elementwise) {
  GPUNET_REQUIRE_GPU();
  const Tensor x = rand_cpu({3, 5, 7}, 1), y = rand_cpu({3, 5, 7}, 2), s = rand_cpu({1}, 3);
  check_parity("add", {x, y}, {true, true}, [](const Inputs& t) { return ops::add(t[0], t[1]); });
  check_parity("sub", {x, y}, {true, true}, [](const Inputs& t) { return ops::sub(t[0], t[1]); });
  check_parity("mul", {x, y}, {true, true}, [](const Inputs& t) { return ops::mul(t[0], t[1]); });
  check_parity("add scalar tensor", {x, s}, {true, true}, [](const Inputs& t) { return ops::add(t[0], t[1]); });
  check_parity("sub scalar tensor", {x, s}, {true, true}, [](const Inputs& t) { return ops::sub(t[0], t[1]); });
  check_parity("mul scalar tensor", {x, s}, {true, true}, [](const Inputs& t) { return ops::mul(t[0], t[1]); });
  check_parity("mul double", {x}, {true}, [](const Inputs& t) { return ops::mul(t[0], -2.5); });
  check_parity("add double", {x}, {true}, [](const Inputs& t) { return ops::add(t[0], 0.75); });
  check_parity("neg", {x}, {true}, [](const Inputs& t) { return ops::neg(t[0]); });
  check_parity("relu", {x}, {true}, [](const Inputs& t) { return ops::relu(t[0]); });
}

TEST(CudaParity, Reductions) {
  GPUNET_REQUIRE_GPU();
  // Large enough for many partial sums; both sides accumulate in double, so 1e-5 holds.
  const Tensor big = rand_cpu({1000003}, 4), small = rand_cpu({2, 3}, 5);
  check_parity("sum", {big}, {true}, [](const Inputs& t) { return ops::sum(t[0]); });
  check_parity("mean", {big}, {true}, [](const Inputs& t) { return ops::mean(t[0]); });
  check_parity("sum small", {small}, {true}, [](const Inputs& t) { return ops::sum(t[0]); });
  check_parity("sum empty", {Tensor::zeros({0})}, {}, [](const Inputs& t) { return ops::sum(t[0]); });

  const Tensor logits = rand_cpu({257, 10}, 6);
  const auto want = ops::argmax(logits, 1).to_vector<int64_t>();
  EXPECT_EQ(ops::argmax(logits.to(kGpu), 1).to_vector<int64_t>(), want);
  EXPECT_EQ(ops::argmax(logits.to(kGpu), -1).to_vector<int64_t>(), want);
  // Ties: the first maximum wins; a NaN counts as the maximum.
  const Tensor ties = Tensor::from_vector<float>({1, 3, 3, 0, 2, NAN, 5, NAN}, {2, 4});
  EXPECT_EQ(ops::argmax(ties.to(kGpu), 1).to_vector<int64_t>(), ops::argmax(ties, 1).to_vector<int64_t>());

  const Tensor l1 = labels_cpu(1000, 10, 7), l2 = labels_cpu(1000, 10, 8);
  EXPECT_EQ(ops::eq(l1.to(kGpu), l2.to(kGpu)).to_vector<int64_t>(), ops::eq(l1, l2).to_vector<int64_t>());

  EXPECT_TRUE(ops::all_finite(big.to(kGpu)));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> v = small.to_vector<float>();
    v[4] = bad;
    EXPECT_FALSE(ops::all_finite(Tensor::from_vector(v, {2, 3}, kGpu)));
  }
}

// conv2d on cuda:0 (forward, then backward with a random upstream gradient) against the plain
// reference in double on the same float inputs. Tolerance: atol 1e-5 * sqrt(terms) + rtol 1e-5,
// terms being the products each output sums (cuDNN's order differs from the reference's).
void check_conv_reference(const char* name, const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad) {
  SCOPED_TRACE(name);
  kernels::Conv2dShape s{};
  s.N = static_cast<int>(x.size(0)), s.IC = static_cast<int>(x.size(1)), s.H = static_cast<int>(x.size(2));
  s.W = static_cast<int>(x.size(3)), s.OC = static_cast<int>(w.size(0)), s.KH = static_cast<int>(w.size(2));
  s.KW = static_cast<int>(w.size(3)), s.stride = stride, s.pad = pad;
  s.OH = (s.H + 2 * pad - s.KH) / stride + 1, s.OW = (s.W + 2 * pad - s.KW) / stride + 1;
  auto dbl = [](const Tensor& t) { return t.defined() ? t.to(DType::Float64).to_vector<double>() : std::vector<double>(); };
  const auto xd = dbl(x), wd = dbl(w), bd = dbl(b);
  const Tensor upstream = rand_cpu({s.N, s.OC, s.OH, s.OW}, 978);
  const auto dd = dbl(upstream);
  std::vector<double> out(upstream.numel()), dx(x.numel()), dw(w.numel()), db(s.OC);
  kernels::cpu::reference::conv2d_forward<double>(s, xd.data(), wd.data(), b.defined() ? bd.data() : nullptr,
                                                  out.data());
  kernels::cpu::reference::conv2d_backward<double>(s, xd.data(), wd.data(), dd.data(), dx.data(), dw.data(),
                                                   db.data());
  const Tensor xg = x.to(kGpu).requires_grad_(), wg = w.to(kGpu).requires_grad_();
  const Tensor bg = b.defined() ? b.to(kGpu).requires_grad_() : Tensor();
  const std::vector<int64_t> sizes{upstream.numel(), x.numel(), w.numel(), s.OC};
  test::poison_gpu_cache(sizes);
  Tensor y = ops::conv2d(xg, wg, bg, stride, pad);
  const double P = static_cast<double>(s.OH) * s.OW;
  auto tol = [](double terms) { return 1e-5 * std::sqrt(std::max(terms, 1.0)); };
  const std::string n = name;
  test::expect_match(n + ": output", test::read_back(y), out, tol(s.IC * s.KH * s.KW + 1), 1e-5);
  const Tensor up_gpu = upstream.to(kGpu);
  test::poison_gpu_cache(sizes);
  y.backward(up_gpu);
  test::expect_match(n + ": dx", test::read_back(xg.grad()), dx, tol(s.OC * s.KH * s.KW), 1e-5);
  test::expect_match(n + ": dw", test::read_back(wg.grad()), dw, tol(s.N * P), 1e-5);
  if (b.defined()) test::expect_match(n + ": db", test::read_back(bg.grad()), db, tol(s.N * P), 1e-5);
}

TEST(CudaParity, Conv2d) {
  GPUNET_REQUIRE_GPU();
  check_conv_reference("conv1 (LeNet)", rand_cpu({4, 3, 32, 32}, 10), rand_cpu({6, 3, 5, 5}, 11), rand_cpu({6}, 12),
                       1, 0);
  check_conv_reference("conv2 (LeNet)", rand_cpu({4, 6, 14, 14}, 13), rand_cpu({16, 6, 5, 5}, 14),
                       rand_cpu({16}, 15), 1, 0);
  check_conv_reference("stride 2, padding 1, no bias", rand_cpu({2, 4, 9, 11}, 16), rand_cpu({5, 4, 3, 3}, 17),
                       Tensor(), 2, 1);
  // The same shape again reuses the cached plan and gives the same bits (deterministic algorithms).
  const Tensor x = rand_cpu({4, 3, 32, 32}, 10).to(kGpu);
  std::vector<float> first_dw;
  for (int rep = 0; rep < 2; ++rep) {
    const Tensor w = rand_cpu({6, 3, 5, 5}, 11).to(kGpu).requires_grad_();
    ops::sum(ops::conv2d(x, w, Tensor())).backward();
    const auto dw = w.grad().to_vector<float>();
    if (rep == 0) first_dw = dw;
    else EXPECT_EQ(std::memcmp(dw.data(), first_dw.data(), dw.size() * sizeof(float)), 0) << "not deterministic";
  }
}

TEST(CudaParity, MaxPool2d) {
  GPUNET_REQUIRE_GPU();
  check_parity("2x2 (LeNet)", {rand_cpu({4, 6, 28, 28}, 20)}, {true},
               [](const Inputs& t) { return ops::max_pool2d(t[0], 2); });
  check_parity("3x3 stride 2, overlapping, odd size", {rand_cpu({2, 3, 11, 9}, 21)}, {true},
               [](const Inputs& t) { return ops::max_pool2d(t[0], 3, 2); });
  // Ties and NaNs pick the same element as the CPU (a repeated value: the first; NaN wins).
  const Tensor ties = Tensor::from_vector<float>({1, 1, 1, 1, 2, NAN, 7, 2, 0, 0, 3, 3, 4, 4, 4, 4}, {1, 1, 4, 4});
  check_parity("ties and NaN", {ties}, {true}, [](const Inputs& t) { return ops::max_pool2d(t[0], 2); });
}

TEST(CudaParity, LinearAndShapes) {
  GPUNET_REQUIRE_GPU();
  const Op lin = [](const Inputs& t) { return ops::linear(t[0], t[1], t[2]); };
  check_parity("fc1 (LeNet)", {rand_cpu({4, 400}, 30), rand_cpu({120, 400}, 31), rand_cpu({120}, 32)},
               {true, true, true}, lin);
  check_parity("fc3 (LeNet), batch 64", {rand_cpu({64, 84}, 33), rand_cpu({10, 84}, 34), rand_cpu({10}, 35)},
               {true, true, true}, lin);
  check_parity("no bias", {rand_cpu({5, 7}, 36), rand_cpu({3, 7}, 37)}, {true, true},
               [](const Inputs& t) { return ops::linear(t[0], t[1], Tensor()); });
  check_parity("flatten", {rand_cpu({4, 16, 5, 5}, 38)}, {true}, [](const Inputs& t) { return ops::flatten(t[0], 1); });
  check_parity("reshape", {rand_cpu({4, 6}, 39)}, {true}, [](const Inputs& t) { return ops::reshape(t[0], {3, -1}); });
}

TEST(CudaParity, SoftmaxAndLosses) {
  GPUNET_REQUIRE_GPU();
  for (int64_t N : {1, 4, 300}) {
    for (int64_t C : {10, 37}) {
      SCOPED_TRACE(testing::Message() << "N " << N << ", C " << C);
      const Tensor logits = rand_cpu({N, C}, 40 + N + C, -4.f, 4.f);
      const Tensor target = labels_cpu(N, C, 50 + N);
      check_parity("log_softmax", {logits}, {true}, [](const Inputs& t) { return ops::log_softmax(t[0]); });
      check_parity("softmax", {logits}, {}, [](const Inputs& t) { return ops::softmax(t[0]); });
      check_parity("nll_loss(log_softmax)", {logits, target}, {true, false},
                   [](const Inputs& t) { return ops::nll_loss(ops::log_softmax(t[0]), t[1]); });
      check_parity("cross_entropy", {logits, target}, {true, false},
                   [](const Inputs& t) { return ops::cross_entropy(t[0], t[1]); });
    }
  }
  // The fused loss is reduced without atomics: the same input gives the same bits.
  const Tensor logits = rand_cpu({300, 10}, 60).to(kGpu), target = labels_cpu(300, 10, 61).to(kGpu);
  const double l1 = ops::cross_entropy(logits, target).item(), l2 = ops::cross_entropy(logits, target).item();
  EXPECT_EQ(std::memcmp(&l1, &l2, sizeof l1), 0);
}

TEST(CudaParity, TwoBackwardCallsAccumulateOnTheGpu) {
  GPUNET_REQUIRE_GPU();
  const Tensor x = rand_cpu({4, 8}, 70).to(kGpu).requires_grad_();
  const Tensor w = rand_cpu({3, 8}, 71).to(kGpu).requires_grad_();
  ops::sum(ops::relu(ops::linear(x, w, Tensor()))).backward();
  const auto once = w.grad().to_vector<float>();
  ops::sum(ops::relu(ops::linear(x, w, Tensor()))).backward();
  std::vector<float> twice_expected(once);
  for (auto& v : twice_expected) v *= 2.f;
  EXPECT_ALL_CLOSE(w.grad().to_vector<float>(), twice_expected, 1e-6, 1e-6);
}

#if GPUNET_HAVE_CUDA
// Kernels no op front end reaches: called directly on device buffers, against the CPU twins.
TEST(CudaParity, OptimizerKernels) {
  GPUNET_REQUIRE_GPU();
  const int64_t n = 10007;
  const Tensor p0 = rand_cpu({n}, 80), g0 = rand_cpu({n}, 81), buf0 = rand_cpu({n}, 82);
  const Tensor v0 = rand_cpu({n}, 83, 0.f, 1.f);
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE(testing::Message() << "sgd variant " << variant);
    kernels::SgdParams h{variant == 0 ? 0.f : 0.9f, variant == 3 ? 0.1f : 0.f, variant >= 2 ? 5e-4f : 0.f,
                         variant == 2};
    // steps completed (0: the first step), then lr: on the host for the CPU twin, on the GPU for CUDA.
    const Tensor sc = Tensor::from_vector<double>({variant == 1 ? 0.0 : 3.0, 0.01}, {2}), sg = sc.to(kGpu);
    Tensor pc = p0.clone(), bc = buf0.clone();
    Tensor pg = p0.to(kGpu), bg = buf0.to(kGpu), gg = g0.to(kGpu);
    kernels::cpu::sgd_step<float>(n, h, sc.data<double>() + 1, sc.data<double>(), pc.data<float>(), g0.data<float>(),
                                  bc.data<float>());
    kernels::cuda::sgd_step(n, h, sg.data<double>() + 1, sg.data<double>(), pg.data<float>(), gg.data<float>(),
                            bg.data<float>());
    EXPECT_ALL_CLOSE(pg, pc, 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(bg, bc, 1e-6, 1e-5);
  }
  for (int decoupled = 0; decoupled < 2; ++decoupled) {
    SCOPED_TRACE(testing::Message() << "adam, decoupled " << decoupled);
    kernels::AdamParams h{0.9f, 0.999f, 1e-8f, 1e-2f, decoupled == 1};
    // steps completed (1: this is step 2), then group 0: lr and the bias corrections, written
    // on each side by its twin of adam_bias_corrections.
    Tensor sc = Tensor::from_vector<double>({1.0, 1e-3, -1.0, -1.0}, {4}), sg = sc.to(kGpu);
    kernels::cpu::adam_bias_corrections(0.9, 0.999, sc.data<double>(), sc.data<double>() + 1);
    kernels::cuda::adam_bias_corrections(0.9, 0.999, sg.data<double>(), sg.data<double>() + 1);
    EXPECT_ALL_CLOSE(sg, sc, 0.0, 1e-15);
    Tensor pc = p0.clone(), mc = buf0.clone(), vc = v0.clone();
    Tensor pg = p0.to(kGpu), mg = buf0.to(kGpu), vg = v0.to(kGpu), gg = g0.to(kGpu);
    kernels::cpu::adam_step<float>(n, h, sc.data<double>() + 1, pc.data<float>(), g0.data<float>(), mc.data<float>(),
                                   vc.data<float>());
    kernels::cuda::adam_step(n, h, sg.data<double>() + 1, pg.data<float>(), gg.data<float>(), mg.data<float>(),
                             vg.data<float>());
    EXPECT_ALL_CLOSE(pg, pc, 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(mg, mc, 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(vg, vc, 1e-6, 1e-5);
  }
}

TEST(CudaParity, BatchKernelIsBitIdentical) {
  GPUNET_REQUIRE_GPU();
  const int M = 50, B = 17, C = 3, H = 32, W = 32;
  Generator gen(90);
  std::vector<uint8_t> images(static_cast<size_t>(M) * C * H * W), labels(M);
  for (auto& v : images) v = static_cast<uint8_t>(gen.randint(256));
  for (auto& v : labels) v = static_cast<uint8_t>(gen.randint(10));
  std::vector<int64_t> idx(B);
  for (auto& v : idx) v = static_cast<int64_t>(gen.randint(M));
  const Tensor img_g = Tensor::from_vector(images, {M, C, H, W}, kGpu), lab_g = Tensor::from_vector(labels, {M}, kGpu);
  const Tensor idx_g = Tensor::from_vector(idx, {B}, kGpu);
  for (int aug = 0; aug < 2; ++aug) {
    SCOPED_TRACE(testing::Message() << "augment " << aug);
    kernels::BatchParams p{C, H, W, {0.5f, 0.4f, 0.3f, 0.f}, {0.2f, 0.25f, 0.3f, 1.f}, aug ? 4 : 0, aug == 1,
                           1234, 3, 4096};
    std::vector<float> xc(static_cast<size_t>(B) * C * H * W);
    std::vector<int64_t> yc(B);
    kernels::cpu::gather_batch(p, B, images.data(), labels.data(), idx.data(), xc.data(), yc.data());
    Tensor xg = Tensor::full({B, C, H, W}, NAN, DType::Float32, kGpu);  // poisoned
    Tensor yg = Tensor::full({B}, -1, DType::Int64, kGpu);
    kernels::cuda::gather_batch(p, B, img_g.data<uint8_t>(), lab_g.data<uint8_t>(), idx_g.data<int64_t>(),
                                xg.data<float>(), yg.data<int64_t>());
    const auto xv = xg.to_vector<float>();
    EXPECT_EQ(std::memcmp(xv.data(), xc.data(), xc.size() * sizeof(float)), 0) << "batches differ";
    EXPECT_EQ(yg.to_vector<int64_t>(), yc);
  }
}

TEST(CudaParity, ConvertFillAndAxpyKernels) {
  GPUNET_REQUIRE_GPU();
  const std::vector<float> src{-3.75f, -1.f, 0.f, 0.5f, 2.25f, 7.f, 200.f, 255.f};
  const Tensor s = Tensor::from_vector(src, {8}, kGpu);
  const DType kinds[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32};
  for (DType d : kinds) {
    SCOPED_TRACE(dtype_name(d));
    const Tensor to = Tensor::full({8}, 77, d, kGpu);  // poisoned: 77 is none of the converted values
    kernels::cuda::convert(8, static_cast<int>(DType::Float32), s.data<float>(), static_cast<int>(d), to.raw_data());
    const Tensor back = test::poisoned_on_gpu(8);
    kernels::cuda::convert(8, static_cast<int>(d), to.raw_data(), static_cast<int>(DType::Float32), back.raw_data());
    // The CPU twin's round trip: float32 -> d -> float32 (truncation toward zero for integers).
    std::vector<unsigned char> raw(8 * dtype_size(d));
    kernels::cpu::convert(8, static_cast<int>(DType::Float32), src.data(), static_cast<int>(d), raw.data());
    std::vector<float> round(8);
    kernels::cpu::convert(8, static_cast<int>(d), raw.data(), static_cast<int>(DType::Float32), round.data());
    EXPECT_ALL_CLOSE(back.to_vector<float>(), round, 0.0, 0.0);
  }
  const int64_t v8 = -123456789012345;
  Tensor f8 = Tensor::empty({1000}, DType::Int64, kGpu);
  kernels::cuda::fill_bytes(1000, 8, &v8, f8.raw_data());
  EXPECT_EQ(f8.to_vector<int64_t>(), std::vector<int64_t>(1000, v8));
  const uint8_t v1 = 201;
  Tensor f1 = Tensor::empty({999}, DType::UInt8, kGpu);
  kernels::cuda::fill_bytes(999, 1, &v1, f1.raw_data());
  EXPECT_EQ(f1.to_vector<uint8_t>(), std::vector<uint8_t>(999, v1));

  const Tensor x = rand_cpu({5000}, 95), y = rand_cpu({5000}, 96);
  Tensor yc = y.clone(), yg = y.to(kGpu);
  const Tensor xg = x.to(kGpu);
  kernels::cpu::axpy<float>(5000, 0.3f, x.data<float>(), yc.data<float>());
  kernels::cuda::axpy(5000, 0.3f, xg.data<float>(), yg.data<float>());
  EXPECT_ALL_CLOSE(yg, yc, 1e-6, 1e-6);
}
#endif

}  // namespace
}  // namespace gpunet
