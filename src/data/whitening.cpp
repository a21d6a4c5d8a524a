// The whitening filters of airbench94 from the data (gpunet/data/whitening.h): the patch
// covariance with OpenBLAS's dsyrk in double, the eigendecomposition with LAPACKE_dsyevd.
#include "gpunet/data/whitening.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "gpunet/error.h"

namespace gpunet::data {
namespace {

// One channel's normalisation: one value for all channels, or one per channel.
float channel_value(const std::vector<float>& v, int c, int C, const char* what) {
  GPUNET_INPUT_CHECK(v.size() == 1 || static_cast<int>(v.size()) == C, "whitening: the normalisation's ", what, " has ",
                     v.size(), " values for ", C, " channels (give one, or one per channel)");
  return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)];
}

}  // namespace

std::vector<double> patch_covariance(const ImageDataset& data, const Transforms& t, int64_t max_images,
                                     int kernel_size) {
  data.check();
  const int C = data.c, H = data.h, W = data.w, k = kernel_size;
  GPUNET_INPUT_CHECK(data.n > 0, "whitening: the dataset is empty");
  GPUNET_INPUT_CHECK(max_images >= 1, "whitening: the number of images must be >= 1, got ", max_images);
  GPUNET_INPUT_CHECK(k >= 1 && k <= H && k <= W, "whitening: a ", k, "x", k, " patch does not fit a ", H, "x", W,
                     " image");
  // The normalised value of every byte per channel, as the batch kernel computes it (three float
  // ops, not fused: the peer's (x.float() / 255 - mean) / std), then widened to double.
  std::vector<double> lut(static_cast<size_t>(C) * 256);
  for (int c = 0; c < C; ++c) {
    const float mean = channel_value(t.mean, c, C, "mean"), sd = channel_value(t.std, c, C, "std");
    GPUNET_INPUT_CHECK(sd != 0.f, "whitening: std[", c, "] is zero");
    for (int v = 0; v < 256; ++v) {
      const float a = static_cast<float>(v) / 255.0f;
      const float b = a - mean;
      lut[static_cast<size_t>(c) * 256 + v] = static_cast<double>(b / sd);
    }
  }
  const int D = C * k * k, OH = H - k + 1, OW = W - k + 1;
  const int64_t images = std::min(data.n, max_images), per_image = static_cast<int64_t>(OH) * OW;
  // Patches of a chunk of images as rows of A (rows x D, row-major); cov += A^T A (upper part).
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 19) / (per_image * D));
  std::vector<double> a(static_cast<size_t>(chunk * per_image * D)), cov(static_cast<size_t>(D) * D, 0.0);
  for (int64_t first = 0; first < images; first += chunk) {
    const int64_t count = std::min(chunk, images - first);
    double* row = a.data();
    for (int64_t i = first; i < first + count; ++i) {
      const uint8_t* img = data.image(i);
      for (int oy = 0; oy < OH; ++oy)
        for (int ox = 0; ox < OW; ++ox, row += D)
          for (int c = 0; c < C; ++c)
            for (int dy = 0; dy < k; ++dy)
              for (int dx = 0; dx < k; ++dx)
                row[(c * k + dy) * k + dx] =
                    lut[static_cast<size_t>(c) * 256 + img[(static_cast<int64_t>(c) * H + oy + dy) * W + ox + dx]];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, static_cast<int>(count * per_image), 1.0, a.data(), D, 1.0,
                cov.data(), D);
  }
  const double patches = static_cast<double>(images * per_image);
  for (int i = 0; i < D; ++i)
    for (int j = i; j < D; ++j) {
      cov[static_cast<size_t>(i) * D + j] /= patches;
      cov[static_cast<size_t>(j) * D + i] = cov[static_cast<size_t>(i) * D + j];
    }
  return cov;
}

Whitening whitening_from_covariance(const std::vector<double>& covariance, int C, int kernel_size, double eps,
                                    bool descending) {
  const int k = kernel_size, D = C * k * k;
  GPUNET_INPUT_CHECK(C >= 1 && k >= 1, "whitening: needs C >= 1 and a kernel size >= 1, got C=", C, ", k=", k);
  GPUNET_INPUT_CHECK(covariance.size() == static_cast<size_t>(D) * D, "whitening: a ", D, "x", D, " covariance needs ",
                     D * D, " values, got ", covariance.size());
  GPUNET_INPUT_CHECK(std::isfinite(eps) && eps >= 0, "whitening: eps must be finite and >= 0, got ", eps);
  for (double v : covariance)
    GPUNET_INPUT_CHECK(std::isfinite(v), "whitening: the patch covariance holds a non-finite value (", v, ")");
  Whitening w;
  w.covariance = covariance;
  std::vector<double> vecs = covariance, vals(static_cast<size_t>(D));
  // Eigenvalues ascending; eigenvector j is column j of the row-major result.
  const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', D, vecs.data(), D, vals.data());
  GPUNET_INPUT_CHECK(info == 0, "whitening: the eigendecomposition of the ", D, "x", D,
                     " patch covariance failed (LAPACKE_dsyevd info ", info, ")");
  const double largest = std::abs(vals[static_cast<size_t>(D - 1)]);
  std::vector<float> f(static_cast<size_t>(2) * D * D);
  for (int i = 0; i < D; ++i) {
    const int col = descending ? D - 1 - i : i;
    const double lambda = vals[static_cast<size_t>(col)];
    w.eigenvalues.push_back(lambda);
    const double denom = lambda + eps;
    GPUNET_INPUT_CHECK(std::isfinite(denom) && denom > 1e-12 * std::max(largest, 1e-300),
                       "whitening: the patch covariance is singular (eigenvalue ", i, " is ", lambda, ", + eps ", eps,
                       " = ", denom, " against the largest ", largest,
                       "): the filters would not be finite (constant images?)");
    const double root = std::sqrt(denom);
    for (int d = 0; d < D; ++d) {
      const float v = static_cast<float>(vecs[static_cast<size_t>(d) * D + col] / root);
      GPUNET_INPUT_CHECK(std::isfinite(v), "whitening: filter ", i, " is not finite");
      f[static_cast<size_t>(i) * D + d] = v;
      f[static_cast<size_t>(i + D) * D + d] = -v;
    }
  }
  w.filters = Tensor::from_vector(f, {2 * D, C, k, k});
  return w;
}

Whitening whitening_filters(const ImageDataset& data, const Transforms& t, const WhiteningOptions& o) {
  Whitening w =
      whitening_from_covariance(patch_covariance(data, t, o.max_images, o.kernel_size), data.c, o.kernel_size, o.eps,
                                o.descending);
  w.images = std::min(data.n, o.max_images);
  return w;
}

}  // namespace gpunet::data
