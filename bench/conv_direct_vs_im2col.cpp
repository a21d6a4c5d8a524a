// Direct convolution against im2col + OpenBLAS, per shape: forward + backward (dx, dw, db),
// float32, 1 thread, best of 7. Validates first: the two paths' outputs and gradients must
// agree (relative 1e-4 of the largest magnitude) before anything is timed.
//   build/bin/bench_conv_direct            (OPENBLAS_CORETYPE=SkylakeX for OpenBLAS's AVX-512 kernels)
// Where the direct kernels do not run (no AVX2), it says so and exits 0.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/isa.h"

using namespace gpunet::kernels;
namespace d = gpunet::kernels::cpu::detail;

namespace {
float max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float scale = 1e-30f, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(b[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  return diff / scale;
}
}  // namespace

int main() {
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
  if (cpu::isa() == cpu::Isa::Generic) {
    std::printf("this CPU (or GPUNET_CPU_ISA) allows no AVX2/AVX-512: the direct kernels do not run here\n");
    return 0;
  }
  struct Case { int N, IC, H, OC, K, pad; };
  const Case cases[] = {{64, 3, 32, 6, 5, 0},    {64, 6, 14, 16, 5, 0},  {64, 16, 32, 16, 3, 1}, {64, 32, 32, 32, 3, 1},
                        {64, 32, 16, 32, 5, 2},  {16, 3, 224, 16, 7, 3}, {64, 32, 8, 32, 3, 1},  {32, 64, 16, 64, 3, 1},
                        {32, 64, 8, 128, 3, 1},  {32, 128, 8, 128, 3, 1}, {32, 3, 32, 64, 3, 1}};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::printf("%-34s %10s %10s %8s\n", "shape", "direct ms", "im2col ms", "ratio");
  int bad = 0;
  for (const Case& c : cases) {
    Conv2dShape s{c.N, c.IC, c.H, c.H, c.OC, c.K, c.K, 1, c.pad, 0, 0};
    s.OH = s.OW = c.H + 2 * c.pad - c.K + 1;
    std::vector<float> x(size_t(s.N) * s.IC * s.H * s.W), w(size_t(s.OC) * s.IC * s.KH * s.KW), b(s.OC),
        g(size_t(s.N) * s.OC * s.OH * s.OW);
    for (auto* v : {&x, &w, &b, &g})
      for (auto& e : *v) e = u(rng);
    std::vector<float> out[2], dx[2], dw[2], db[2];
    double best[2];
    for (int a = 0; a < 2; ++a) {
      d::set_conv_algo_for_testing(a == 0 ? d::ConvAlgo::Direct : d::ConvAlgo::Im2col);
      out[a].resize(g.size()), dx[a].resize(x.size()), dw[a].resize(w.size()), db[a].resize(b.size());
      best[a] = 1e30;
      for (int r = 0; r < 7; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        cpu::conv2d_forward<float>(s, x.data(), w.data(), b.data(), out[a].data());
        cpu::conv2d_backward<float>(s, x.data(), w.data(), g.data(), dx[a].data(), dw[a].data(), db[a].data());
        best[a] = std::min(best[a], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    char name[64];
    std::snprintf(name, sizeof name, "N=%d %d->%d %dx%d k%d pad%d", c.N, c.IC, c.OC, c.H, c.H, c.K, c.pad);
    const float err = std::max({max_rel_diff(out[0], out[1]), max_rel_diff(dx[0], dx[1]), max_rel_diff(dw[0], dw[1]),
                                max_rel_diff(db[0], db[1])});
    if (!(err <= 1e-4f)) {
      std::printf("%-34s the paths disagree (relative %.2e): not timed\n", name, err);
      ++bad;
      continue;
    }
    std::printf("%-34s %10.2f %10.2f %7.2fx\n", name, best[0] * 1e3, best[1] * 1e3, best[1] / best[0]);
  }
  d::set_conv_algo_for_testing(d::ConvAlgo::Auto);
  return bad ? 1 : 0;
}
