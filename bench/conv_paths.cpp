// The CPU convolution paths side by side, per layer shape of LeNet, airbench94 and ResNet-18
// (CIFAR-sized): im2col + OpenBLAS, the direct kernels, oneDNN on plain NCHW descriptors and
// oneDNN in its blocked layouts with cached reorders. Validate, then time:
//   1. each path's forward, dx, dw and db on the layer's shape at batch 2 are checked against
//      kernels::cpu::reference (double accumulators): max |got - ref| <= 1e-4 x max |ref|.
//      A path that fails is reported and not timed (exit code 1);
//   2. each path that passed runs forward + backward at the timing batch, best of --reps, after
//      one warm-up call (which creates oneDNN's primitives).
// The last column is what conv2d_path() (src/kernels/cpu/conv2d.cpp) picks for that shape.
//   build-cpu/bin/bench_conv_paths [--threads N] [--reps R] [--batch B]
// docs/PERFORMANCE.md ("Convolution paths") holds its table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_dnnl.h"

using namespace gpunet::kernels;
namespace d = gpunet::kernels::cpu::detail;

namespace {

struct Layer {
  const char* net;
  int IC, H, OC, K, stride, pad, batch;  // batch: the timing batch
};

Conv2dShape shape(const Layer& l, int N) {
  Conv2dShape s{N, l.IC, l.H, l.H, l.OC, l.K, l.K, l.stride, l.pad, 0, 0};
  s.OH = s.OW = (l.H + 2 * l.pad - l.K) / l.stride + 1;
  return s;
}

struct Bufs {
  std::vector<float> x, w, b, g, out, dx, dw, db;
};
Bufs make(const Conv2dShape& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  Bufs B;
  B.x.resize(size_t(s.N) * s.IC * s.H * s.W);
  B.w.resize(size_t(s.OC) * s.IC * s.KH * s.KW);
  B.b.resize(s.OC);
  B.g.resize(size_t(s.N) * s.OC * s.OH * s.OW);
  for (auto* v : {&B.x, &B.w, &B.b, &B.g})
    for (auto& e : *v) e = u(rng);
  B.out.resize(B.g.size()), B.dx.resize(B.x.size()), B.dw.resize(B.w.size()), B.db.resize(B.b.size());
  return B;
}

void step(const Conv2dShape& s, Bufs& B) {
  cpu::conv2d_forward<float>(s, B.x.data(), B.w.data(), B.b.data(), B.out.data());
  cpu::conv2d_backward<float>(s, B.x.data(), B.w.data(), B.g.data(), B.dx.data(), B.dw.data(), B.db.data());
}

double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  double scale = 1e-30, diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, std::fabs(ref[i]));
    diff = std::max(diff, std::fabs(got[i] - ref[i]));
  }
  return diff / scale;
}

// Forward and all three gradients of the path now set, against the reference, at batch 2.
double validate(const Layer& l, std::mt19937& rng) {
  const Conv2dShape s = shape(l, 2);
  Bufs B = make(s, rng);
  step(s, B);
  auto dbl = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  const auto x = dbl(B.x), w = dbl(B.w), b = dbl(B.b), g = dbl(B.g);
  std::vector<double> out(B.out.size()), dx(B.dx.size()), dw(B.dw.size()), db(B.db.size());
  cpu::reference::conv2d_forward<double>(s, x.data(), w.data(), b.data(), out.data());
  cpu::reference::conv2d_backward<double>(s, x.data(), w.data(), g.data(), dx.data(), dw.data(), db.data());
  return std::max({rel_err(B.out, out), rel_err(B.dx, dx), rel_err(B.dw, dw), rel_err(B.db, db)});
}

double time_ms(const Layer& l, int reps, std::mt19937& rng, int batch) {
  const Conv2dShape s = shape(l, batch);
  Bufs B = make(s, rng);
  step(s, B);  // warm-up: primitives, workspaces
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    step(s, B);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best * 1e3;
}

const char* name(d::ConvAlgo a) {
  switch (a) {
    case d::ConvAlgo::Im2col: return "im2col";
    case d::ConvAlgo::Direct: return "direct";
    case d::ConvAlgo::Dnnl: return "onednn";
    case d::ConvAlgo::DnnlPlain: return "onednn-plain";
    default: return "auto";
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 3, batch_override = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (a == "--threads") threads = v;
    else if (a == "--reps") reps = v;
    else if (a == "--batch") batch_override = v;
    else {
      std::fprintf(stderr, "bench_conv_paths: unknown option %s (use --threads N --reps R --batch B)\n", a.c_str());
      return 2;
    }
  }
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, threads));
#endif
  // {net, IC, H, OC, K, stride, pad, timing batch}
  const Layer layers[] = {
      {"lenet", 3, 32, 6, 5, 1, 0, 64},        {"lenet", 6, 14, 16, 5, 1, 0, 64},
      {"airbench94", 3, 32, 24, 2, 1, 0, 64},  {"airbench94", 24, 31, 64, 3, 1, 1, 64},
      {"airbench94", 64, 15, 64, 3, 1, 1, 64}, {"airbench94", 64, 15, 256, 3, 1, 1, 64},
      {"airbench94", 256, 7, 256, 3, 1, 1, 64}, {"airbench94", 256, 3, 256, 3, 1, 1, 64},
      {"resnet18", 3, 32, 64, 3, 1, 1, 16},    {"resnet18", 64, 32, 64, 3, 1, 1, 16},
      {"resnet18", 64, 32, 128, 3, 2, 1, 16},  {"resnet18", 64, 32, 128, 1, 2, 0, 16},
      {"resnet18", 128, 16, 128, 3, 1, 1, 16}, {"resnet18", 128, 16, 256, 3, 2, 1, 16},
      {"resnet18", 256, 8, 256, 3, 1, 1, 16},  {"resnet18", 256, 8, 512, 3, 2, 1, 16},
      {"resnet18", 512, 4, 512, 3, 1, 1, 16},
  };
  const d::ConvAlgo algos[] = {d::ConvAlgo::Im2col, d::ConvAlgo::Direct, d::ConvAlgo::DnnlPlain, d::ConvAlgo::Dnnl};
  std::printf("threads %d, fwd+bwd ms (best of %d); oneDNN %s\n", threads, reps,
              d::dnnl_available() ? "built in" : "not built in (GPUNET_DNNL=OFF or not found)");
  std::printf("%-11s %-26s %5s %9s %9s %13s %9s  %s\n", "net", "layer", "batch", "im2col", "direct", "onednn-plain",
              "onednn", "auto picks");
  std::mt19937 rng(7);
  int bad = 0;
  for (const Layer& l : layers) {
    const int batch = batch_override > 0 ? batch_override : l.batch;
    char lname[64];
    std::snprintf(lname, sizeof lname, "%d->%d %dx%d k%d s%d p%d", l.IC, l.OC, l.H, l.H, l.K, l.stride, l.pad);
    std::string cells;
    for (d::ConvAlgo a : algos) {
      d::set_conv_algo_for_testing(a);
      const int width = a == d::ConvAlgo::DnnlPlain ? 13 : 9;
      char cell[32];
      if (d::conv2d_path(shape(l, 2)) != a) {  // this path cannot run this shape here
        std::snprintf(cell, sizeof cell, " %*s", width, "-");
      } else if (const double e = validate(l, rng); !(e <= 1e-4)) {
        std::snprintf(cell, sizeof cell, " %*s", width, "WRONG");
        std::fprintf(stderr, "%s %s: %s disagrees with the reference (relative %.2e): not timed\n", l.net, lname,
                     name(a), e);
        ++bad;
      } else {
        std::snprintf(cell, sizeof cell, " %*.2f", width, time_ms(l, reps, rng, batch));
      }
      cells += cell;
    }
    d::set_conv_algo_for_testing(d::ConvAlgo::Auto);
    std::printf("%-11s %-26s %5d%s  %s\n", l.net, lname, batch, cells.c_str(), name(d::conv2d_path(shape(l, batch))));
  }
  return bad ? 1 : 0;
}
