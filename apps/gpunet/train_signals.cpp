// `gpunet train`: SIGINT and SIGTERM end the run cleanly. The handler only records the signal;
// the loop finishes the step in flight, the checkpoint policy saves, and the run exits with
// 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by them.
#include <csignal>

#include "train_run.h"

namespace gpunet::cli::train {
namespace {

volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }
struct sigaction g_old_int {}, g_old_term {};

}  // namespace

SignalWatch::SignalWatch() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  g_signal = 0;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

SignalWatch::~SignalWatch() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int SignalWatch::received() const { return g_signal; }

int SignalWatch::exit_code(int sig) { return sig == SIGINT ? 130 : 143; }

const char* SignalWatch::name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

}  // namespace gpunet::cli::train
