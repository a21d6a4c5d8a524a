// Tensor-level strided copies and views: contiguous(), clone(), copy_() and fill_() on
// non-contiguous tensors of every dtype (narrow on inner dimensions, offsets, a transpose made
// by hand), against values computed index by index; view() vs reshape(); flatten()'s defaults;
// more than 8 dimensions; the same on cuda:0 against the CPU (skipped without a GPU).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpunet/gpunet.h"
#include "support/gpu.h"

namespace gpunet {
namespace {

const DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32, DType::UInt8};

// 0, 1, ..., n-1 (mod 200, so uint8 holds it) in `dt`, shaped.
Tensor iota(const Shape& shape, DType dt, Device dev = Device::cpu()) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 200);
  return Tensor::from_vector<double>(v, shape).to(dt).to(dev);
}

// The same storage seen with dimensions 0 and 1 swapped (no copy; what x.t() would be).
Tensor transposed(const Tensor& x) {
  auto im = std::make_shared<TensorImpl>(*x.detach().impl_ptr());
  std::swap(im->shape[0], im->shape[1]);
  std::swap(im->strides[0], im->strides[1]);
  return Tensor(im);
}

// Element values of a strided tensor, read index by index through its strides on the host.
std::vector<double> by_index(const Tensor& t) {
  auto base_impl = std::make_shared<TensorImpl>(*t.detach().impl_ptr());  // the whole storage, 1-D
  base_impl->offset = 0;
  base_impl->shape = {static_cast<int64_t>(t.storage()->bytes() / dtype_size(t.dtype()))};
  base_impl->strides = {1};
  const std::vector<double> flat = Tensor(base_impl).to_vector<double>();
  std::vector<double> out;
  const int nd = t.dim();
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t off = t.storage_offset();
    for (int d = 0; d < nd; ++d) off += idx[d] * t.strides()[d];
    out.push_back(flat[off]);
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

void check_strided_ops(Device dev) {
  for (DType dt : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor x = iota({4, 6, 5}, dt, dev);
    const Tensor n = x.narrow(2, 1, 3).narrow(1, 2, 3);  // inner dimensions, offset 2*5+1
    ASSERT_FALSE(n.is_contiguous());
    const Tensor c = n.contiguous();
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_EQ(c.device(), dev);
    EXPECT_EQ(c.to_vector<double>(), by_index(n));
    EXPECT_EQ(n.clone().to_vector<double>(), by_index(n));
    EXPECT_EQ(n.to_vector<double>(), by_index(n));

    const Tensor t = transposed(iota({5, 7}, dt, dev));  // [7, 5], strides (1, 7)
    EXPECT_EQ(t.contiguous().to_vector<double>(), by_index(t));

    // Scatter: copy_ into a strided destination writes exactly its elements.
    Tensor dst = Tensor::zeros({4, 6, 5}, dt, dev);
    Tensor window = dst.narrow(2, 1, 3).narrow(1, 2, 3);
    window.copy_(transposed(iota({3, 12}, dt, dev)).reshape({4, 3, 3}));
    EXPECT_EQ(by_index(window), transposed(iota({3, 12}, dt)).reshape({4, 3, 3}).to_vector<double>());
    double outside = 0;
    const std::vector<double> all = dst.to_vector<double>();
    for (double v : all) outside += v;
    double inside = 0;
    for (double v : by_index(window)) inside += v;
    EXPECT_EQ(outside, inside) << "copy_ wrote outside the window";

    // fill_ of a strided view: only its elements.
    Tensor f = Tensor::zeros({3, 4}, dt, dev);
    f.narrow(1, 1, 2).fill_(7);
    EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{0, 7, 7, 0, 0, 7, 7, 0, 0, 7, 7, 0}));
  }
}

TEST(TensorStrided, GatherScatterAndFillEveryDTypeOnTheCpu) { check_strided_ops(Device::cpu()); }

TEST(TensorStrided, GatherScatterAndFillEveryDTypeOnTheGpu) {
  GPUNET_REQUIRE_GPU();
  check_strided_ops(Device::cuda(0));
}

TEST(TensorStrided, ViewNeverCopiesAndNamesReshapeWhenItCannot) {
  const Tensor x = iota({4, 6}, DType::Float32);
  const Tensor v = x.view({3, 8});
  EXPECT_EQ(v.storage(), x.storage());
  const Tensor cols = x.narrow(1, 0, 3);  // [4, 3], strides (6, 1)
  EXPECT_EQ(cols.view({4, 3, 1}).storage(), x.storage());  // size-1 dimensions are free
  EXPECT_EQ(cols.view({2, 2, 3}).strides(), (Shape{12, 6, 1}));  // splitting the outer dimension
  try {
    cols.view({12});
    FAIL() << "view of a narrowed inner dimension did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("view: a tensor of shape [4, 3] and strides [6, 1] cannot be viewed as [12]"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find(".reshape("), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_THROW(transposed(x).view({24}), Error);
  // reshape copies exactly when view cannot.
  const Tensor r = cols.reshape({12});
  EXPECT_NE(r.storage(), x.storage());
  EXPECT_EQ(r.to_vector<double>(), by_index(cols));
  EXPECT_EQ(x.narrow(0, 1, 2).reshape({12}).storage(), x.storage());  // rows stay contiguous
}

TEST(TensorStrided, FlattenDefaultsAreTorchFlatten) {
  const Tensor x = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(x.flatten().shape(), (Shape{24}));
  EXPECT_EQ(ops::flatten(x).shape(), (Shape{24}));
  EXPECT_EQ(x.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(x.flatten(0, 1).shape(), (Shape{6, 4}));
  EXPECT_EQ(nn::Flatten().forward(x).shape(), (Shape{2, 12}));  // torch.nn.Flatten keeps the batch
  EXPECT_EQ(Tensor::full({}, 3.0).flatten().shape(), (Shape{1}));
  EXPECT_THROW(x.flatten(2, 1), Error);
}

TEST(TensorStrided, MoreThanEightDimensionsCollapseOrAreRefused) {
  const Shape ten(10, 2);
  const Tensor x = iota(ten, DType::Float32);
  const Tensor lastless = x.narrow(9, 1, 1);  // collapses to one run of 512 strided elements
  EXPECT_EQ(lastless.contiguous().to_vector<double>(), by_index(lastless));
  // Every other dimension narrowed to size 1: those are dropped, 5 strided ones remain.
  Tensor odd = x;
  for (int d = 1; d < 10; d += 2) odd = odd.narrow(d, 1, 1);
  EXPECT_EQ(odd.contiguous().to_vector<double>(), by_index(odd));  // size-1 dims dropped: 5 left
  auto im = std::make_shared<TensorImpl>(*x.impl_ptr());
  for (int d = 0; d < 10; ++d) im->strides[d] = x.strides()[9 - d];  // reversed: nothing merges
  try {
    Tensor(im).contiguous();
    FAIL() << "a 10-D strided copy did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 8"), std::string::npos) << e.what();
  }
}

TEST(TensorStrided, ReshapeAndViewAgreeWithTheRowMajorOrderOnRandomLayouts) {
  // Random strided layouts (a permutation of a contiguous tensor, then a narrow) reshaped into
  // every factorisation of a few shapes: reshape always gives the row-major elements; view gives
  // them too whenever it succeeds, without a copy, and reshape copies only when view fails.
  Generator gen(5);
  int views = 0, copies = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t a = 1 + static_cast<int64_t>(gen.uniform(0.f, 3.f)), b = 2, c = 1 + static_cast<int64_t>(gen.uniform(0.f, 4.f));
    Tensor base = iota({a, b, c * 2}, DType::Int64);
    auto im = std::make_shared<TensorImpl>(*base.impl_ptr());
    if (trial % 3 == 1) {  // swap the first two dimensions
      std::swap(im->shape[0], im->shape[1]);
      std::swap(im->strides[0], im->strides[1]);
    }
    Tensor x = Tensor(im);
    if (trial % 2 == 0) x = x.narrow(2, (trial / 2) % 2 * c, c);  // the first or second half of the last dimension
    const std::vector<double> want = by_index(x);
    const int64_t n = x.numel();
    for (int64_t p = 1; p <= n; ++p) {
      if (n % p) continue;
      for (const Shape& s : {Shape{p, n / p}, Shape{n / p, 1, p}, Shape{n}}) {
        const Tensor r = x.reshape(s);
        EXPECT_EQ(r.to_vector<double>(), want) << shape_str(x.shape()) << " strides " << shape_str(x.strides())
                                               << " -> " << shape_str(s);
        bool viewed = true;
        try {
          const Tensor v = x.view(s);
          EXPECT_EQ(v.storage(), x.storage());
          EXPECT_EQ(by_index(v), want) << shape_str(x.shape()) << " -> " << shape_str(s);
        } catch (const Error&) {
          viewed = false;
        }
        EXPECT_EQ(r.storage() == x.storage(), viewed) << shape_str(x.shape()) << " -> " << shape_str(s);
        (viewed ? views : copies) += 1;
      }
    }
  }
  EXPECT_GT(views, 0);
  EXPECT_GT(copies, 0);
}

}  // namespace
}  // namespace gpunet
