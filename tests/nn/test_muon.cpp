// optim::Muon, the airbench94_muon record's rule: against a PyTorch reference of the published
// algorithm (tools/gen_muon.py, float32 on the CPU; worst element reported) in the record's
// configuration and in the original Muon's scaling, the float32 kernel against its float64
// instantiation, parameter groups and frozen parameters, checkpoint state round trips, the
// input checks, the combination with SGD, and the CUDA twin against the CPU (skipped without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <map>
#include <string>

#include "gpunet/config.h"
#include "gpunet/gpunet.h"
#include "gpunet/optim/muon.h"
#include "io/io_test_util.h"
#include "kernels/muon.h"
#include "support/assert_close.h"
#include "support/gpu.h"

using namespace gpunet;
using io::testing::expect_input_error;

namespace {

const std::vector<std::string> kNames = {"w0", "w1", "w2", "w3"};

std::map<std::string, Tensor> fixture() {
  std::map<std::string, Tensor> t;
  for (auto& [k, v] : io::load_safetensors(std::string(GPUNET_TEST_GOLDEN_DIR) + "/muon_steps.safetensors").tensors)
    t[k] = v;
  return t;
}

std::vector<Tensor> leaves(const std::map<std::string, Tensor>& fx, const std::string& cfg, Device dev = Device::cpu()) {
  std::vector<Tensor> ps;
  for (const auto& k : kNames) {
    Tensor p = fx.at(cfg + ".init." + k).to(dev).clone();
    p.requires_grad_(true);
    ps.push_back(p);
  }
  return ps;
}

void set_grads(const optim::Optimizer& opt, const std::map<std::string, Tensor>& fx, const std::string& cfg, int s) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    Tensor g = opt.params()[i].grad();
    g.copy_(fx.at(cfg + ".grad." + std::to_string(s) + "." + kNames[i]));
  }
}

optim::MuonOptions config(const std::string& cfg) {
  if (cfg == "rec") return {.lr = 0.24, .momentum = 0.6, .nesterov = true, .ns_steps = 3};
  if (cfg == "bf16") return {.lr = 0.24, .momentum = 0.6, .nesterov = true, .ns_steps = 3, .ns_bf16 = true};
  return {.lr = 0.02, .momentum = 0.95, .nesterov = false, .ns_steps = 5, .normalize_weight = false, .shape_scale = true};
}

// Runs `opts` over the fixture's three steps of configuration `cfg`; the worst |diff| against
// PyTorch's parameters after each step (printed with where it is).
// With `close`, also expects every element within 2e-6 relative + 1e-5 absolute.
double worst_vs_fixture(const std::string& cfg, const optim::MuonOptions& opts, bool close = false) {
  const auto fx = fixture();
  optim::Muon opt(leaves(fx, cfg), opts);
  double worst = 0;
  std::string where;
  for (int s = 0; s < 3; ++s) {
    set_grads(opt, fx, cfg, s);
    opt.step();
    for (size_t i = 0; i < kNames.size(); ++i) {
      const Tensor& want = fx.at(cfg + ".after." + std::to_string(s) + "." + kNames[i]);
      if (close) EXPECT_ALL_CLOSE(opt.params()[i], want, 2e-6, 1e-5) << cfg << " step " << s << ": " << kNames[i];
      const std::vector<float> got = opt.params()[i].to_vector<float>(), exp = want.to_vector<float>();
      for (size_t j = 0; j < got.size(); ++j)
        if (!(std::abs(double(got[j]) - exp[j]) <= worst)) {
          worst = std::abs(double(got[j]) - exp[j]);
          where = "step " + std::to_string(s) + " " + kNames[i] + "[" + std::to_string(j) + "]";
        }
    }
  }
  std::cout << "Muon vs PyTorch (" << cfg << (opts.ns_bf16 ? ", bf16 iteration" : ", float32 iteration")
            << "): worst |diff| " << worst << " at " << where << "\n";
  return worst;
}

// Both sides run the same float32 algorithm; they differ in summation orders (BLAS vs PyTorch's
// matmul, the norms), which the Newton-Schulz polynomial carries to a few 1e-6.
void expect_matches(const std::string& cfg) { worst_vs_fixture(cfg, config(cfg), true); }

}  // namespace

TEST(Muon, MatchesThePublishedAlgorithmInTheRecordsSettings) { expect_matches("rec"); }
TEST(Muon, MatchesThePublishedAlgorithmWithTheOriginalScaling) { expect_matches("orig"); }

// The record's bf16 iteration: both sides round to bf16 at the same points; float32 summation
// orders inside the products differ (OpenBLAS vs PyTorch's bf16 matmul), which can move a
// rounding by one bf16 ulp (2^-8 of an update of ~0.24 x 0.1) now and then; measured: 1.2e-7.
// The float32 iteration misses the same fixture by 6.9e-3, so the tolerance tells the two apart.
constexpr double kBf16Tol = 2e-4;
TEST(Muon, MatchesTheRecordsBf16Iteration) {
  EXPECT_LE(worst_vs_fixture("bf16", config("bf16")), kBf16Tol);
  optim::MuonOptions f32 = config("bf16");
  f32.ns_bf16 = false;
  EXPECT_GT(worst_vs_fixture("bf16", f32), 10 * kBf16Tol) << "the fixture does not tell bf16 from float32";
}

TEST(Muon, Float32KernelAgreesWithItsFloat64Instantiation) {
  Generator gen(3);
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{8, 27}, {32, 8}, {12, 12}, {1, 5}, {64, 576}}) {
    const int64_t n = rows * cols;
    const std::vector<float> p = Tensor::normal({n}, 0.f, 0.2f, gen).to_vector<float>();
    const std::vector<float> g = Tensor::normal({n}, 0.f, 1.f, gen).to_vector<float>();
    std::vector<float> pf = p, bf(n, 0.25f), wf(kernels::muon_workspace(rows, cols));
    std::vector<double> pd(p.begin(), p.end()), gd(g.begin(), g.end()), bd(n, 0.25), wd(wf.size());
    const kernels::MuonParams h{0.6f, true, 3, 1e-7f, true, true};
    const double group[3] = {0.1, 1, 1};
    kernels::cpu::muon_step<float>(rows, cols, h, group, pf.data(), g.data(), bf.data(), wf.data());
    kernels::cpu::muon_step<double>(rows, cols, h, group, pd.data(), gd.data(), bd.data(), wd.data());
    EXPECT_ALL_CLOSE(pf, pd, 1e-5, 1e-5) << rows << "x" << cols;
    EXPECT_ALL_CLOSE(bf, bd, 1e-6, 1e-6) << rows << "x" << cols;
  }
}

TEST(Muon, GroupsUseTheirOwnLrAndFrozenParametersStayPut) {
  const auto fx = fixture();
  std::vector<Tensor> a = leaves(fx, "rec"), b = leaves(fx, "rec");
  b[3].requires_grad_(false);
  // Group 1 at twice the lr; the reference: two single-group optimizers.
  optim::Muon two({{{a[0], a[1]}, optim::muon_group(config("rec"))},
                   {{a[2], a[3]}, optim::muon_group({.lr = 0.48, .momentum = 0.6, .nesterov = true})}},
                  config("rec"));
  optim::Muon first({b[0], b[1]}, config("rec"));
  optim::Muon second({b[2], b[3]}, {.lr = 0.48, .momentum = 0.6, .nesterov = true});
  const std::vector<float> frozen = b[3].to_vector<float>();
  for (int s = 0; s < 2; ++s) {
    for (size_t i = 0; i < 4; ++i) {
      Tensor g = a[i].grad();
      g.copy_(fx.at("rec.grad." + std::to_string(s) + "." + kNames[i]));
      if (b[i].requires_grad()) {
        Tensor h = b[i].grad();
        h.copy_(g);
      }
    }
    two.step();
    first.step();
    second.step();
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>()) << kNames[i];
  EXPECT_EQ(b[3].to_vector<float>(), frozen);
  EXPECT_FALSE(b[3].grad().defined());
}

TEST(Muon, StateRoundTripResumesExactly) {
  const auto fx = fixture();
  optim::Muon a(leaves(fx, "rec"), config("rec"));
  EXPECT_TRUE(a.state_tensors().empty());
  set_grads(a, fx, "rec", 0);
  a.step();
  const StateDict st = a.state_tensors();
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[1].first, "state.1.momentum_buffer");
  EXPECT_EQ(a.state_scalars().at("optimizer"), "muon");
  std::vector<Tensor> pb;
  for (const Tensor& p : a.params()) pb.push_back(p.detach().clone().requires_grad_(true));
  optim::Muon b(pb, config("rec"));
  b.load_state(st, a.state_scalars());
  EXPECT_EQ(b.steps(), 1);
  set_grads(a, fx, "rec", 1);
  set_grads(b, fx, "rec", 1);
  a.step();
  b.step();
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(a.params()[i].to_vector<float>(), b.params()[i].to_vector<float>());
  expect_input_error([&] { b.load_state(st, {{"optimizer", "sgd"}, {"optimizer.steps", "1"}}); }, {"sgd", "not muon"});
}

TEST(Muon, RejectsWhatTheRuleDoesNotCover) {
  Tensor w = Tensor::zeros({4, 3}).requires_grad_(true), v = Tensor::zeros({4}).requires_grad_(true);
  expect_input_error([&] { optim::Muon bad({w, v}, {}); }, {"Muon", "parameter 1", "[4]", "SGD"});
  expect_input_error([&] { optim::Muon bad({w}, {.nesterov = true}); }, {"Muon", "nesterov", "group 0"});
  expect_input_error([&] { optim::Muon bad({w}, {.lr = -1}); }, {"Muon", "learning rate", "-1"});
  expect_input_error([&] { optim::Muon bad({w}, {.ns_steps = 0}); }, {"Muon", "ns_steps", "0"});
  optim::GroupOptions wd = optim::muon_group({});
  wd.weight_decay = 0.1;
  expect_input_error([&] { optim::Muon bad({{{w}, wd}}, {}); }, {"Muon", "weight_decay", "0.1"});
}

TEST(Muon, CombinesWithSgdAsTheRecordDoes) {
  // The record: conv filters -> Muon, everything else -> SGD, two optimizers on disjoint lists.
  Generator gen(8);
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(64, 3, true, gen)});
  std::vector<Tensor> filters, rest;
  for (const Tensor& p : net->parameters()) (p.dim() == 4 ? filters : rest).push_back(p);
  optim::SGD sgd({{rest, optim::sgd_group({.lr = 0.1, .momentum = 0.85, .nesterov = true})}}, net.get());
  optim::Muon muon(filters, {.lr = 0.24, .momentum = 0.6, .nesterov = true});
  const StateDict before = net->state_dict();
  std::vector<std::vector<float>> start;
  for (const auto& [n, p] : before) start.push_back(p.to_vector<float>());
  Tensor x = Tensor::normal({2, 3, 4, 4}, 0.f, 1.f, gen);
  sgd.zero_grad();
  muon.zero_grad();
  ops::cross_entropy((*net)(x), Tensor::from_vector<int64_t>({0, 2}, {2})).backward();
  sgd.step();
  muon.step();
  size_t i = 0;
  for (const auto& [n, p] : net->state_dict()) EXPECT_NE(p.to_vector<float>(), start[i++]) << n << " did not move";
  // The filter bank's update is orthogonal-ish: the record's normalisation keeps ||W|| near sqrt(out).
  const std::vector<float> w = filters[0].to_vector<float>();
  double ss = 0;
  for (float e : w) ss += double(e) * e;
  EXPECT_NEAR(std::sqrt(ss), 2.0, 0.6);
}

TEST(Muon, CudaTwinEqualsTheCpu) {
  GPUNET_REQUIRE_GPU();
  const auto fx = fixture();
  const Device cuda = Device::parse("cuda:0");
  for (const std::string cfg : {"rec", "orig", "bf16"}) {
    optim::Muon cpu(leaves(fx, cfg), config(cfg));
    optim::Muon gpu(leaves(fx, cfg, cuda), config(cfg));
    // bf16: cuBLAS sums the products in another order than OpenBLAS; a moved bf16 rounding
    // carries through the iteration (see MatchesTheRecordsBf16Iteration), still far below 6.9e-3.
    const double tol = cfg == "bf16" ? 5 * kBf16Tol : 1e-5;
    for (int s = 0; s < 3; ++s) {
      set_grads(cpu, fx, cfg, s);
      set_grads(gpu, fx, cfg, s);
      cpu.step();
      gpu.step();
      for (size_t i = 0; i < kNames.size(); ++i)
        EXPECT_ALL_CLOSE(gpu.params()[i], cpu.params()[i], cfg == "bf16" ? 0 : 2e-6, tol)
            << cfg << " step " << s << ": " << kNames[i];
    }
  }
}

TEST(Muon, CudaGraphReplayIsBitIdenticalToEager) {
  GPUNET_REQUIRE_GPU();
  const Device cuda = Device::parse("cuda:0");
  auto run = [&](GraphMode mode) {
    Generator gen(21);
    auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1, false, gen), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(128, 3, false, gen)});
    net->to(cuda);
    optim::Muon muon(*net, {.lr = 0.05, .momentum = 0.6, .nesterov = true});
    TrainStep step(*net, muon, mode);
    Tensor x = Tensor::normal({4, 3, 4, 4}, 0.f, 1.f, gen).to(cuda);
    Tensor y = Tensor::from_vector<int64_t>({0, 2, 1, 2}, {4}).to(cuda);
    for (int s = 0; s < 8; ++s) step(x, y);
    std::vector<std::vector<float>> w;
    for (const Tensor& p : net->parameters()) w.push_back(p.to_vector<float>());
    return std::make_pair(w, step.graph_steps());
  };
  const auto eager = run(GraphMode::Off), graph = run(GraphMode::On);
  EXPECT_EQ(graph.second, 6);  // two warm-up steps, then captured and replayed
  EXPECT_EQ(eager.first, graph.first);
}
