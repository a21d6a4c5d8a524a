// `gpunet plot METRICS.jsonl -o curve.svg`: the training curves as a self-contained SVG.
// Reads the JSON lines `gpunet train --metrics` writes: {"step","epoch","loss","images_per_second"}
// every log interval and {"epoch","test_accuracy",...} after each epoch. Draws two panels:
// the running loss against the step, and the test accuracy (%) against the epoch.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "gpunet/error.h"

namespace gpunet::cli {
namespace {
namespace fs = std::filesystem;

struct Point {
  double x, y;
};
struct Metrics {
  std::vector<Point> loss;      // (step, loss)
  std::vector<Point> accuracy;  // (epoch, test accuracy in %)
};

double number_field(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) throw InputError(where + ": expected a number in \"" + key + "\"");
  const double v = it->get<double>();
  if (!std::isfinite(v)) throw InputError(where + ": \"" + key + "\" is not finite");
  return v;
}

Metrics read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the metrics file (no such file or not readable)");
  Metrics m;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
      throw InputError(where + ": not a JSON line (expected the output of `gpunet train --metrics`)");
    }
    if (!j.is_object()) throw InputError(where + ": expected a JSON object");
    if (j.contains("loss")) m.loss.push_back({number_field(j, "step", where), number_field(j, "loss", where)});
    if (j.contains("test_accuracy"))
      m.accuracy.push_back({number_field(j, "epoch", where), 100.0 * number_field(j, "test_accuracy", where)});
  }
  if (in.bad()) throw InputError(path + ": read error");
  if (m.loss.empty() && m.accuracy.empty())
    throw InputError(path + ": no metrics (no line with \"loss\" or \"test_accuracy\"); write them with `gpunet train --metrics " +
                     path + "`");
  return m;
}

// Round numbers for an axis over [lo, hi]: a step of 1, 2 or 5 times a power of ten.
struct Axis {
  double lo, hi, step;
};
Axis nice_axis(double lo, double hi, double min_step = 0, int target_ticks = 6) {
  if (!(hi > lo)) {
    const double pad = std::max(std::fabs(lo) * 0.1, 1.0);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target_ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double f : {1.0, 2.0, 5.0, 10.0})
    if (f * mag >= raw) {
      step = f * mag;
      break;
    }
  step = std::max(step, min_step);
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

std::string num(double v) {
  char buf[32];
  if (std::fabs(v) < 1e-12) v = 0;
  if (std::fabs(v) >= 10000) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
std::string fx(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}
std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// One panel: frame, grid, ticks, axis labels, the series as a polyline (and dots when few).
struct Panel {
  double x0, y0, w, h;  // the plot area in SVG pixels
  Axis ax, ay;
  double px(double x) const { return x0 + (x - ax.lo) / (ax.hi - ax.lo) * w; }
  double py(double y) const { return y0 + h - (y - ay.lo) / (ay.hi - ay.lo) * h; }
};

void draw_panel(std::ostringstream& s, const Panel& p, const std::vector<Point>& pts, const std::string& title,
                const std::string& xlabel, const std::string& ylabel, const std::string& color, const std::string& legend, bool legend_top) {
  s << "<g>\n<rect x='" << fx(p.x0) << "' y='" << fx(p.y0) << "' width='" << fx(p.w) << "' height='" << fx(p.h)
    << "' fill='#fafafa' stroke='#333'/>\n";
  s << "<text x='" << fx(p.x0 + p.w / 2) << "' y='" << fx(p.y0 - 10) << "' text-anchor='middle' font-size='14' font-weight='bold'>"
    << xml_escape(title) << "</text>\n";
  for (double t = p.ax.lo; t <= p.ax.hi + p.ax.step * 1e-6; t += p.ax.step) {
    const double X = p.px(t);
    s << "<line x1='" << fx(X) << "' y1='" << fx(p.y0) << "' x2='" << fx(X) << "' y2='" << fx(p.y0 + p.h)
      << "' stroke='#e0e0e0'/><line x1='" << fx(X) << "' y1='" << fx(p.y0 + p.h) << "' x2='" << fx(X) << "' y2='"
      << fx(p.y0 + p.h + 5) << "' stroke='#333'/>";
    s << "<text x='" << fx(X) << "' y='" << fx(p.y0 + p.h + 18) << "' text-anchor='middle' font-size='11'>" << num(t) << "</text>\n";
  }
  for (double t = p.ay.lo; t <= p.ay.hi + p.ay.step * 1e-6; t += p.ay.step) {
    const double Y = p.py(t);
    s << "<line x1='" << fx(p.x0) << "' y1='" << fx(Y) << "' x2='" << fx(p.x0 + p.w) << "' y2='" << fx(Y)
      << "' stroke='#e0e0e0'/><line x1='" << fx(p.x0 - 5) << "' y1='" << fx(Y) << "' x2='" << fx(p.x0) << "' y2='" << fx(Y)
      << "' stroke='#333'/>";
    s << "<text x='" << fx(p.x0 - 8) << "' y='" << fx(Y + 4) << "' text-anchor='end' font-size='11'>" << num(t) << "</text>\n";
  }
  s << "<text x='" << fx(p.x0 + p.w / 2) << "' y='" << fx(p.y0 + p.h + 38) << "' text-anchor='middle' font-size='12'>"
    << xml_escape(xlabel) << "</text>\n";
  s << "<text transform='translate(" << fx(p.x0 - 48) << "," << fx(p.y0 + p.h / 2)
    << ") rotate(-90)' text-anchor='middle' font-size='12'>" << xml_escape(ylabel) << "</text>\n";
  if (pts.empty()) {
    s << "<text x='" << fx(p.x0 + p.w / 2) << "' y='" << fx(p.y0 + p.h / 2)
      << "' text-anchor='middle' font-size='12' fill='#888'>no data</text>\n</g>\n";
    return;
  }
  s << "<polyline fill='none' stroke='" << color << "' stroke-width='1.8' stroke-linejoin='round' points='";
  for (const Point& q : pts) s << fx(p.px(q.x)) << "," << fx(p.py(q.y)) << " ";
  s << "'/>\n";
  if (pts.size() <= 60)
    for (const Point& q : pts)
      s << "<circle cx='" << fx(p.px(q.x)) << "' cy='" << fx(p.py(q.y)) << "' r='3' fill='" << color << "'/>";
  // legend, inside the panel at the right, top or bottom (away from a falling / rising curve)
  const double lx = p.x0 + p.w - 150, ly = legend_top ? p.y0 + 12 : p.y0 + p.h - 36;
  s << "\n<rect x='" << fx(lx) << "' y='" << fx(ly) << "' width='140' height='24' fill='white' stroke='#bbb'/>"
    << "<line x1='" << fx(lx + 8) << "' y1='" << fx(ly + 12) << "' x2='" << fx(lx + 32) << "' y2='" << fx(ly + 12)
    << "' stroke='" << color << "' stroke-width='2'/><text x='" << fx(lx + 38) << "' y='" << fx(ly + 16)
    << "' font-size='12'>" << xml_escape(legend) << "</text>\n</g>\n";
}

Axis range_of(const std::vector<Point>& pts, bool use_x, double dflt_lo, double dflt_hi, double min_step = 0) {
  if (pts.empty()) return nice_axis(dflt_lo, dflt_hi, min_step);
  double lo = INFINITY, hi = -INFINITY;
  for (const Point& q : pts) {
    lo = std::min(lo, use_x ? q.x : q.y);
    hi = std::max(hi, use_x ? q.x : q.y);
  }
  return nice_axis(lo, hi, min_step);
}

std::string render_svg(const Metrics& m, const std::string& title) {
  const double W = 1000, H = 440;
  std::ostringstream s;
  s << "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' viewBox='0 0 " << W << " " << H << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  s << "<text x='" << W / 2 << "' y='28' text-anchor='middle' font-size='18'>" << xml_escape(title) << "</text>\n";
  Panel loss{70, 70, 390, 300, range_of(m.loss, true, 0, 1), range_of(m.loss, false, 0, 1)};
  if (loss.ay.lo < 0) loss.ay.lo = 0;  // a loss is >= 0: no axis below 0
  draw_panel(s, loss, m.loss, "Training loss", "step", "loss", "#1f77b4", "running loss", true);
  Panel acc{580, 70, 390, 300, range_of(m.accuracy, true, 0, 1, 1.0), range_of(m.accuracy, false, 0, 100)};
  if (acc.ax.lo < 0) acc.ax.lo = 0;
  acc.ay.lo = std::max(0.0, acc.ay.lo);
  acc.ay.hi = std::min(100.0, acc.ay.hi);
  if (!(acc.ay.hi > acc.ay.lo)) acc.ay = {0, 100, 20};
  draw_panel(s, acc, m.accuracy, "Test accuracy", "epoch", "accuracy (%)", "#d62728", "test accuracy", false);
  s << "</svg>\n";
  return s.str();
}

// Temp file in the same folder, then rename(2): readers never see half a file.
void write_atomically(const std::string& path, const std::string& text) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("-o " + path + ": the folder " + dir.string() + " does not exist");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("-o " + path + ": cannot write there (permissions?)");
    out << text;
    out.flush();
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      throw InputError("-o " + path + ": write failed (disk full?)");
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw InputError("-o " + path + ": cannot replace the file (" + ec.message() + ")");
  }
}

struct PlotArgs {
  std::string metrics, out, title;
};

}  // namespace

void register_plot(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PlotArgs>();
  CLI::App* cmd = app.add_subcommand("plot", "Draw the loss and accuracy curves of a metrics file as SVG");
  cmd->add_option("metrics", a->metrics, "JSON lines from `gpunet train --metrics`")->required();
  cmd->add_option("-o,--output", a->out, "The SVG file to write")->required();
  cmd->add_option("--title", a->title, "Title (default: the metrics file's name)");
  cmd->callback([a, &exit_code] {
    const Metrics m = read_metrics(a->metrics);
    const std::string title = a->title.empty() ? "gpunet training: " + fs::path(a->metrics).filename().string() : a->title;
    write_atomically(a->out, render_svg(m, title));
    std::cerr << "wrote " << a->out << " (" << m.loss.size() << " loss points, " << m.accuracy.size()
              << " accuracy points)\n";
    exit_code = 0;
  });
}

}  // namespace gpunet::cli
