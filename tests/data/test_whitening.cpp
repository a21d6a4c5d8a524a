// airbench94's whitening filters from the data (gpunet/data/whitening.h): the patch covariance
// against a plain double loop, the eigendecomposition on a matrix with known eigenvectors, and
// the filters against the peer's whitening_filters() up to each eigenvector's sign
// (tests/golden/airbench_whiten.json, tools/gen_airbench_fixture.py); bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/whitening.h"
#include "gpunet/error.h"
#include "gpunet/random.h"
#include "support/golden.h"

namespace gpunet {
namespace {

using data::Transforms;

data::ImageDataset random_images(int64_t n, int C, int H, int W, uint64_t seed) {
  data::ImageDataset d;
  d.n = n;
  d.c = C;
  d.h = H;
  d.w = W;
  d.classes = {"a", "b"};
  d.images.resize(static_cast<size_t>(n) * C * H * W);
  d.labels.assign(static_cast<size_t>(n), 0);
  Generator g(seed);
  for (auto& v : d.images) v = static_cast<uint8_t>(g.randint(256));
  return d;
}

// Worst |a - b| relative to max(1, |b|), and where.
struct Worst {
  double err = 0;
  size_t at = 0;
};
Worst worst(const std::vector<double>& a, const std::vector<double>& b) {
  Worst w;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i]));
    if (e > w.err) w = {e, i};
  }
  return w;
}

TEST(Whitening, CovarianceIsTheMeanOuterProductOfEveryPatch) {
  const data::ImageDataset d = random_images(7, 3, 6, 5, 1);
  Transforms t = Transforms::airbench();
  for (int k : {1, 2, 3}) {
    SCOPED_TRACE(testing::Message() << "k=" << k);
    const int D = 3 * k * k;
    const std::vector<double> cov = data::patch_covariance(d, t, 5, k);  // the first 5 of 7 images
    std::vector<double> want(static_cast<size_t>(D) * D, 0.0);
    double count = 0;
    for (int64_t i = 0; i < 5; ++i)
      for (int oy = 0; oy + k <= 6; ++oy)
        for (int ox = 0; ox + k <= 5; ++ox, ++count) {
          std::vector<double> v;
          for (int c = 0; c < 3; ++c)
            for (int dy = 0; dy < k; ++dy)
              for (int dx = 0; dx < k; ++dx) {
                const uint8_t b = d.image(i)[(c * 6 + oy + dy) * 5 + ox + dx];
                v.push_back(static_cast<double>((static_cast<float>(b) / 255.0f - t.mean[c]) / t.std[c]));
              }
          for (int r = 0; r < D; ++r)
            for (int s = 0; s < D; ++s) want[static_cast<size_t>(r) * D + s] += v[r] * v[s];
        }
    for (auto& v : want) v /= count;
    const Worst w = worst(cov, want);
    EXPECT_LT(w.err, 1e-13) << "worst element " << w.at << ": " << cov[w.at] << " vs " << want[w.at];
  }
}

TEST(Whitening, FiltersAreScaledEigenvectorsInDescendingOrderThenNegated) {
  // cov = Q diag(l) Q^T with a known orthonormal Q (a product of Givens rotations), D = 4 (C=1, k=2).
  const int D = 4;
  const double l[D] = {0.3, 4.0, 0.01, 1.5};
  std::vector<double> q(D * D, 0.0);
  for (int i = 0; i < D; ++i) q[i * D + i] = 1.0;
  Generator g(3);
  for (int r = 0; r < 6; ++r) {
    const int i = r % D, j = (r + 1 + r / D) % D;
    if (i == j) continue;
    const double th = g.next_double() * 3.0;
    for (int row = 0; row < D; ++row) {
      const double a = q[row * D + i], b = q[row * D + j];
      q[row * D + i] = std::cos(th) * a - std::sin(th) * b;
      q[row * D + j] = std::sin(th) * a + std::cos(th) * b;
    }
  }
  std::vector<double> cov(D * D, 0.0);
  for (int r = 0; r < D; ++r)
    for (int s = 0; s < D; ++s)
      for (int k = 0; k < D; ++k) cov[r * D + s] += q[r * D + k] * l[k] * q[s * D + k];
  const double eps = 5e-4;
  const data::Whitening w = data::whitening_from_covariance(cov, 1, 2, eps);
  ASSERT_EQ(w.filters.shape(), (Shape{8, 1, 2, 2}));
  const std::vector<double> order_want = {4.0, 1.5, 0.3, 0.01};
  for (int i = 0; i < D; ++i) EXPECT_NEAR(w.eigenvalues[i], order_want[i], 1e-12);
  const std::vector<float> f = w.filters.to_vector<float>();
  const int col[D] = {1, 3, 0, 2};  // the column of q with eigenvalue order_want[i]
  for (int i = 0; i < D; ++i) {
    const double sign = f[i * D] * q[col[i]] >= 0 ? 1.0 : -1.0;
    for (int d = 0; d < D; ++d) {
      const double want = sign * q[d * D + col[i]] / std::sqrt(order_want[i] + eps);
      EXPECT_NEAR(f[i * D + d], want, 1e-6 * std::max(1.0, std::abs(want))) << "filter " << i << " element " << d;
      EXPECT_EQ(f[(i + D) * D + d], -f[i * D + d]) << "filter " << i + D << " is filter " << i << " negated";
    }
  }
}

// Every filter of `got` equals the peer's filter of the same index up to sign, and the sets of
// 24 (negations included) are equal; tolerance atol 1e-5 + rtol 1e-4 of the filter's largest value.
void expect_filters_match_up_to_sign(const std::vector<float>& got, const std::vector<float>& want, int n, int len) {
  auto close = [&](int a, int b, double s) {
    double mx = 0, err = 0;
    for (int d = 0; d < len; ++d) {
      mx = std::max(mx, std::abs(static_cast<double>(want[b * len + d])));
      err = std::max(err, std::abs(got[a * len + d] - s * want[b * len + d]));
    }
    return err <= 1e-5 + 1e-4 * mx;
  };
  int worst_filter = -1;
  double worst_err = 0;
  for (int i = 0; i < n; ++i) {
    const double dot = [&] {
      double s = 0;
      for (int d = 0; d < len; ++d) s += static_cast<double>(got[i * len + d]) * want[i * len + d];
      return s;
    }();
    const double s = dot >= 0 ? 1.0 : -1.0;
    for (int d = 0; d < len; ++d) {
      const double e = std::abs(got[i * len + d] - s * want[i * len + d]);
      if (e > worst_err) worst_err = e, worst_filter = i;
    }
    EXPECT_TRUE(close(i, i, s)) << "filter " << i << " differs from the peer's beyond its sign";
  }
  std::cout << "whitening filters vs the peer's (up to sign): worst |diff| " << worst_err << " in filter "
            << worst_filter << "\n";
  for (int i = 0; i < n; ++i) {
    bool found = false;
    for (int j = 0; j < n && !found; ++j) found = close(i, j, 1.0);
    EXPECT_TRUE(found) << "filter " << i << " is none of the peer's 24";
    found = false;
    for (int j = 0; j < n && !found; ++j) found = close(j, i, 1.0);
    EXPECT_TRUE(found) << "the peer's filter " << i << " is none of ours";
  }
}

void check_against_peer(const data::ImageDataset& d, const nlohmann::json& c) {
  const data::Whitening w = data::whitening_filters(d, Transforms::airbench());
  EXPECT_EQ(w.images, c["images"].get<int64_t>());
  ASSERT_EQ(w.filters.shape(), (Shape{24, 3, 2, 2}));
  const Worst cw = worst(w.covariance, test::golden_doubles(c["covariance"]));
  EXPECT_LT(cw.err, 1e-10) << "covariance element " << cw.at;
  const Worst ew = worst(w.eigenvalues, test::golden_doubles(c["eigenvalues"]));
  EXPECT_LT(ew.err, 1e-10) << "eigenvalue " << ew.at << ": " << w.eigenvalues[ew.at];
  expect_filters_match_up_to_sign(w.filters.to_vector<float>(), test::golden_floats(c["filters"]), 24, 12);
}

TEST(Whitening, FiltersEqualThePeersUpToSignOnTheSample) {
  const nlohmann::json fx = test::load_golden("airbench_whiten.json");
  const data::Cifar10 d(data::sample_dir(), data::Split::Train);  // 2,000 images: all of them are used
  check_against_peer(d, test::golden_case(fx, "sample"));
}

TEST(Whitening, FiltersEqualThePeersUpToSignOnTheFirst5000Images) {
  const std::string dir = std::string(GPUNET_SOURCE_DIR) + "/../shared/datasets/cifar10";
  if (!std::filesystem::exists(dir + "/cifar-10-batches-bin/data_batch_1.bin"))
    GTEST_SKIP() << "no CIFAR-10 at " << dir;
  const nlohmann::json fx = test::load_golden("airbench_whiten.json");
  if (!fx["cases"].contains("cifar10_first5000")) GTEST_SKIP() << "the fixture was made without the full dataset";
  const data::Cifar10 d(dir, data::Split::Train);
  check_against_peer(d, test::golden_case(fx, "cifar10_first5000"));
}

TEST(Whitening, BadInputSaysWhatIsWrong) {
  const data::ImageDataset d = random_images(3, 3, 4, 4, 2);
  const Transforms t = Transforms::airbench();
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const InputError& e) {
      return e.what();
    }
    return "no InputError";
  };
  EXPECT_NE(message([&] { data::patch_covariance(d, t, 3, 5); }).find("does not fit a 4x4 image"), std::string::npos);
  EXPECT_NE(message([&] { data::patch_covariance(d, t, 0, 2); }).find("must be >= 1"), std::string::npos);
  Transforms two = t;
  two.mean = {0.1f, 0.2f};
  EXPECT_NE(message([&] { data::patch_covariance(d, two, 3, 2); }).find("2 values for 3 channels"), std::string::npos);
  data::ImageDataset empty = d;
  empty.n = 0;
  empty.images.clear();
  empty.labels.clear();
  EXPECT_NE(message([&] { data::patch_covariance(empty, t, 3, 2); }).find("empty"), std::string::npos);
  // Constant images: a rank-1 covariance. With eps = 0 the filters of its zero eigenvalues would
  // be infinite: refused, naming the cause. With the recipe's eps they are finite.
  data::ImageDataset flat = d;
  std::fill(flat.images.begin(), flat.images.end(), uint8_t{128});
  EXPECT_NE(message([&] { data::whitening_filters(flat, t, {.eps = 0.0}); }).find("singular"), std::string::npos);
  const data::Whitening ok = data::whitening_filters(flat, t);
  for (float v : ok.filters.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
  std::vector<double> nan_cov(144, 0.0);
  nan_cov[5] = NAN;
  EXPECT_NE(message([&] { data::whitening_from_covariance(nan_cov, 3, 2, 5e-4); }).find("non-finite"),
            std::string::npos);
  EXPECT_NE(message([&] { data::whitening_from_covariance(std::vector<double>(10), 3, 2, 5e-4); }).find("144 values"),
            std::string::npos);
  EXPECT_NE(message([&] { data::whitening_from_covariance(std::vector<double>(144), 3, 2, -1.0); }).find("eps"),
            std::string::npos);
}

}  // namespace
}  // namespace gpunet
