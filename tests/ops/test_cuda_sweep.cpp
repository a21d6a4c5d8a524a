// A shape sweep of the CUDA kernels in the style of ggml's test-backend-ops: every case builds
// random inputs, allocates the GPU outputs poisoned (NaN, or -7 for indices), runs the CUDA
// kernel and compares with the CPU twin (elementwise, bit for bit: both sides round each
// operation alone, -ffp-contract=off / --fmad=false) or with a plain reference in double (sums,
// gemms, convolutions). Shapes go beyond LeNet's: batch 1 and 4,096, odd sizes, more elements
// than 65,535 blocks of 256 threads cover (so grid-stride loops wrap), and non-contiguous
// inputs at the op level. Each case prints one line: its error measure, the threshold, and the
// worst element. Skips (with the reason) where no GPU is usable; compiles in every build.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/ops.h"
#include "ops/cuda_check.h"
#include "support/gpu.h"

#if GPUNET_HAVE_CUDA
#include "kernels/batch.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#endif

namespace gpunet {
namespace {

const Device kGpu = Device::cuda(0);
// Elements beyond what 65,535 blocks of 256 threads cover in one pass.
constexpr int64_t kHuge = int64_t{65535} * 256 + 4099;

template <typename T>
[[maybe_unused]] std::vector<double> as_double(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

[[maybe_unused]] std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}
[[maybe_unused]] Tensor up(const std::vector<float>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, kGpu);
}

// The tolerance of a sum of `terms` float products of values in [-1, 1]: float rounding grows
// with the term count (accumulation orders differ between cuBLAS/cuDNN and the reference).
double atol_for(int64_t terms) { return 1e-5 * std::sqrt(static_cast<double>(std::max<int64_t>(terms, 1))); }

#if GPUNET_HAVE_CUDA
namespace kc = kernels::cpu;
namespace kg = kernels::cuda;

TEST(CudaSweep, ElementwiseKernelsAreBitIdenticalToTheCpu) {
  GPUNET_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000003}, kHuge}) {
    const std::string at = " n=" + std::to_string(n);
    auto a = random_floats(n, 1), b = random_floats(n, 2);
    // At n = 7 the inputs hold a NaN and an infinity (propagated the same way on both sides);
    // the outputs are then poisoned with 1234.5 instead of NaN, so that an unwritten element
    // cannot pass as a propagated NaN.
    const bool non_finite = n == 7;
    if (non_finite) a[0] = std::nanf(""), b[1] = INFINITY;
    const Tensor ag = up(a), bg = up(b);
    auto fresh = [&] {
      return non_finite ? Tensor::full({n}, 1234.5, DType::Float32, kGpu) : test::poisoned_on_gpu(n);
    };
    std::vector<float> want(static_cast<size_t>(n));
    for (auto op : {kernels::BinaryOp::Add, kernels::BinaryOp::Sub, kernels::BinaryOp::Mul})
      for (bool scalar : {false, true}) {
        const Tensor out = fresh();
        kc::binary<float>(op, n, a.data(), b.data(), scalar, want.data());
        kg::binary(op, n, ag.data<float>(), bg.data<float>(), scalar, out.data<float>());
        test::expect_match("binary op " + std::to_string(static_cast<int>(op)) + (scalar ? " scalar" : "") + at,
                           test::read_back(out), as_double(want), 0, 0);
      }
    {
      const Tensor out = fresh();
      kc::affine<float>(n, a.data(), -2.5f, 0.3f, want.data());
      kg::affine(n, ag.data<float>(), -2.5f, 0.3f, out.data<float>());
      test::expect_match("affine" + at, test::read_back(out), as_double(want), 0, 0);
    }
    {
      std::vector<float> y = b;
      const Tensor yg = up(b);
      kc::axpy<float>(n, 0.7f, a.data(), y.data());
      kg::axpy(n, 0.7f, ag.data<float>(), yg.data<float>());
      test::expect_match("axpy" + at, test::read_back(yg), as_double(y), 0, 0);
    }
    {
      const Tensor out = fresh();
      kc::relu_forward<float>(n, a.data(), want.data());
      kg::relu_forward(n, ag.data<float>(), out.data<float>());
      test::expect_match("relu_forward" + at, test::read_back(out), as_double(want), 0, 0);
      const Tensor dx = fresh();
      kc::relu_backward<float>(n, a.data(), b.data(), want.data());
      kg::relu_backward(n, ag.data<float>(), bg.data<float>(), dx.data<float>());
      test::expect_match("relu_backward" + at, test::read_back(dx), as_double(want), 0, 0);
    }
    {
      const Tensor out = fresh();
      kc::broadcast_scalar<float>(n, b.data(), 0.25f, want.data());
      kg::broadcast_scalar(n, bg.data<float>(), 0.25f, out.data<float>());
      test::expect_match("broadcast_scalar" + at, test::read_back(out), as_double(want), 0, 0);
    }
  }
}

TEST(CudaSweep, ReductionsAndIndexKernels) {
  GPUNET_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{257}, int64_t{1000003}, kHuge}) {
    const auto x = random_floats(n, 3);
    double ref = 0;
    for (float v : x) ref += v;
    const Tensor out = test::poisoned_on_gpu(1);
    kg::sum(n, up(x).data<float>(), out.data<float>());
    // Both accumulate in double; only the final rounding to float remains.
    test::expect_match("sum n=" + std::to_string(n), test::read_back(out), {ref}, 1e-6, 1e-6);

    std::vector<float> y = x;
    int32_t flag_cpu = 0;
    Tensor flag = Tensor::zeros({1}, DType::Int32, kGpu);
    kg::nonfinite_flag(n, up(y).data<float>(), flag.data<int32_t>());
    kc::nonfinite_flag<float>(n, y.data(), &flag_cpu);
    test::expect_match("nonfinite_flag, all finite n=" + std::to_string(n), test::read_back(flag), {double(flag_cpu)},
                       0, 0);
    y.back() = -INFINITY;  // the last element: the grid-stride loop's far end
    flag = Tensor::zeros({1}, DType::Int32, kGpu);
    kg::nonfinite_flag(n, up(y).data<float>(), flag.data<int32_t>());
    kc::nonfinite_flag<float>(n, y.data(), &flag_cpu);
    EXPECT_EQ(flag_cpu, 1);
    test::expect_match("nonfinite_flag, last -inf n=" + std::to_string(n), test::read_back(flag), {double(flag_cpu)}, 0,
                       0);
  }
  struct RC {
    int64_t rows, cols;
  };
  for (const RC rc : {RC{1, 1}, RC{4096, 10}, RC{7, 1001}, RC{kHuge, 2}}) {
    auto x = random_floats(rc.rows * rc.cols, 4);
    if (rc.cols > 1) x[1] = x[0];  // a tie in row 0: the first maximum wins on both sides
    std::vector<int64_t> want(static_cast<size_t>(rc.rows));
    const Tensor out = Tensor::full({rc.rows}, -7, DType::Int64, kGpu);
    kc::argmax_rows<float>(rc.rows, rc.cols, x.data(), want.data());
    kg::argmax_rows(rc.rows, rc.cols, up(x).data<float>(), out.data<int64_t>());
    test::expect_match("argmax_rows " + std::to_string(rc.rows) + "x" + std::to_string(rc.cols), test::read_back(out),
                       as_double(want), 0, 0);
  }
  for (int64_t n : {int64_t{1}, int64_t{1000003}, kHuge}) {
    std::mt19937 rng(5);
    std::vector<int64_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = rng() % 3, b[i] = rng() % 3;
    const Tensor out = Tensor::full({n}, -7, DType::Int64, kGpu);
    kc::eq_i64(n, a.data(), b.data(), want.data());
    kg::eq_i64(n, Tensor::from_vector(a, {n}, kGpu).data<int64_t>(), Tensor::from_vector(b, {n}, kGpu).data<int64_t>(),
               out.data<int64_t>());
    test::expect_match("eq_i64 n=" + std::to_string(n), test::read_back(out), as_double(want), 0, 0);
  }
}

TEST(CudaSweep, LinearAgainstThePlainReference) {
  GPUNET_REQUIRE_GPU();
  struct S {
    int N, IN, OUT;
  };
  for (const S s : {S{1, 1, 1}, S{1, 400, 120}, S{4096, 84, 10}, S{7, 33, 65}, S{4096, 1, 3}, S{200003, 2, 3}}) {
    const std::string at =
        " N=" + std::to_string(s.N) + " IN=" + std::to_string(s.IN) + " OUT=" + std::to_string(s.OUT);
    const auto x = random_floats(int64_t{s.N} * s.IN, 10), w = random_floats(int64_t{s.OUT} * s.IN, 11),
               b = random_floats(s.OUT, 12), d = random_floats(int64_t{s.N} * s.OUT, 13);
    // The plain reference: the definition's loops in double.
    std::vector<double> out_r(d.size()), dx_r(x.size()), dw_r(w.size()), db_r(b.size());
    for (int64_t i = 0; i < s.N; ++i)
      for (int o = 0; o < s.OUT; ++o) {
        double acc = b[o];
        for (int k = 0; k < s.IN; ++k) acc += double(x[i * s.IN + k]) * w[int64_t{o} * s.IN + k];
        out_r[i * s.OUT + o] = acc;
        db_r[o] += d[i * s.OUT + o];
        for (int k = 0; k < s.IN; ++k) {
          dx_r[i * s.IN + k] += double(d[i * s.OUT + o]) * w[int64_t{o} * s.IN + k];
          dw_r[int64_t{o} * s.IN + k] += double(d[i * s.OUT + o]) * x[i * s.IN + k];
        }
      }
    const Tensor xg = up(x), wg = up(w), bg = up(b), dg = up(d);
    const Tensor out = test::poisoned_on_gpu(int64_t{s.N} * s.OUT), dx = test::poisoned_on_gpu(int64_t{s.N} * s.IN),
                 dw = test::poisoned_on_gpu(int64_t{s.OUT} * s.IN), db = test::poisoned_on_gpu(s.OUT);
    kg::linear_forward(s.N, s.IN, s.OUT, xg.data<float>(), wg.data<float>(), bg.data<float>(), out.data<float>());
    kg::linear_backward(s.N, s.IN, s.OUT, xg.data<float>(), wg.data<float>(), dg.data<float>(), dx.data<float>(),
                        dw.data<float>(), db.data<float>());
    test::expect_match("linear out" + at, test::read_back(out), out_r, atol_for(s.IN + 1), 1e-5);
    test::expect_match("linear dx" + at, test::read_back(dx), dx_r, atol_for(s.OUT), 1e-5);
    test::expect_match("linear dw" + at, test::read_back(dw), dw_r, atol_for(s.N), 1e-5);
    test::expect_match("linear db (column sums)" + at, test::read_back(db), db_r, atol_for(s.N), 1e-5);
  }
}

TEST(CudaSweep, Conv2dAgainstThePlainReference) {
  GPUNET_REQUIRE_GPU();
  struct S {
    int N, IC, H, W, OC, KH, KW, stride, pad;
  };
  for (const S c : {
           S{1, 3, 32, 32, 6, 5, 5, 1, 0},     // LeNet conv1, batch 1
           S{4096, 2, 6, 6, 3, 3, 3, 1, 1},    // batch 4,096
           S{3, 5, 13, 7, 7, 3, 5, 2, 1},      // odd sizes, stride 2, non-square kernel
           S{4096, 3, 5, 5, 4, 5, 5, 1, 0},    // a 1x1 output plane: db sums over the batch alone
           S{4096, 1, 16, 16, 16, 1, 1, 1, 0}  // 16.8M outputs: the bias kernels' loops wrap
       }) {
    kernels::Conv2dShape s{c.N,
                           c.IC,
                           c.H,
                           c.W,
                           c.OC,
                           c.KH,
                           c.KW,
                           c.stride,
                           c.pad,
                           (c.H + 2 * c.pad - c.KH) / c.stride + 1,
                           (c.W + 2 * c.pad - c.KW) / c.stride + 1};
    char buf[160];
    std::snprintf(buf, sizeof buf, " x[%d,%d,%d,%d] w[%d,%d,%d,%d] s%d p%d", c.N, c.IC, c.H, c.W, c.OC, c.IC, c.KH,
                  c.KW, c.stride, c.pad);
    const std::string at = buf;
    const int64_t nx = int64_t{s.N} * s.IC * s.H * s.W, nw = int64_t{s.OC} * s.IC * s.KH * s.KW,
                  ny = int64_t{s.N} * s.OC * s.OH * s.OW;
    const auto x = random_floats(nx, 20), w = random_floats(nw, 21), b = random_floats(s.OC, 22),
               d = random_floats(ny, 23);
    std::vector<double> out_r(ny), dx_r(nx), dw_r(nw), db_r(s.OC);
    {
      const auto xd = as_double(x), wd = as_double(w), bd = as_double(b), dd = as_double(d);
      kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), out_r.data());
      kc::reference::conv2d_backward<double>(s, xd.data(), wd.data(), dd.data(), dx_r.data(), dw_r.data(), db_r.data());
    }
    const Tensor xg = up(x), wg = up(w), bg = up(b), dg = up(d);
    const Tensor out = test::poisoned_on_gpu(ny), dx = test::poisoned_on_gpu(nx), dw = test::poisoned_on_gpu(nw),
                 db = test::poisoned_on_gpu(s.OC);
    kg::conv2d_forward(s, xg.data<float>(), wg.data<float>(), bg.data<float>(), out.data<float>());
    kg::conv2d_backward(s, xg.data<float>(), wg.data<float>(), dg.data<float>(), dx.data<float>(), dw.data<float>(),
                        db.data<float>());
    const int64_t P = int64_t{s.OH} * s.OW;
    test::expect_match("conv2d out" + at, test::read_back(out), out_r, atol_for(int64_t{s.IC} * s.KH * s.KW + 1), 1e-5);
    test::expect_match("conv2d dx" + at, test::read_back(dx), dx_r, atol_for(int64_t{s.OC} * s.KH * s.KW), 1e-5);
    test::expect_match("conv2d dw" + at, test::read_back(dw), dw_r, atol_for(s.N * P), 1e-5);
    test::expect_match("conv2d db" + at, test::read_back(db), db_r, atol_for(s.N * P), 1e-5);
  }
}

// The plan cache holds 64 shapes: 70 distinct shapes evict the first ones, which are then made
// again and still give the reference's results (an evicted plan in use is not freed under it).
TEST(CudaSweep, Conv2dPlanCacheEvictsAndRebuilds) {
  GPUNET_REQUIRE_GPU();
  auto run_shape = [](int i) {
    const int H = 4 + i % 10, W = 5 + i / 10;
    kernels::Conv2dShape s{2, 2, H, W, 3, 3, 3, 1, 1, H, W};
    const auto x = random_floats(int64_t{2} * 2 * H * W, 50 + i), w = random_floats(54, 60 + i);
    std::vector<double> ref(int64_t{2} * 3 * H * W);
    const auto xd = as_double(x), wd = as_double(w);
    kc::reference::conv2d_forward<double>(s, xd.data(), wd.data(), nullptr, ref.data());
    const Tensor out = test::poisoned_on_gpu(static_cast<int64_t>(ref.size()));
    kg::conv2d_forward(s, up(x).data<float>(), up(w).data<float>(), nullptr, out.data<float>());
    return std::make_pair(test::read_back(out), ref);
  };
  for (int i : {0, 1, 2}) {
    const auto [got, ref] = run_shape(i);
    test::expect_match("conv2d plan " + std::to_string(i) + ", first use", got, ref, atol_for(18), 1e-5);
  }
  for (int i = 3; i < 70; ++i) run_shape(i);
  for (int i : {0, 1, 2}) {
    const auto [got, ref] = run_shape(i);
    test::expect_match("conv2d plan " + std::to_string(i) + ", after eviction", got, ref, atol_for(18), 1e-5);
  }
}

TEST(CudaSweep, BatchKernelIsBitIdenticalAtBatchOneAndFourThousand) {
  GPUNET_REQUIRE_GPU();
  struct S {
    int C, H, W, B;
  };
  for (const S c : {S{3, 32, 32, 1}, S{3, 32, 32, 4096}, S{1, 5, 7, 4096}}) {
    const int M = 37;
    std::mt19937 rng(30);
    std::vector<uint8_t> images(static_cast<size_t>(M) * c.C * c.H * c.W), labels(M);
    for (auto& v : images) v = static_cast<uint8_t>(rng() & 255);
    for (auto& v : labels) v = static_cast<uint8_t>(rng() % 10);
    std::vector<int64_t> idx(c.B);
    for (auto& v : idx) v = static_cast<int64_t>(rng() % M);
    const kernels::BatchParams p{c.C, c.H, c.W,  {0.5f, 0.4f, 0.3f, 0.f}, {0.2f, 0.25f, 0.3f, 1.f}, 2, true,
                                 99,  1,   12345};
    const int64_t nx = int64_t{c.B} * c.C * c.H * c.W;
    std::vector<float> xc(static_cast<size_t>(nx));
    std::vector<int64_t> yc(c.B);
    kc::gather_batch(p, c.B, images.data(), labels.data(), idx.data(), xc.data(), yc.data());
    const Tensor ig = Tensor::from_vector(images, {static_cast<int64_t>(images.size())}, kGpu);
    const Tensor lg = Tensor::from_vector(labels, {M}, kGpu), xg = test::poisoned_on_gpu(nx);
    const Tensor yg = Tensor::full({c.B}, -7, DType::Int64, kGpu);
    kg::gather_batch(p, c.B, ig.data<uint8_t>(), lg.data<uint8_t>(),
                     Tensor::from_vector(idx, {c.B}, kGpu).data<int64_t>(), xg.data<float>(), yg.data<int64_t>());
    const std::string at = " B=" + std::to_string(c.B) + " (" + std::to_string(c.C) + ", " + std::to_string(c.H) +
                           ", " + std::to_string(c.W) + ")";
    test::expect_match("gather_batch x" + at, test::read_back(xg), as_double(xc), 0, 0);
    test::expect_match("gather_batch y" + at, test::read_back(yg), as_double(yc), 0, 0);
  }
}
#else
TEST(CudaSweep, KernelCases) {
  GTEST_SKIP() << "CPU-only build of gpunet: the CUDA kernels this sweep calls are not compiled "
                  "(configure with -DGPUNET_CUDA=ON)";
}
#endif  // GPUNET_HAVE_CUDA

// Non-contiguous inputs (narrowed views) through the ops, GPU against CPU, with the op's
// outputs poisoned through the allocator's cache.
TEST(CudaSweep, NonContiguousInputsThroughTheOps) {
  GPUNET_REQUIRE_GPU();
  Generator g(40);
  const Tensor base = Tensor::uniform({64, 37}, -1.f, 1.f, g), other = Tensor::uniform({64, 37}, -1.f, 1.f, g);
  const Tensor a = base.narrow(1, 3, 30), b = other.narrow(1, 1, 30);  // rows of 30 with a stride of 37
  ASSERT_FALSE(a.is_contiguous());
  const Tensor ag = base.to(kGpu).narrow(1, 3, 30), bg = other.to(kGpu).narrow(1, 1, 30);
  ASSERT_FALSE(ag.is_contiguous());
  const Tensor w = Tensor::uniform({5, 30}, -1.f, 1.f, g), wg = w.to(kGpu);
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)> op;
    double atol;
  };
  const Case cases[] = {
      {"add", [](const Tensor& x, const Tensor& y, const Tensor&) { return ops::add(x, y); }, 0},
      {"mul", [](const Tensor& x, const Tensor& y, const Tensor&) { return ops::mul(x, y); }, 0},
      {"relu", [](const Tensor& x, const Tensor&, const Tensor&) { return ops::relu(x); }, 0},
      {"mul scalar", [](const Tensor& x, const Tensor&, const Tensor&) { return ops::mul(x, 1.5); }, 0},
      {"sum", [](const Tensor& x, const Tensor&, const Tensor&) { return ops::sum(x); }, 1e-5},
      {"linear", [](const Tensor& x, const Tensor&, const Tensor& w) { return ops::linear(x, w, Tensor()); }, 1e-4},
  };
  for (const Case& c : cases) {
    const Tensor want = c.op(a, b, w);
    test::poison_gpu_cache({want.numel(), a.numel()});
    const Tensor got = c.op(ag, bg, wg);
    ASSERT_EQ(got.device(), kGpu) << c.name;
    test::expect_match(std::string("op ") + c.name + ", non-contiguous input", test::read_back(got),
                       test::read_back(want), c.atol, c.atol == 0 ? 0 : 1e-5);
  }
  // A non-contiguous 4-D input to conv2d: channels 1..3 of a 5-channel batch.
  const Tensor x5 = Tensor::uniform({2, 5, 9, 9}, -1.f, 1.f, g), cw = Tensor::uniform({4, 3, 3, 3}, -1.f, 1.f, g);
  const Tensor want = ops::conv2d(x5.narrow(1, 1, 3), cw, Tensor(), 1, 1);
  test::poison_gpu_cache({want.numel(), 2 * 3 * 9 * 9});
  const Tensor got = ops::conv2d(x5.to(kGpu).narrow(1, 1, 3), cw.to(kGpu), Tensor(), 1, 1);
  test::expect_match("op conv2d, non-contiguous input", test::read_back(got), test::read_back(want), atol_for(27),
                     1e-5);
}

TEST(CudaPoison, CacheHandsOutPoisonedBlocks) {
  GPUNET_REQUIRE_GPU();
  // The op-level tests rely on this: after poison_gpu_cache, a fresh tensor of a poisoned size
  // starts as NaN (so an op that leaves an element unwritten fails its comparison).
  test::poison_gpu_cache({1000, 12345});
  for (int64_t n : {int64_t{1000}, int64_t{12345}}) {
    const auto v = Tensor::empty({n}, DType::Float32, kGpu).to_vector<float>();
    size_t nan = 0;
    for (float f : v) nan += std::isnan(f) ? 1 : 0;
    EXPECT_EQ(nan, v.size()) << "a fresh tensor of " << n << " floats is not all NaN after poisoning";
  }
}

}  // namespace
}  // namespace gpunet
