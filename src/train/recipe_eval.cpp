// The recipe's evaluation: test-time augmentation views made by exact strided copies on the
// tensors' device, and the accuracy over a test set (see include/gpunet/train/recipe_run.h).
#include <vector>

#include "gpunet/autograd.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"
#include "gpunet/ops.h"
#include "gpunet/train/recipe_run.h"

namespace gpunet::train {
namespace {

// Reflection of index k into [0, n) (no edge repeat: torch's "reflect").
int64_t reflect(int64_t k, int64_t n) {
  if (k < 0) return -k;
  if (k >= n) return 2 * (n - 1) - k;
  return k;
}

// dst.narrow(dim, d, len) <- src.narrow(dim, s, len) for every run of consecutive destination
// indices whose sources are consecutive too (src_of[d] for each d).
void gather_dim(Tensor& dst, const Tensor& src, int dim, const std::vector<int64_t>& src_of) {
  const int64_t n = static_cast<int64_t>(src_of.size());
  for (int64_t d = 0; d < n;) {
    int64_t len = 1;
    while (d + len < n && src_of[d + len] == src_of[d] + len) ++len;
    Tensor out = dst.narrow(dim, d, len);
    out.copy_(src.narrow(dim, src_of[d], len));
    d += len;
  }
}

}  // namespace

Tensor tta_view(const Tensor& x, const TtaView& v) {
  GPUNET_INPUT_CHECK(x.dim() == 4, "tta_view: expected (N, C, H, W), got ", shape_str(x.shape()));
  const int64_t H = x.size(2), W = x.size(3);
  GPUNET_INPUT_CHECK(v.pad >= 0 && v.pad < H && v.pad < W && v.dy >= 0 && v.dx >= 0 && v.dy <= 2 * v.pad &&
                         v.dx <= 2 * v.pad,
                     "tta_view: pad ", v.pad, " with crop at (", v.dy, ", ", v.dx, ") does not fit a ", H, "x", W,
                     " image");
  if (v.pad == 0 && !v.flip) return x;
  std::vector<int64_t> rows(static_cast<size_t>(H)), cols(static_cast<size_t>(W));
  for (int64_t i = 0; i < H; ++i) rows[i] = reflect(i + v.dy - v.pad, H);
  for (int64_t j = 0; j < W; ++j) cols[j] = reflect((v.flip ? W - 1 - j : j) + v.dx - v.pad, W);
  Tensor src = x.detach().contiguous();
  Tensor by_rows = Tensor::empty(x.shape(), x.dtype(), x.device());
  gather_dim(by_rows, src, 2, rows);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  gather_dim(out, by_rows, 3, cols);
  return out;
}

Tensor tta_logits(nn::Module& net, const Tensor& x, const std::vector<TtaView>& views) {
  GPUNET_INPUT_CHECK(!views.empty(), "tta_logits: no views");
  NoGradGuard g;
  Tensor sum;
  for (const TtaView& v : views) {
    Tensor l = ops::mul(net.forward(tta_view(x, v)), v.weight);
    sum = sum.defined() ? ops::add(sum, l) : l;
  }
  return sum;
}

double recipe_accuracy(const Recipe& r, nn::Module& net, std::shared_ptr<const data::ImageDataset> test, Device device,
                       bool tta, int64_t batch_size) {
  GPUNET_INPUT_CHECK(test && test->n > 0, "recipe ", r.name, ": the test set is empty");
  const bool was_training = net.is_training();
  net.eval();
  data::DataLoader loader(test, data::LoaderOptions::evaluation(batch_size, device, r.transforms));
  const std::vector<TtaView> plain = {TtaView{}};
  int64_t correct = 0;
  {
    NoGradGuard g;
    for (data::Batch b; loader.next(b);) {
      Tensor logits = tta_logits(net, b.x, tta && !r.tta.empty() ? r.tta : plain);
      const std::vector<int64_t> pred = ops::argmax(logits, 1).to_vector<int64_t>(), truth = b.y.to_vector<int64_t>();
      for (size_t i = 0; i < truth.size(); ++i) correct += pred[i] == truth[i] ? 1 : 0;
    }
  }
  net.train(was_training);
  return static_cast<double>(correct) / static_cast<double>(test->n);
}

}  // namespace gpunet::train
