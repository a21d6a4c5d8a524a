// Learning-rate schedules evaluated on the host into per-step tables, with PyTorch's formulas
// and operation order (StepLR's repeated product, OneCycleLR's phases, numpy.interp).
#include "gpunet/optim/schedule.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <sstream>

#include "gpunet/error.h"

namespace gpunet::optim {
namespace {

// numpy.interp for one x over increasing xp (compiled_base.c's arr_interp, scalar path).
double interp(double x, const std::vector<Breakpoint>& p) {
  const size_t n = p.size();
  if (x <= p[0].step) return p[0].factor;  // left of (or at) the first breakpoint
  if (x >= p[n - 1].step) return p[n - 1].factor;
  size_t j = 0;
  while (j + 1 < n && p[j + 1].step <= x) ++j;
  if (p[j].step == x) return p[j].factor;
  const double slope = (p[j + 1].factor - p[j].factor) / (p[j + 1].step - p[j].step);
  return slope * (x - p[j].step) + p[j].factor;
}

// OneCycleLR's annealing functions, term for term.
double anneal(bool cos, double start, double end, double pct) {
  if (cos) {
    const double cos_out = std::cos(std::numbers::pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

double number(const std::string& spec, const std::string& s, const char* what) {
  errno = 0;
  char* end = nullptr;
  const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  GPUNET_INPUT_CHECK(!s.empty() && end && *end == '\0' && errno == 0 && std::isfinite(v), "--lr-schedule ", spec,
                     ": '", s, "' is not a number (", what, ")");
  return v;
}

int64_t integer(const std::string& spec, const std::string& s, const char* what) {
  const double v = number(spec, s, what);
  GPUNET_INPUT_CHECK(v == std::floor(v) && std::fabs(v) < 9e15, "--lr-schedule ", spec, ": '", s,
                     "' is not a whole number (", what, ")");
  return static_cast<int64_t>(v);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

}  // namespace

Schedule Schedule::constant() { return Schedule(); }

Schedule Schedule::piecewise(std::vector<Breakpoint> points) {
  GPUNET_INPUT_CHECK(!points.empty(), "piecewise schedule: no breakpoints (give at least one (step, factor))");
  for (size_t i = 0; i < points.size(); ++i) {
    const Breakpoint& b = points[i];
    GPUNET_INPUT_CHECK(std::isfinite(b.step) && std::isfinite(b.factor) && b.factor >= 0,
                       "piecewise schedule: breakpoint ", i, " (step ", b.step, ", factor ", b.factor,
                       ") needs a finite step and a finite factor >= 0");
    if (i > 0)
      GPUNET_INPUT_CHECK(b.step > points[i - 1].step, "piecewise schedule: breakpoint ", i, " (step ", b.step,
                         ", factor ", b.factor, ") does not come after breakpoint ", i - 1, " (step ",
                         points[i - 1].step, ", factor ", points[i - 1].factor, "); the steps must increase strictly");
  }
  Schedule s;
  s.kind_ = Kind::Piecewise;
  s.points_ = std::move(points);
  return s;
}

Schedule Schedule::warmup_cosine(int64_t warmup_steps, double min_factor) {
  GPUNET_INPUT_CHECK(warmup_steps >= 0, "warmup_cosine schedule: invalid warmup_steps ", warmup_steps, " (must be >= 0)");
  GPUNET_INPUT_CHECK(std::isfinite(min_factor) && min_factor >= 0 && min_factor <= 1,
                     "warmup_cosine schedule: invalid min_factor ", min_factor, " (must be in [0, 1])");
  Schedule s;
  s.kind_ = Kind::WarmupCosine;
  s.n_ = warmup_steps;
  s.factor_ = min_factor;
  return s;
}

Schedule Schedule::one_cycle(OneCycleOptions o) {
  GPUNET_INPUT_CHECK(std::isfinite(o.pct_start) && o.pct_start >= 0 && o.pct_start <= 1,
                     "one_cycle schedule: invalid pct_start ", o.pct_start, " (must be in [0, 1])");
  GPUNET_INPUT_CHECK(std::isfinite(o.div_factor) && o.div_factor > 0, "one_cycle schedule: invalid div_factor ",
                     o.div_factor, " (must be > 0)");
  GPUNET_INPUT_CHECK(std::isfinite(o.final_div_factor) && o.final_div_factor > 0,
                     "one_cycle schedule: invalid final_div_factor ", o.final_div_factor, " (must be > 0)");
  for (double m : o.max_lr)
    GPUNET_INPUT_CHECK(std::isfinite(m) && m >= 0, "one_cycle schedule: invalid max_lr ", m, " (must be >= 0)");
  Schedule s;
  s.kind_ = Kind::OneCycle;
  s.one_cycle_ = std::move(o);
  return s;
}

Schedule Schedule::step_decay(int64_t step_size, double gamma) {
  GPUNET_INPUT_CHECK(step_size >= 1, "step_decay schedule: invalid step_size ", step_size, " (must be >= 1)");
  GPUNET_INPUT_CHECK(std::isfinite(gamma) && gamma >= 0, "step_decay schedule: invalid gamma ", gamma,
                     " (must be finite and >= 0)");
  Schedule s;
  s.kind_ = Kind::StepDecay;
  s.n_ = step_size;
  s.factor_ = gamma;
  return s;
}

Schedule Schedule::parse(const std::string& spec) {
  try {
    return parse_spec(spec);
  } catch (const InputError& e) {  // a constructor's check: say which flag value it came from
    const std::string what = e.what();
    if (what.rfind("--lr-schedule", 0) == 0) throw;
    throw InputError("--lr-schedule " + spec + ": " + what);
  }
}

Schedule Schedule::parse_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::vector<std::string> args = colon == std::string::npos ? std::vector<std::string>{}
                                                                    : split(spec.substr(colon + 1), ':');
  auto arity = [&](size_t lo, size_t hi, const char* form) {
    GPUNET_INPUT_CHECK(args.size() >= lo && args.size() <= hi, "--lr-schedule ", spec, ": expected ", form);
  };
  if (name == "none") {
    arity(0, 0, "none");
    return constant();
  }
  if (name == "step") {
    arity(2, 2, "step:SIZE:GAMMA");
    return step_decay(integer(spec, args[0], "SIZE"), number(spec, args[1], "GAMMA"));
  }
  if (name == "cosine") {
    arity(1, 2, "cosine:WARMUP_STEPS[:MIN_FACTOR]");
    return warmup_cosine(integer(spec, args[0], "WARMUP_STEPS"),
                         args.size() > 1 ? number(spec, args[1], "MIN_FACTOR") : 0.0);
  }
  if (name == "onecycle") {
    arity(0, 1, "onecycle[:PCT_START]");
    OneCycleOptions o;
    if (!args.empty()) o.pct_start = number(spec, args[0], "PCT_START");
    return one_cycle(o);
  }
  if (name == "piecewise") {
    GPUNET_INPUT_CHECK(colon != std::string::npos, "--lr-schedule ", spec, ": expected piecewise:S0:F0,S1:F1,...");
    std::vector<Breakpoint> pts;
    for (const std::string& pair : split(spec.substr(colon + 1), ',')) {
      const std::vector<std::string> sf = split(pair, ':');
      GPUNET_INPUT_CHECK(sf.size() == 2, "--lr-schedule ", spec, ": breakpoint '", pair, "' is not STEP:FACTOR");
      pts.push_back({number(spec, sf[0], "STEP"), number(spec, sf[1], "FACTOR")});
    }
    return piecewise(std::move(pts));
  }
  throw InputError("--lr-schedule " + spec +
                   ": unknown schedule; use none, step:SIZE:GAMMA, cosine:WARMUP_STEPS[:MIN_FACTOR], "
                   "onecycle[:PCT_START] or piecewise:S0:F0,S1:F1,...");
}

std::vector<double> Schedule::table(int64_t total_steps, const std::vector<double>& base_lrs) const {
  GPUNET_INPUT_CHECK(total_steps >= 1, "schedule: invalid total_steps ", total_steps, " (must be >= 1)");
  for (double b : base_lrs)
    GPUNET_INPUT_CHECK(std::isfinite(b) && b >= 0, "schedule: invalid base lr ", b, " (must be >= 0)");
  const size_t G = base_lrs.size(), T = static_cast<size_t>(total_steps);
  std::vector<double> out(T * G);
  if (kind_ == Kind::OneCycle) {
    const OneCycleOptions& o = one_cycle_;
    GPUNET_INPUT_CHECK(o.max_lr.size() <= 1 || o.max_lr.size() == G, "one_cycle schedule: ", o.max_lr.size(),
                       " max_lr values for ", G, " parameter groups (give one, or one per group)");
    const double Td = static_cast<double>(total_steps);
    struct Phase {
      double end;
      int from, to;  // 0 initial_lr, 1 max_lr, 2 min_lr
    };
    std::vector<Phase> phases;
    if (o.three_phase)
      phases = {{o.pct_start * Td - 1, 0, 1}, {2 * o.pct_start * Td - 2, 1, 0}, {Td - 1, 0, 2}};
    else
      phases = {{o.pct_start * Td - 1, 0, 1}, {Td - 1, 1, 2}};
    for (size_t g = 0; g < G; ++g) {
      const double max_lr = o.max_lr.empty() ? base_lrs[g] : o.max_lr.size() == 1 ? o.max_lr[0] : o.max_lr[g];
      const double initial = max_lr / o.div_factor;
      const double lrs[3] = {initial, max_lr, initial / o.final_div_factor};
      for (size_t t = 0; t < T; ++t) {
        const double step = static_cast<double>(t);
        double start = 0.0;
        for (size_t i = 0; i < phases.size(); ++i) {
          if (step <= phases[i].end || i + 1 == phases.size()) {
            // PyTorch divides by zero here (ZeroDivisionError); say why instead.
            GPUNET_INPUT_CHECK(phases[i].end != start, "one_cycle schedule: ", total_steps, " steps with pct_start ",
                               o.pct_start, " leave phase ", i, " without steps; use more steps or another pct_start");
            const double pct = (step - start) / (phases[i].end - start);
            out[t * G + g] = anneal(o.cos, lrs[phases[i].from], lrs[phases[i].to], pct);
            break;
          }
          start = phases[i].end;
        }
      }
    }
    return out;
  }
  for (size_t g = 0; g < G; ++g) {
    double lr = base_lrs[g];  // StepLR's running product
    for (size_t t = 0; t < T; ++t) {
      const double step = static_cast<double>(t);
      double v = base_lrs[g];
      switch (kind_) {
        case Kind::Constant: break;
        case Kind::Piecewise: v = base_lrs[g] * interp(step, points_); break;
        case Kind::WarmupCosine: {
          const double W = static_cast<double>(n_);
          double f;
          if (step < W) {
            f = step / std::max(1.0, W);
          } else {
            const double progress = (step - W) / std::max(1.0, static_cast<double>(total_steps) - W);
            f = factor_ + (1.0 - factor_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
          }
          v = base_lrs[g] * f;
          break;
        }
        case Kind::StepDecay:
          if (t > 0 && static_cast<int64_t>(t) % n_ == 0) lr = lr * factor_;
          v = lr;
          break;
        case Kind::OneCycle: break;  // handled above
      }
      out[t * G + g] = v;
    }
  }
  return out;
}

}  // namespace gpunet::optim
