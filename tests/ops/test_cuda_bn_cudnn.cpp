// cuDNN's batch norm (kernels/batch_norm.h: the candidate bench/bn_cuda.cpp times against the own
// kernels) against the CPU reference: training-mode forward (output, saved mean and invstd, the
// running statistics with the unbiased variance) and backward (dx, dweight, dbias), on the BN
// shapes of airbench94 and ResNet-18 at small batches. Skipped without a GPU.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "gpunet/config.h"
#include "gpunet/gpunet.h"
#include "kernels/batch_norm.h"
#include "support/assert_close.h"
#include "support/gpu.h"

using namespace gpunet;

#if GPUNET_HAVE_CUDA
TEST(CudaBatchNormCudnn, EqualsTheCpuReference) {
  GPUNET_REQUIRE_GPU();
  const Device cuda = Device::parse("cuda:0");
  Generator gen(5);
  for (auto [N, C, H, W] : std::vector<std::array<int, 4>>{{8, 64, 16, 16}, {4, 256, 8, 8}, {3, 512, 4, 4},
                                                            {2, 5, 7, 3}, {16, 24, 1, 1}}) {
    const kernels::BatchNormShape s{N, C, int64_t(H) * W};
    Tensor x = Tensor::normal({N, C, H, W}, 0.5f, 2.f, gen), dout = Tensor::normal({N, C, H, W}, 0.f, 1.f, gen);
    Tensor w = Tensor::normal({C}, 1.f, 0.3f, gen), b = Tensor::normal({C}, 0.f, 0.3f, gen);
    Tensor rm = Tensor::normal({C}, 0.f, 0.1f, gen), rv = Tensor::uniform({C}, 0.5f, 1.5f, gen);
    // CPU reference
    Tensor out = Tensor::empty({N, C, H, W}), sm = Tensor::empty({C}), si = Tensor::empty({C});
    Tensor rm_c = rm.clone(), rv_c = rv.clone();
    kernels::cpu::batch_norm_forward<float>(s, x.data<float>(), w.data<float>(), b.data<float>(), rm_c.data<float>(),
                                            rv_c.data<float>(), true, 0.1, 1e-5, out.data<float>(), sm.data<float>(),
                                            si.data<float>());
    Tensor dx = Tensor::empty({N, C, H, W}), dw = Tensor::empty({C}), db = Tensor::empty({C});
    kernels::cpu::batch_norm_backward<float>(s, x.data<float>(), w.data<float>(), sm.data<float>(), si.data<float>(),
                                             true, dout.data<float>(), dx.data<float>(), dw.data<float>(),
                                             db.data<float>());
    // cuDNN
    Tensor xg = x.to(cuda), wg = w.to(cuda), bg = b.to(cuda), rmg = rm.to(cuda), rvg = rv.to(cuda), dg = dout.to(cuda);
    Tensor og = Tensor::empty({N, C, H, W}, DType::Float32, cuda), smg = Tensor::empty({C}, DType::Float32, cuda),
           sig = Tensor::empty({C}, DType::Float32, cuda);
    ASSERT_TRUE(kernels::cuda::batch_norm_cudnn_supported(s, wg.data<float>(), bg.data<float>(), true, 1e-5));
    kernels::cuda::batch_norm_forward_cudnn(s, xg.data<float>(), wg.data<float>(), bg.data<float>(), rmg.data<float>(),
                                            rvg.data<float>(), true, 0.1, 1e-5, og.data<float>(), smg.data<float>(),
                                            sig.data<float>());
    Tensor dxg = Tensor::empty({N, C, H, W}, DType::Float32, cuda), dwg = Tensor::empty({C}, DType::Float32, cuda),
           dbg = Tensor::empty({C}, DType::Float32, cuda);
    kernels::cuda::batch_norm_backward_cudnn(s, xg.data<float>(), wg.data<float>(), smg.data<float>(),
                                             sig.data<float>(), true, dg.data<float>(), dxg.data<float>(),
                                             dwg.data<float>(), dbg.data<float>());
    const std::string where = shape_str({N, C, H, W});
    EXPECT_ALL_CLOSE(og, out, 1e-4, 1e-4) << "out " << where;
    EXPECT_ALL_CLOSE(smg, sm, 1e-5, 1e-5) << "save_mean " << where;
    EXPECT_ALL_CLOSE(sig, si, 1e-4, 1e-5) << "save_invstd " << where;
    EXPECT_ALL_CLOSE(rmg, rm_c, 1e-5, 1e-5) << "running_mean " << where;
    EXPECT_ALL_CLOSE(rvg, rv_c, 1e-4, 1e-5) << "running_var (unbiased) " << where;
    EXPECT_ALL_CLOSE(dxg, dx, 1e-4, 1e-4) << "dx " << where;
    EXPECT_ALL_CLOSE(dwg, dw, 1e-4, 1e-3) << "dweight " << where;
    EXPECT_ALL_CLOSE(dbg, db, 1e-4, 1e-3) << "dbias " << where;
  }
}
#else
TEST(CudaBatchNormCudnn, EqualsTheCpuReference) { GTEST_SKIP() << "CPU-only build: no cuDNN batch norm"; }
#endif
