// Start-up of a data-parallel run: the settings check, then rank 0's state to every rank.
#include "gpunet/dist/startup.h"

#include <map>

#include "gpunet/autograd.h"

namespace gpunet::dist {

std::string rank_list(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

namespace {
// The record of one rank's settings: name \x1f value \x1e, in order.
std::string encode(const Settings& settings) {
  std::string s;
  for (const auto& [k, v] : settings) s += k + '\x1f' + v + '\x1e';
  return s;
}
Settings decode(const std::string& s) {
  Settings out;
  size_t at = 0;
  while (at < s.size()) {
    const size_t us = s.find('\x1f', at), rs = s.find('\x1e', at);
    if (us == std::string::npos || rs == std::string::npos || us > rs) break;
    out.emplace_back(s.substr(at, us - at), s.substr(us + 1, rs - us - 1));
    at = rs + 1;
  }
  return out;
}
std::string shorten(const std::string& v) { return v.size() > 60 ? v.substr(0, 57) + "..." : v; }
}  // namespace

void check_agreement(ProcessGroup& pg, const Settings& settings) {
  const std::vector<std::string> all = pg.allgather(encode(settings));
  std::vector<Settings> per_rank;
  for (const auto& s : all) per_rank.push_back(decode(s));
  for (size_t k = 0; k < settings.size(); ++k) {
    // value -> ranks holding it, in order of first appearance
    std::vector<std::pair<std::string, std::vector<int>>> groups;
    const std::string& name = settings[k].first;
    for (size_t r = 0; r < per_rank.size(); ++r) {
      const Settings& s = per_rank[r];
      const std::string v = k < s.size() && s[k].first == name ? s[k].second : "(missing)";
      auto it = groups.begin();
      while (it != groups.end() && it->first != v) ++it;
      if (it == groups.end()) groups.push_back({v, {static_cast<int>(r)}});
      else it->second.push_back(static_cast<int>(r));
    }
    if (groups.size() == 1) continue;
    std::string msg = "distributed: the ranks disagree on " + name + ": ";
    for (size_t g = 0; g < groups.size(); ++g)
      msg += (g ? ", " : "") + shorten(groups[g].first) + " on " + rank_list(groups[g].second);
    throw MismatchError(msg + "; start every rank with the same settings and data");
  }
}

std::string model_signature(const nn::Module& model) {
  std::string s;
  for (const auto& [name, t] : model.state_dict()) {
    s += name + ":" + dtype_name(t.dtype()) + "[";
    for (int64_t d : t.shape()) s += std::to_string(d) + ",";
    s += "];";
  }
  return s;
}

void broadcast_state(ProcessGroup& pg, nn::Module& model) {
  NoGradGuard no_grad;
  for (auto& [name, t] : model.state_dict()) {
    Tensor dst = t;
    if (dst.is_contiguous()) {
      pg.broadcast(dst, 0);
    } else {
      Tensor c = dst.contiguous();
      pg.broadcast(c, 0);
      dst.copy_(c);
    }
  }
}

}  // namespace gpunet::dist
