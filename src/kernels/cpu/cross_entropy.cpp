// log_softmax, softmax, nll and the fused cross-entropy on the CPU, row by row.
// Same operation order as PyTorch's CPU kernels: subtract the row max, sum exp, take the log.
#include <cmath>

#include "kernels/cross_entropy.h"

namespace gpunet::kernels::cpu {
namespace {

// Row max and log(sum(exp(x - max))) of one row of length C.
template <typename T>
void row_stats(int C, const T* x, T& max_out, T& logsum_out) {
  T m = x[0];
  for (int c = 1; c < C; ++c)
    if (x[c] > m) m = x[c];
  T s = 0;
  for (int c = 0; c < C; ++c) s += std::exp(x[c] - m);
  max_out = m;
  logsum_out = std::log(s);
}

}  // namespace

template <typename T>
void log_softmax_forward(int N, int C, const T* logits, T* out) {
  for (int i = 0; i < N; ++i) {
    const T* x = logits + static_cast<int64_t>(i) * C;
    T* o = out + static_cast<int64_t>(i) * C;
    T m, ls;
    row_stats(C, x, m, ls);
    for (int c = 0; c < C; ++c) o[c] = x[c] - m - ls;
  }
}

template <typename T>
void log_softmax_backward(int N, int C, const T* out, const T* dout, T* dx) {
  for (int i = 0; i < N; ++i) {
    const int64_t r = static_cast<int64_t>(i) * C;
    T s = 0;
    for (int c = 0; c < C; ++c) s += dout[r + c];
    for (int c = 0; c < C; ++c) dx[r + c] = dout[r + c] - std::exp(out[r + c]) * s;
  }
}

template <typename T>
void softmax_forward(int N, int C, const T* logits, T* out) {
  for (int i = 0; i < N; ++i) {
    const T* x = logits + static_cast<int64_t>(i) * C;
    T* o = out + static_cast<int64_t>(i) * C;
    T m = x[0];
    for (int c = 1; c < C; ++c)
      if (x[c] > m) m = x[c];
    T s = 0;
    for (int c = 0; c < C; ++c) {
      o[c] = std::exp(x[c] - m);
      s += o[c];
    }
    for (int c = 0; c < C; ++c) o[c] /= s;
  }
}

template <typename T>
void nll_forward(int N, int C, const T* logp, const int64_t* target, T* loss) {
  double acc = 0.0;
  for (int i = 0; i < N; ++i) acc += -static_cast<double>(logp[static_cast<int64_t>(i) * C + target[i]]);
  loss[0] = static_cast<T>(acc / N);
}

template <typename T>
void nll_backward(int N, int C, const int64_t* target, const T* dloss, T* dlogp) {
  const T g = -dloss[0] / static_cast<T>(N);
  for (int64_t k = 0; k < static_cast<int64_t>(N) * C; ++k) dlogp[k] = T(0);
  for (int i = 0; i < N; ++i) dlogp[static_cast<int64_t>(i) * C + target[i]] = g;
}

template <typename T>
void cross_entropy_forward(int N, int C, const T* logits, const int64_t* target, double smoothing, T* row_loss,
                           T* probs) {
  for (int i = 0; i < N; ++i) {
    const T* x = logits + static_cast<int64_t>(i) * C;
    T* p = probs + static_cast<int64_t>(i) * C;
    T m, ls;
    row_stats(C, x, m, ls);
    double all = 0.0;  // sum_c -logp[c]
    for (int c = 0; c < C; ++c) {
      p[c] = std::exp(x[c] - m - ls);
      all -= static_cast<double>(x[c] - m - ls);
    }
    const double nll = -static_cast<double>(x[target[i]] - m - ls);
    row_loss[i] = static_cast<T>((1.0 - smoothing) * nll + smoothing / C * all);
  }
}

template <typename T>
void cross_entropy_reduce(int N, const T* row_loss, double scale, T* loss) {
  double acc = 0.0;
  for (int i = 0; i < N; ++i) acc += static_cast<double>(row_loss[i]);
  loss[0] = static_cast<T>(acc * scale);
}

template <typename T>
void cross_entropy_backward(int N, int C, const T* probs, const int64_t* target, double smoothing, const T* dloss,
                            bool per_row, double scale, T* dlogits) {
  const T off = static_cast<T>(smoothing / C), on = static_cast<T>(1.0 - smoothing);
  for (int i = 0; i < N; ++i) {
    const T g = static_cast<T>(scale * static_cast<double>(dloss[per_row ? i : 0]));
    const int64_t r = static_cast<int64_t>(i) * C;
    for (int c = 0; c < C; ++c) dlogits[r + c] = (probs[r + c] - (c == target[i] ? on : T(0)) - off) * g;
  }
}

#define GPUNET_INSTANTIATE(T)                                                                     \
  template void log_softmax_forward<T>(int, int, const T*, T*);                                  \
  template void log_softmax_backward<T>(int, int, const T*, const T*, T*);                       \
  template void softmax_forward<T>(int, int, const T*, T*);                                      \
  template void nll_forward<T>(int, int, const T*, const int64_t*, T*);                          \
  template void nll_backward<T>(int, int, const int64_t*, const T*, T*);                         \
  template void cross_entropy_forward<T>(int, int, const T*, const int64_t*, double, T*, T*);    \
  template void cross_entropy_reduce<T>(int, const T*, double, T*);                              \
  template void cross_entropy_backward<T>(int, int, const T*, const int64_t*, double, const T*, bool, double, T*);
GPUNET_INSTANTIATE(float)
GPUNET_INSTANTIATE(double)
#undef GPUNET_INSTANTIATE

}  // namespace gpunet::kernels::cpu
