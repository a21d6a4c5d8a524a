// The vector max_pool2d kernels (float, K = 2, stride = 2; AVX-512 and AVX2, each the CPU has)
// against the portable loops: the same outputs bit for bit, the same argmax, the same dx, on
// random data, data full of ties, NaNs (with different payloads: which NaN wins is part of the
// rule) and infinities, for shapes with odd H/W, partial and several 8- and 16-wide chunks per
// row, a 1x1 output and many planes. Outputs are poisoned first and followed by a guard that
// must stay untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/max_pool2d.h"

namespace gpunet {
namespace {

using kernels::Pool2dShape;
using kernels::cpu::Isa;

constexpr int kGuard = 64;
constexpr uint32_t kPoison = 0x7fbadbadu;  // a NaN no kernel produces

// Restores the level the environment asks for (default_isa()) at the end of a test.
struct IsaRestore {
  ~IsaRestore() { kernels::cpu::set_isa_for_testing(kernels::cpu::default_isa()); }
};

const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : isa == Isa::Avx2 ? "avx2" : "generic";
}

// The vector levels this CPU has (whatever GPUNET_CPU_ISA says): each is tested.
std::vector<Isa> vector_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Avx512, Isa::Avx2})
    if (static_cast<int>(kernels::cpu::detected_isa()) >= static_cast<int>(isa)) v.push_back(isa);
  return v;
}

Pool2dShape make_shape(int N, int C, int H, int W, int K = 2, int stride = 2) {
  return {N, C, H, W, K, stride, (H - K) / stride + 1, (W - K) / stride + 1};
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

enum class Data { Random, Ties, Special };

std::vector<float> make_data(size_t n, Data kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 9);
  std::vector<float> v(n);
  for (auto& x : v) {
    switch (kind) {
      case Data::Random:
        x = normal(rng);
        break;
      case Data::Ties:
        x = static_cast<float>(pick(rng) & 1);
        break;
      case Data::Special: {
        const int p = pick(rng);
        // Quiet NaNs with distinct payloads and signs, infinities, both zeros, a few numbers.
        if (p <= 2)
          x = bits_to_float(0x7fc00000u | (static_cast<uint32_t>(rng()) & 0x803fffffu));
        else if (p == 3)
          x = -std::numeric_limits<float>::infinity();
        else if (p == 4)
          x = std::numeric_limits<float>::infinity();
        else if (p == 5)
          x = -0.0f;
        else if (p == 6)
          x = 0.0f;
        else
          x = static_cast<float>(pick(rng) % 3) - 1.0f;
        break;
      }
    }
  }
  return v;
}

struct Result {
  std::vector<float> out;
  std::vector<int32_t> argmax;
  std::vector<float> dx;
};

template <typename V>
void poison(V& v) {
  for (auto& e : v) std::memcpy(&e, &kPoison, sizeof e);
}

// Runs forward and backward with `isa`; the buffers carry kGuard poisoned elements at the end.
Result run(Isa isa, const Pool2dShape& s, const std::vector<float>& x, const std::vector<float>& dout) {
  kernels::cpu::set_isa_for_testing(isa);
  const size_t outs = static_cast<size_t>(s.N) * s.C * s.OH * s.OW;
  Result r{std::vector<float>(outs + kGuard), std::vector<int32_t>(outs + kGuard),
           std::vector<float>(x.size() + kGuard)};
  poison(r.out);
  poison(r.argmax);
  poison(r.dx);
  kernels::cpu::max_pool2d_forward<float>(s, x.data(), r.out.data(), r.argmax.data());
  kernels::cpu::max_pool2d_backward<float>(s, dout.data(), r.argmax.data(), r.dx.data());
  return r;
}

template <typename V>
::testing::AssertionResult bit_identical(const V& a, const V& b, const char* what) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof a[i]) != 0)
      return ::testing::AssertionFailure()
             << what << " differs at " << i << " of " << a.size() << ": vector " << a[i] << " vs generic " << b[i];
  return ::testing::AssertionSuccess();
}

template <typename V>
::testing::AssertionResult guard_intact(const V& v, size_t n, const char* what) {
  for (size_t i = n; i < v.size(); ++i)
    if (std::memcmp(&v[i], &kPoison, sizeof v[i]) != 0)
      return ::testing::AssertionFailure() << what << " written past its end at +" << (i - n);
  return ::testing::AssertionSuccess();
}

TEST(MaxPoolVector, BitIdenticalToGeneric) {
  const std::vector<Isa> isas = vector_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has neither AVX-512 nor AVX2";
  IsaRestore restore;
  const std::vector<Pool2dShape> shapes = {
      make_shape(64, 6, 28, 28),     // LeNet's first pool
      make_shape(64, 16, 10, 10),    // LeNet's second pool
      make_shape(3, 2, 7, 9),        // odd H and W: last row and column in no window
      make_shape(2, 3, 2, 2),        // 1x1 output
      make_shape(1, 1, 3, 3),        // 1x1 output, odd
      make_shape(2, 2, 7, 17),       // OW = 8: two output rows fill a vector, then one row
      make_shape(2, 2, 4, 18),       // OW = 9: one output row at a time
      make_shape(2, 2, 5, 33),       // OW = 16: one full chunk, odd W
      make_shape(2, 2, 4, 34),       // OW = 17: a full chunk and one lane
      make_shape(1, 3, 6, 70),       // OW = 35: three chunks
      make_shape(1, 2, 4, 50),       // OW = 25: second chunk with more than 8 lanes
      make_shape(2, 2, 5, 25),       // OW = 12: an 8-wide chunk and 4 lanes (no upper half), odd W
      make_shape(1, 2, 3, 30),       // OW = 15: an 8-wide chunk and 7 lanes, odd H
      make_shape(1, 2, 4, 20),       // OW = 10: an 8-wide chunk and 2 lanes
      make_shape(2, 2, 6, 15),       // OW = 7: one partial 8-wide chunk, odd W
      make_shape(1000, 1, 4, 4),     // many planes (OpenMP over planes)
      make_shape(2, 3, 9, 9, 3, 2),  // other shapes keep the portable loops on both paths
      make_shape(2, 3, 6, 6, 2, 1),
  };
  uint32_t seed = 1;
  for (const auto& s : shapes) {
    for (Data kind : {Data::Random, Data::Ties, Data::Special}) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C << " H=" << s.H << " W=" << s.W << " K=" << s.K
                                        << " stride=" << s.stride << " data=" << static_cast<int>(kind));
      const size_t ins = static_cast<size_t>(s.N) * s.C * s.H * s.W,
                   outs = static_cast<size_t>(s.N) * s.C * s.OH * s.OW;
      const auto x = make_data(ins, kind, seed++);
      auto dout = make_data(outs, Data::Random, seed++);
      for (size_t i = 0; i < outs; i += 7) dout[i] = -0.0f;  // the portable fill-then-add makes it +0
      const Result g = run(Isa::Generic, s, x, dout);
      for (Isa isa : isas) {
        SCOPED_TRACE(isa_name(isa));
        const Result a = run(isa, s, x, dout);
        EXPECT_TRUE(bit_identical(a.out, g.out, "out"));
        EXPECT_TRUE(bit_identical(a.argmax, g.argmax, "argmax"));
        EXPECT_TRUE(bit_identical(a.dx, g.dx, "dx"));
        EXPECT_TRUE(guard_intact(a.out, outs, "out"));
        EXPECT_TRUE(guard_intact(a.argmax, outs, "argmax"));
        EXPECT_TRUE(guard_intact(a.dx, ins, "dx"));
        for (size_t i = 0; i < outs; ++i) ASSERT_TRUE(a.argmax[i] >= 0 && a.argmax[i] < s.H * s.W) << i;
      }
    }
  }
}

// The rule itself, on one window per case: a strictly larger value or a NaN takes over, the
// first maximum wins on ties, the last NaN wins among NaNs.
TEST(MaxPoolVector, RuleOnOneWindow) {
  std::vector<Isa> isas = vector_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has neither AVX-512 nor AVX2";
  IsaRestore restore;
  isas.push_back(Isa::Generic);
  const float nan1 = bits_to_float(0x7fc00001u), nan2 = bits_to_float(0xffc00002u);
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float v[4];  // r0[0], r0[1], r1[0], r1[1]
    int32_t want;
  };
  const std::vector<Case> cases = {
      {{1, 1, 1, 1}, 0},
      {{0, 1, 1, 1}, 1},
      {{0, 0, 1, 1}, 2},
      {{0, 0, 0, 1}, 3},
      {{-inf, -inf, -inf, -inf}, 0},
      {{nan1, 5, 6, 7}, 0},
      {{1, nan1, 2, nan2}, 3},
      {{-0.0f, 0.0f, 0, 0}, 0},
      {{-inf, nan1, inf, 1}, 1},
      {{nan1, nan2, 1, 2}, 1},
  };
  const Pool2dShape s = make_shape(1, 1, 2, 2);
  for (Isa isa : isas) {
    kernels::cpu::set_isa_for_testing(isa);
    for (const auto& c : cases) {
      float out = 0;
      int32_t arg = -1;
      kernels::cpu::max_pool2d_forward<float>(s, c.v, &out, &arg);
      EXPECT_EQ(arg, c.want) << "isa " << isa_name(isa) << " window " << c.v[0] << " " << c.v[1] << " "
                             << c.v[2] << " " << c.v[3];
      EXPECT_EQ(std::memcmp(&out, &c.v[c.want], sizeof out), 0) << "isa " << isa_name(isa);
    }
  }
}

}  // namespace
}  // namespace gpunet
