// The CNN kernels' vector paths (kernels/cpu/cnn_vector.h) against the portable references,
// float32, on CIFAR-sized activations: batch norm (train forward, eval forward, backward),
// gelu (exact, tanh) and silu (forward, backward), max_pool2d 3x3/2 pad 1, avg_pool2d 2x2,
// adaptive_avg_pool2d to 1x1 (forward, backward). Validates first (each fast path against the
// reference: bit-identical max pool, the test's tolerances elsewhere), measures erf against
// std::erf over a dense sweep, then times each op: median of `reps` runs, in ms.
//   build/bin/bench_cnn_ops_cpu [threads=1] [reps=5] [op-name filter, e.g. bn_]
// The vector level is isa() (GPUNET_CPU_ISA=avx2 caps it); without AVX2 it says so and exits 0.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/activation.h"
#include "kernels/batch_norm.h"
#include "kernels/cpu/cnn_vector.h"
#include "kernels/cpu/isa.h"
#include "kernels/max_pool2d.h"
#include "kernels/pooling.h"

using namespace gpunet::kernels;
using cpu::Isa;

namespace {

double median_ms(int reps, const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Worst |fast - ref| / (|ref| + scale_i) over the buffers (scale: per-element floor), NaN-aware.
double worst(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>* scale) {
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (a[i] == b[i]) continue;
    const double s = std::fabs(b[i]) + (scale ? std::fabs((*scale)[i]) : 1.0);
    w = std::max(w, std::fabs(static_cast<double>(a[i]) - b[i]) / s);
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
  }
  return w;
}

// erf against std::erf in double, every 16th float in (0, 6] and its negative.
void erf_sweep(Isa isa) {
  const uint32_t hi = 0x40C00000u;  // 6.0f
  std::vector<float> x, out;
  double worst_ulp = 0, worst_ulp_f = 0;
  float at = 0;
  size_t count = 0;
  for (uint32_t b = 1; b <= hi; b += 1u << 20) {
    x.clear();
    for (uint32_t u = b; u < std::min(hi + 1, b + (1u << 20)); u += 16) {
      float f;
      std::memcpy(&f, &u, sizeof f);
      x.push_back(f);
      x.push_back(-f);
    }
    out.resize(x.size());
    cpu::fast::erf(isa, static_cast<int64_t>(x.size()), x.data(), out.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::erf(static_cast<double>(x[i]));
      const float wf = static_cast<float>(want);
      const double ulp = std::nextafter(std::fabs(wf), INFINITY) - std::fabs(wf);
      const double e = std::fabs(out[i] - want) / ulp;
      if (e > worst_ulp) worst_ulp = e, at = x[i];
      worst_ulp_f = std::max(worst_ulp_f, std::fabs(out[i] - std::erf(x[i])) / ulp);
    }
    count += x.size();
  }
  std::printf("erf (%s): worst %.2f ulp against std::erf in double (at %.7g), %.2f ulp against std::erf(float), "
              "%zu points in [-6, 6]\n",
              isa == Isa::Avx512 ? "avx512" : "avx2", worst_ulp, at, worst_ulp_f, count);
}

struct Shape4 {
  int N, C, H;
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::string filter = argc > 3 ? argv[3] : "";
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  const Isa fast = cpu::isa();
  if (fast == Isa::Generic) {
    std::printf("this CPU (or GPUNET_CPU_ISA) allows no AVX2/AVX-512: the vector paths do not run here\n");
    return 0;
  }
  const char* isa_name = fast == Isa::Avx512 ? "avx512" : "avx2";
  std::printf("vector level %s, %d thread(s), median of %d\n", isa_name, threads, reps);
  erf_sweep(fast);
  const Shape4 shapes[] = {{64, 64, 32}, {64, 128, 16}, {64, 256, 16}, {256, 64, 32}, {256, 128, 16}};
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::printf("%-10s %-18s %10s %10s %8s\n", "op", "shape", "ref ms", "fast ms", "speedup");
  int bad = 0;
  for (const Shape4& sh : shapes) {
    const int64_t HW = static_cast<int64_t>(sh.H) * sh.H, n = static_cast<int64_t>(sh.N) * sh.C * HW;
    std::vector<float> x(n), g(n), out[2], dx[2];
    for (auto& v : x) v = 0.5f + 2.0f * nd(rng);
    for (auto& v : g) v = nd(rng);
    std::vector<float> w(sh.C, 1.1f), b(sh.C, 0.1f), rm(sh.C, 0.0f), rv(sh.C, 1.0f), sm(sh.C), si(sh.C), dw(sh.C),
        db(sh.C);
    const BatchNormShape bs{sh.N, sh.C, HW};
    Pool2dShape mp{sh.N, sh.C, sh.H, sh.H, 3, 2, (sh.H - 1) / 2 + 1, (sh.H - 1) / 2 + 1, 1};
    Pool2dShape ap{sh.N, sh.C, sh.H, sh.H, 2, 2, sh.H / 2, sh.H / 2, 0};
    AdaptivePool2dShape gp{sh.N, sh.C, sh.H, sh.H, 1, 1};
    std::vector<int32_t> am(static_cast<size_t>(sh.N) * sh.C * mp.OH * mp.OW);
    struct Op {
      const char* name;
      size_t out_size;
      std::function<void(std::vector<float>&)> run;
      int check;  // 0: bit-identical, 1: |d| <= 1e-5 (|ref| + 1), 2: <= 8 eps (|ref| + |x|), 3: 8 eps (|ref| + |g|(1+|x|))
    };
    const size_t np = static_cast<size_t>(sh.N) * sh.C;
    std::vector<Op> ops = {
        {"bn_train", x.size(), [&](std::vector<float>& o) {
           cpu::batch_norm_forward<float>(bs, x.data(), w.data(), b.data(), rm.data(), rv.data(), true, 0.1, 1e-5,
                                          o.data(), sm.data(), si.data());
         }, 1},
        {"bn_eval", x.size(), [&](std::vector<float>& o) {
           cpu::batch_norm_forward<float>(bs, x.data(), w.data(), b.data(), rm.data(), rv.data(), false, 0.1, 1e-5,
                                          o.data(), sm.data(), si.data());
         }, 1},
        {"bn_bwd", x.size(), [&](std::vector<float>& o) {
           cpu::batch_norm_backward<float>(bs, x.data(), w.data(), sm.data(), si.data(), true, g.data(), o.data(),
                                           dw.data(), db.data());
         }, 1},
        {"gelu", x.size(), [&](std::vector<float>& o) { cpu::gelu_forward<float>(n, x.data(), false, o.data()); }, 2},
        {"gelu_bwd", x.size(),
         [&](std::vector<float>& o) { cpu::gelu_backward<float>(n, x.data(), g.data(), false, o.data()); }, 3},
        {"gelu_tanh", x.size(), [&](std::vector<float>& o) { cpu::gelu_forward<float>(n, x.data(), true, o.data()); },
         2},
        {"gelu_tanh_bwd", x.size(),
         [&](std::vector<float>& o) { cpu::gelu_backward<float>(n, x.data(), g.data(), true, o.data()); }, 3},
        {"silu", x.size(), [&](std::vector<float>& o) { cpu::silu_forward<float>(n, x.data(), o.data()); }, 2},
        {"silu_bwd", x.size(),
         [&](std::vector<float>& o) { cpu::silu_backward<float>(n, x.data(), g.data(), o.data()); }, 3},
        {"maxpool3s2", np * mp.OH * mp.OW,
         [&](std::vector<float>& o) { cpu::max_pool2d_forward<float>(mp, x.data(), o.data(), am.data()); }, 0},
        {"avgpool2", np * ap.OH * ap.OW,
         [&](std::vector<float>& o) { cpu::avg_pool2d_forward<float>(ap, true, x.data(), o.data()); }, 1},
        {"avgpool2_bwd", x.size(),
         [&](std::vector<float>& o) { cpu::avg_pool2d_backward<float>(ap, true, g.data(), o.data()); }, 1},
        {"gap", np, [&](std::vector<float>& o) { cpu::adaptive_avg_pool2d_forward<float>(gp, x.data(), o.data()); },
         1},
        {"gap_bwd", x.size(),
         [&](std::vector<float>& o) { cpu::adaptive_avg_pool2d_backward<float>(gp, g.data(), o.data()); }, 1},
    };
    char shape[48];
    std::snprintf(shape, sizeof shape, "%dx%dx%dx%d", sh.N, sh.C, sh.H, sh.H);
    for (const Op& op : ops) {
      if (std::string(op.name).find(filter) == std::string::npos) continue;
      double ms[2];
      for (int p = 0; p < 2; ++p) {
        cpu::set_isa_for_testing(p == 0 ? Isa::Generic : fast);
        out[p].assign(op.out_size, 0.0f);
        std::fill(rm.begin(), rm.end(), 0.0f);
        std::fill(rv.begin(), rv.end(), 1.0f);
        op.run(out[p]);  // the validated result (and a warm-up)
        ms[p] = median_ms(reps, [&] { op.run(out[p]); });
      }
      // Batch-norm backward reads sm / si, which the last forward left: both paths saw the same.
      double err = 0;
      bool ok;
      if (op.check == 0) {
        ok = std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)) == 0;
      } else if (op.check == 1) {
        err = worst(out[1], out[0], nullptr);
        ok = err <= 1e-5;
      } else {
        std::vector<float> scale(x.size());
        for (size_t i = 0; i < x.size(); ++i)
          scale[i] = op.check == 2 ? x[i] : std::fabs(g[i]) * (1.0f + std::fabs(x[i]));
        err = worst(out[1], out[0], &scale) / std::numeric_limits<float>::epsilon();
        ok = err <= 8;
      }
      if (!ok) {
        std::printf("%-14s %-18s the paths disagree (%.3g): not reported\n", op.name, shape, err);
        ++bad;
        continue;
      }
      std::printf("%-14s %-18s %10.2f %10.2f %7.1fx\n", op.name, shape, ms[0], ms[1], ms[0] / ms[1]);
      std::fflush(stdout);
    }
  }
  cpu::set_isa_for_testing(cpu::default_isa());
  return bad ? 1 : 0;
}
