#pragma once
// Running a helper program (a PyTorch check script) from a test.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace gpunet::test {

/// Runs `cmd` through the shell; returns its exit status (-1 when it did not exit) and its
/// stdout+stderr.
inline std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// The Python that has torch for interop checks: $GPUNET_TORCH_PYTHON, else python3.
inline std::string torch_python() {
  const char* e = std::getenv("GPUNET_TORCH_PYTHON");
  return e && *e ? e : "python3";
}

}  // namespace gpunet::test
