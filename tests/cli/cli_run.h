#pragma once
// Helpers for the command-line tests: run the built `gpunet` (GPUNET_CLI_PATH) through the
// shell with stdout and stderr captured to files, and a temporary folder removed afterwards.
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gpunet::clitest {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpunet-cli-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Single-quotes `s` for /bin/sh.
inline std::string sh_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') o += "'\\''";
    else o += c;
  }
  return o + "'";
}

struct RunResult {
  int code = -1;    // the exit status (or -1 when killed by a signal)
  std::string out;  // stdout
  std::string err;  // stderr
  /// Non-empty lines of `text`.
  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) v.push_back(l);
    return v;
  }
};

/// Runs `gpunet <args>` (args already quoted for the shell) with `env` prepended (e.g.
/// "GPUNET_DATA= "), in `cwd` when given.
inline RunResult run_cli(const std::string& args, const std::string& cwd = "", const std::string& env = "") {
  TempDir io;
  const std::string out = io / "stdout", err = io / "stderr";
  std::string cmd;
  if (!cwd.empty()) cmd += "cd " + sh_quote(cwd) + " && ";
  cmd += env + sh_quote(GPUNET_CLI_PATH) + " " + args + " >" + sh_quote(out) + " 2>" + sh_quote(err) + " </dev/null";
  const int st = std::system(cmd.c_str());
  RunResult r;
  r.code = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

}  // namespace gpunet::clitest
