// The validate-then-time benchmark for batch_norm2d on the GPU: the own fused kernels
// (kernels/cuda/batch_norm.cu, what ops::batch_norm2d runs) against cuDNN's batch norm
// (batch_norm_cudnn.cu), training forward and backward, on the BN shapes of airbench94 (batch
// 1024) and ResNet-18 (batch 512). Each path is first checked against the CPU reference (the
// tolerances of tests/ops/test_cuda_bn_cudnn.cpp); a path that fails is reported and not timed.
// Then the median of `reps` timed rounds of 20 calls each (CUDA events on gpunet's stream).
//   build/bin/bench_bn_cuda [reps=7]        (tools/gpu_check.sh runs it; exit 1 on a failed check)
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/cuda/context.h"
#include "gpunet/gpunet.h"
#include "kernels/batch_norm.h"

using namespace gpunet;
namespace kc = gpunet::kernels::cuda;

namespace {

struct Buffers {
  Tensor x, w, b, rm, rv, out, sm, si, dout, dx, dw, db;
};

using Fwd = decltype(&kc::batch_norm_forward);
using Bwd = decltype(&kc::batch_norm_backward);

void forward(Fwd f, const kernels::BatchNormShape& s, Buffers& g) {
  f(s, g.x.data<float>(), g.w.data<float>(), g.b.data<float>(), g.rm.data<float>(), g.rv.data<float>(), true, 0.1,
    1e-5, g.out.data<float>(), g.sm.data<float>(), g.si.data<float>());
}
void backward(Bwd f, const kernels::BatchNormShape& s, Buffers& g) {
  f(s, g.x.data<float>(), g.w.data<float>(), g.sm.data<float>(), g.si.data<float>(), true, g.dout.data<float>(),
    g.dx.data<float>(), g.dw.data<float>(), g.db.data<float>());
}

// max |a - b| / (atol + rtol |b|) <= 1
bool close(const Tensor& a, const Tensor& b, double atol, double rtol) {
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::abs(double(x[i]) - y[i]) <= atol + rtol * std::abs(double(y[i])))) return false;
  return true;
}

double median_ms(int reps, const std::function<void()>& f) {
  cudaStream_t st = gpunet::cuda::detail::stream();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(a, st);
    for (int i = 0; i < 20; ++i) f();
    cudaEventRecord(b, st);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms / 20);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (!gpunet::cuda::is_available()) {
    std::printf("bench_bn_cuda: no usable GPU (%s)\n", gpunet::cuda::unavailable_reason().c_str());
    return 0;
  }
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const Device cuda = Device::parse("cuda:0");
  const std::vector<std::pair<std::string, std::array<int, 4>>> shapes = {
      {"airbench g1 norm1/2", {1024, 64, 16, 16}},  {"airbench g2", {1024, 256, 8, 8}},
      {"airbench g3", {1024, 256, 4, 4}},           {"resnet18 layer1", {512, 64, 32, 32}},
      {"resnet18 layer2", {512, 128, 16, 16}},      {"resnet18 layer3", {512, 256, 8, 8}},
      {"resnet18 layer4", {512, 512, 4, 4}}};
  int failed = 0;
  std::printf("| shape | N,C,H,W | own fwd ms | cuDNN fwd ms | own bwd ms | cuDNN bwd ms | faster (fwd+bwd) |\n");
  std::printf("|---|---|---:|---:|---:|---:|---|\n");
  Generator gen(1);
  for (const auto& [name, d] : shapes) {
    const auto [N, C, H, W] = d;
    const kernels::BatchNormShape s{N, C, int64_t(H) * W};
    Buffers cpu;
    cpu.x = Tensor::normal({N, C, H, W}, 0.5f, 2.f, gen);
    cpu.dout = Tensor::normal({N, C, H, W}, 0.f, 1.f, gen);
    cpu.w = Tensor::normal({C}, 1.f, 0.3f, gen);
    cpu.b = Tensor::normal({C}, 0.f, 0.3f, gen);
    cpu.rm = Tensor::zeros({C});
    cpu.rv = Tensor::ones({C});
    for (Tensor* t : {&cpu.out, &cpu.dx}) *t = Tensor::empty({N, C, H, W});
    for (Tensor* t : {&cpu.sm, &cpu.si, &cpu.dw, &cpu.db}) *t = Tensor::empty({C});
    kernels::cpu::batch_norm_forward<float>(s, cpu.x.data<float>(), cpu.w.data<float>(), cpu.b.data<float>(),
                                            cpu.rm.data<float>(), cpu.rv.data<float>(), true, 0.1, 1e-5,
                                            cpu.out.data<float>(), cpu.sm.data<float>(), cpu.si.data<float>());
    kernels::cpu::batch_norm_backward<float>(s, cpu.x.data<float>(), cpu.w.data<float>(), cpu.sm.data<float>(),
                                             cpu.si.data<float>(), true, cpu.dout.data<float>(), cpu.dx.data<float>(),
                                             cpu.dw.data<float>(), cpu.db.data<float>());
    double ms[4] = {NAN, NAN, NAN, NAN};
    const Fwd fwds[2] = {&kc::batch_norm_forward, &kc::batch_norm_forward_cudnn};
    const Bwd bwds[2] = {&kc::batch_norm_backward, &kc::batch_norm_backward_cudnn};
    for (int path = 0; path < 2; ++path) {
      Buffers g;
      g.x = cpu.x.to(cuda), g.w = cpu.w.to(cuda), g.b = cpu.b.to(cuda), g.dout = cpu.dout.to(cuda);
      g.rm = Tensor::zeros({C}, DType::Float32, cuda), g.rv = Tensor::ones({C}, DType::Float32, cuda);
      for (Tensor* t : {&g.out, &g.dx}) *t = Tensor::empty({N, C, H, W}, DType::Float32, cuda);
      for (Tensor* t : {&g.sm, &g.si, &g.dw, &g.db}) *t = Tensor::empty({C}, DType::Float32, cuda);
      forward(fwds[path], s, g);
      backward(bwds[path], s, g);
      const bool ok = close(g.out, cpu.out, 1e-4, 1e-4) && close(g.sm, cpu.sm, 1e-5, 1e-5) &&
                      close(g.si, cpu.si, 1e-5, 1e-4) && close(g.rm, cpu.rm, 1e-5, 1e-5) &&
                      close(g.rv, cpu.rv, 1e-5, 1e-4) && close(g.dx, cpu.dx, 1e-4, 1e-4) &&
                      close(g.dw, cpu.dw, 1e-3, 1e-4) && close(g.db, cpu.db, 1e-3, 1e-4);
      if (!ok) {
        std::printf("CHECK FAILED: %s path on %s\n", path ? "cuDNN" : "own", name.c_str());
        ++failed;
        continue;
      }
      ms[2 * path] = median_ms(reps, [&] { forward(fwds[path], s, g); });
      ms[2 * path + 1] = median_ms(reps, [&] { backward(bwds[path], s, g); });
    }
    const double own = ms[0] + ms[1], dnn = ms[2] + ms[3];
    std::printf("| %s | %d,%d,%d,%d | %.4f | %.4f | %.4f | %.4f | %s (%.2fx) |\n", name.c_str(), N, C, H, W, ms[0],
                ms[2], ms[1], ms[3], own <= dnn ? "own" : "cuDNN", own <= dnn ? dnn / own : own / dnn);
  }
  return failed ? 1 : 0;
}
