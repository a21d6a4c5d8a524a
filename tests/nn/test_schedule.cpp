// Learning-rate schedules: each schedule's per-step lrs against PyTorch's schedulers
// (tests/golden/schedules.json, tools/gen_schedules.py), SGD trained with a schedule against
// PyTorch's SGD + scheduler, the lr advanced on the device by the step itself (eager, CUDA
// graph replay, CPU/CUDA parity), the table's end, bad input, and checkpoint/resume bit for bit.
#include <gtest/gtest.h>

#include "gpunet/gpunet.h"
#include "gpunet/optim/schedule.h"
#include "io/io_test_util.h"
#include "support/assert_close.h"
#include "support/golden.h"
#include "support/gpu.h"

using namespace gpunet;
using io::testing::expect_input_error;
using nlohmann::json;

namespace {

optim::Schedule from_json(const json& d) {
  const std::string kind = d.at("kind");
  if (kind == "step") return optim::Schedule::step_decay(d.at("step_size"), d.at("gamma"));
  if (kind == "cosine") return optim::Schedule::warmup_cosine(d.at("warmup"), d.at("min_factor"));
  if (kind == "piecewise") {
    std::vector<optim::Breakpoint> pts;
    for (const auto& p : d.at("points")) pts.push_back({p[0].get<double>(), p[1].get<double>()});
    return optim::Schedule::piecewise(pts);
  }
  optim::OneCycleOptions o;
  o.max_lr = d.at("max_lr").get<std::vector<double>>();
  o.pct_start = d.value("pct_start", 0.3);
  o.cos = d.value("cos", true);
  o.div_factor = d.value("div_factor", 25.0);
  o.final_div_factor = d.value("final_div_factor", 1e4);
  o.three_phase = d.value("three_phase", false);
  return optim::Schedule::one_cycle(o);
}

const json& fixture() {
  static const json fx = test::load_golden("schedules.json");
  return fx;
}

// A Linear(4, 3) with the fixture's initial weights, its SGD in two groups (weight lr 0.1,
// bias lr 0.4; Nesterov, weight decay), the fixed batch and loss of tools/gen_schedules.py.
struct Trainee {
  Generator gen{5};
  std::shared_ptr<nn::Linear> lin = std::make_shared<nn::Linear>(4, 3, true, gen);
  Tensor x, y;
  std::unique_ptr<optim::SGD> opt;
  explicit Trainee(const json& c, Device dev = Device::cpu()) {
    lin->load_state_dict({{"weight", test::golden_tensor(c.at("init").at("weight"))},
                          {"bias", test::golden_tensor(c.at("init").at("bias"))}});
    lin->to(dev);
    x = test::golden_tensor(c.at("x")).to(dev);
    y = Tensor::from_vector<int64_t>(c.at("y").get<std::vector<int64_t>>(), {6}, dev);
    const optim::SGDOptions o{.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true};
    optim::SGDOptions ob = o;
    ob.lr = 0.4;
    opt = std::make_unique<optim::SGD>(
        std::vector<optim::ParamGroup>{{{lin->weight}, optim::sgd_group(o)}, {{lin->bias}, optim::sgd_group(ob)}},
        lin.get());
  }
  void step() {
    opt->zero_grad();
    ops::cross_entropy((*lin)(x), y).backward();
    opt->step();
  }
};

std::vector<float> host(const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); }

}  // namespace

TEST(Schedule, ValuesEqualPyTorchSchedulers) {
  for (const auto& [name, c] : fixture().at("values").items()) {
    SCOPED_TRACE(name);
    const auto base = c.at("base_lrs").get<std::vector<double>>();
    const int64_t T = c.at("total_steps");
    const std::vector<double> got = from_json(c.at("schedule")).table(T, base);
    std::vector<double> want;
    for (const auto& row : c.at("lr"))
      for (const auto& v : row) want.push_back(v.get<double>());
    // Same formulas in the same order in double; a few ulps allowed for cos and libm.
    EXPECT_ALL_CLOSE(got, want, 1e-17, 1e-14);
  }
}

TEST(Schedule, SgdWithScheduleEqualsPyTorchSgdWithScheduler) {
  for (const auto& [name, c] : fixture().at("training").items()) {
    SCOPED_TRACE(name);
    Trainee t(c);
    const int64_t T = c.at("total_steps");
    t.opt->set_schedule(from_json(c.at("schedule")), T);
    for (int64_t s = 0; s < T; ++s) t.step();
    EXPECT_ALL_CLOSE(host(t.lin->weight), test::golden_floats(c.at("final").at("weight")), 1e-6, 1e-5);
    EXPECT_ALL_CLOSE(host(t.lin->bias), test::golden_floats(c.at("final").at("bias")), 1e-6, 1e-5);
    // The test can fail: without the schedule the weights end elsewhere.
    Trainee plain(c);
    for (int64_t s = 0; s < T; ++s) plain.step();
    EXPECT_FALSE(test::all_close(host(plain.lin->bias), test::golden_floats(c.at("final").at("bias")), 1e-6, 1e-5));
  }
}

TEST(Schedule, StepSetsTheNextLrOnTheDeviceLikeSetLrByHand) {
  const json& c = fixture().at("training").at("onecycle");
  Trainee sched(c), by_hand(c);
  const optim::Schedule s = optim::Schedule::one_cycle();
  const std::vector<double> table = s.table(12, {0.1, 0.4});
  sched.opt->set_schedule(s, 12);
  EXPECT_TRUE(sched.opt->has_schedule());
  EXPECT_EQ(sched.opt->lr(1), 0.4);  // the base lr is kept
  for (int64_t k = 0; k < 12; ++k) {
    EXPECT_EQ(sched.opt->current_lr(0), table[2 * k]);
    EXPECT_EQ(sched.opt->current_lr(1), table[2 * k + 1]);
    by_hand.opt->set_lr(0, table[2 * k]);
    by_hand.opt->set_lr(1, table[2 * k + 1]);
    sched.step();
    by_hand.step();
  }
  EXPECT_EQ(host(sched.lin->weight), host(by_hand.lin->weight));
  EXPECT_EQ(host(sched.lin->bias), host(by_hand.lin->bias));
  // After the table's end the last row holds.
  sched.step();
  sched.step();
  EXPECT_EQ(sched.opt->current_lr(0), table[22]);
  EXPECT_EQ(sched.opt->current_lr(1), table[23]);
  // set_lr and a schedule do not mix; clearing goes back to the base lrs.
  expect_input_error([&] { sched.opt->set_lr(0, 0.5); }, {"set_lr", "schedule"});
  sched.opt->clear_schedule();
  EXPECT_EQ(sched.opt->current_lr(1), 0.4);
}

TEST(Schedule, AdamReadsTheScheduledLr) {
  Generator g1(2), g2(2);
  nn::Linear a(5, 2, true, g1), b(5, 2, true, g2);
  optim::Adam sa(a, {.lr = 0.01}), sb(b, {.lr = 0.01});
  const optim::Schedule s = optim::Schedule::step_decay(2, 0.5);
  sa.set_schedule(s, 8);
  const std::vector<double> table = s.table(8, {0.01});
  Generator gx(9);
  const Tensor x = Tensor::uniform({3, 5}, -1.f, 1.f, gx);
  const Tensor y = Tensor::from_vector<int64_t>({0, 1, 1}, {3});
  for (int k = 0; k < 8; ++k) {
    sb.set_lr(0, table[k]);
    for (auto [m, o] : {std::pair<nn::Linear*, optim::Optimizer*>{&a, &sa}, {&b, &sb}}) {
      o->zero_grad();
      ops::cross_entropy((*m)(x), y).backward();
      o->step();
    }
  }
  EXPECT_EQ(a.weight.to_vector<float>(), b.weight.to_vector<float>());
}

TEST(Schedule, ResumeContinuesTheScheduleBitForBit) {
  const json& c = fixture().at("training").at("cosine");
  const optim::Schedule s = optim::Schedule::warmup_cosine(5, 0.1);
  Trainee whole(c);
  whole.opt->set_schedule(s, 12);
  for (int k = 0; k < 12; ++k) whole.step();

  Trainee first(c);
  first.opt->set_schedule(s, 12);
  for (int k = 0; k < 7; ++k) first.step();
  StateDict weights, state;
  for (auto& [n, t] : first.lin->state_dict()) weights.emplace_back(n, t.clone());
  for (auto& [n, t] : first.opt->state_tensors()) state.emplace_back(n, t.clone());
  const auto scalars = first.opt->state_scalars();

  Trainee second(c);  // a fresh process: same schedule, then the saved state (either order)
  second.opt->set_schedule(s, 12);
  second.lin->load_state_dict(weights);
  second.opt->load_state(state, scalars);
  EXPECT_EQ(second.opt->steps(), 7);
  EXPECT_EQ(second.opt->current_lr(1), s.table(12, {0.1, 0.4})[2 * 7 + 1]);
  for (int k = 7; k < 12; ++k) second.step();
  EXPECT_EQ(host(second.lin->weight), host(whole.lin->weight));
  EXPECT_EQ(host(second.lin->bias), host(whole.lin->bias));
}

TEST(Schedule, BadInputIsAnInputErrorNamingTheValue) {
  expect_input_error([] { optim::Schedule::piecewise({{0, 0.2}, {10, 1}, {10, 0.5}}); },
                     {"piecewise", "breakpoint 2", "step 10", "factor 0.5", "breakpoint 1", "increase"});
  expect_input_error([] { optim::Schedule::piecewise({{5, 1}, {3, 0}}); }, {"breakpoint 1", "step 3"});
  expect_input_error([] { optim::Schedule::piecewise({}); }, {"piecewise", "no breakpoints"});
  expect_input_error([] { optim::Schedule::step_decay(0, 0.1); }, {"step_size", "0"});
  expect_input_error([] { optim::Schedule::warmup_cosine(-1); }, {"warmup_steps", "-1"});
  expect_input_error([] { optim::Schedule::one_cycle({.pct_start = 1.5}); }, {"pct_start", "1.5"});
  expect_input_error([] { optim::Schedule::one_cycle({.pct_start = 0.1}).table(10, {0.1}); }, {"one_cycle", "phase 0"});
  expect_input_error([] { optim::Schedule::constant().table(0, {0.1}); }, {"total_steps", "0"});
  expect_input_error([] { optim::Schedule::parse("cosine"); }, {"--lr-schedule", "cosine:WARMUP_STEPS"});
  expect_input_error([] { optim::Schedule::parse("step:10:x"); }, {"'x'", "GAMMA"});
  expect_input_error([] { optim::Schedule::parse("piecewise:0:1,5"); }, {"'5'", "STEP:FACTOR"});
  expect_input_error([] { optim::Schedule::parse("piecewise:0:1,0:2"); }, {"breakpoint 1", "increase"});
  expect_input_error([] { optim::Schedule::parse("linear"); }, {"linear", "unknown schedule"});
}

TEST(Schedule, ParseGivesTheDocumentedSchedules) {
  const std::vector<double> base{0.2};
  auto same = [&](const std::string& spec, const optim::Schedule& s) {
    EXPECT_EQ(optim::Schedule::parse(spec).table(30, base), s.table(30, base)) << spec;
  };
  same("none", optim::Schedule::constant());
  same("step:4:0.5", optim::Schedule::step_decay(4, 0.5));
  same("cosine:3", optim::Schedule::warmup_cosine(3));
  same("cosine:3:0.05", optim::Schedule::warmup_cosine(3, 0.05));
  same("onecycle", optim::Schedule::one_cycle());
  same("onecycle:0.25", optim::Schedule::one_cycle({.pct_start = 0.25}));
  same("piecewise:0:0.2,6:1,30:0", optim::Schedule::piecewise({{0, 0.2}, {6, 1}, {30, 0}}));
}

TEST(Schedule, CudaGraphReplaySeesTheScheduledLr) {
  GPUNET_REQUIRE_GPU();
  const json& c = fixture().at("training").at("step_1");
  const optim::Schedule s = optim::Schedule::step_decay(1, 0.9);
  Trainee cpu(c), gpu(c, Device::cuda(0));
  cpu.opt->set_schedule(s, 12);
  gpu.opt->set_schedule(s, 12);
  EXPECT_EQ(gpu.opt->schedule_table().device(), Device::cuda(0));
  TrainStep cpu_step(*cpu.lin, *cpu.opt), gpu_step(*gpu.lin, *gpu.opt, GraphMode::On);
  for (int k = 0; k < 12; ++k) {
    cpu_step(cpu.x, cpu.y);
    gpu_step(gpu.x, gpu.y);
  }
  EXPECT_GT(gpu_step.graph_steps(), 5);  // most steps were replays of one captured graph
  EXPECT_EQ(gpu.opt->steps(), 12);
  EXPECT_EQ(gpu.opt->current_lr(0), cpu.opt->current_lr(0));
  // The replays followed the schedule: the same weights as the CPU's eager run, and PyTorch's.
  EXPECT_ALL_CLOSE(host(gpu.lin->weight), host(cpu.lin->weight), 1e-6, 1e-5);
  EXPECT_ALL_CLOSE(host(gpu.lin->bias), test::golden_floats(c.at("final").at("bias")), 1e-6, 1e-5);
}
