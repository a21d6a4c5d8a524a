#pragma once
/// The whitening convolution of airbench94, computed from the data: the uncentred covariance of
/// all k x k patches (stride 1, no padding) of the first images of a dataset, normalised as the
/// loader normalises them, and its symmetric eigendecomposition (LAPACK, LAPACKE_dsyevd).
/// The filters are v_i / sqrt(lambda_i + eps) in descending eigenvalue order, then the same
/// filters negated: 2 * C * k * k filters of shape (C, k, k), the peer's whitening_filters().
///
/// Requires: a non-empty dataset with images of at least k x k; the normalisation of
/// `t` valid for its channels (one mean/std, or one per channel; std nonzero); eps >= 0.
/// Guarantees: the covariance is accumulated in double over every patch of
/// min(n, max_images) images, each patch laid out as (c, dy, dx) (the peer's unfold/permute
/// order); eigenvalues are descending; filters is float32 (2D, C, k, k) on the CPU with
/// filters[D + i] = -filters[i]. Each eigenvector's sign is LAPACK's (arbitrary, as in numpy
/// and torch): compare filters up to sign. Throws InputError naming "whitening" for bad
/// arguments, a failed eigendecomposition, or a (numerically) singular covariance that would
/// give non-finite filters (constant images with eps = 0), rather than training on them.
///   auto w = gpunet::data::whitening_filters(train, gpunet::data::Transforms::airbench());
///   net.whiten->weight.copy_(w.filters);   // (24, 3, 2, 2)
#include <cstdint>
#include <vector>

#include "gpunet/data/dataset.h"
#include "gpunet/data/transforms.h"
#include "gpunet/tensor.h"

namespace gpunet::data {

struct WhiteningOptions {
  int64_t max_images = 5000;  // the first images used (all when the dataset is smaller)
  int kernel_size = 2;        // k: patches and filters are k x k
  double eps = 5e-4;          // added to every eigenvalue before the square root
  bool descending = true;     // filter order: descending eigenvalues (airbench94), or ascending
                              // (the Muon record, which keeps torch.linalg.eigh's order)
};

struct Whitening {
  Tensor filters;                   // (2D, C, k, k) float32, D = C * k * k
  std::vector<double> eigenvalues;  // (D), in the filters' order (descending unless asked otherwise)
  std::vector<double> covariance;   // (D, D) row-major, the uncentred patch covariance
  int64_t images = 0;               // how many images it was computed from
};

/// The (D, D) uncentred covariance sum_p v_p v_p^T / P over every k x k patch v_p of the first
/// min(n, max_images) images of `data`, normalised with t's mean and std (augmentation ignored).
std::vector<double> patch_covariance(const ImageDataset& data, const Transforms& t, int64_t max_images,
                                     int kernel_size);

/// The filters of a (D, D) covariance, D = C * k * k: eigendecomposition, scaling, negation;
/// in descending eigenvalue order, or ascending when !descending.
Whitening whitening_from_covariance(const std::vector<double>& covariance, int C, int kernel_size, double eps,
                                    bool descending = true);

/// patch_covariance + whitening_from_covariance with o's settings.
Whitening whitening_filters(const ImageDataset& data, const Transforms& t, const WhiteningOptions& o = {});

}  // namespace gpunet::data
