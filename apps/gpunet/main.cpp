// gpunet: the command line. Subcommands are wired here; each lives in its own file.
// Every error becomes one line on stderr and exit code 2 (bad input) — never a stack dump.
#include <cstdio>
#include <exception>
#include <new>

#include "blas_core.h"
#include "commands.h"
#include "gpunet/config.h"
#include "gpunet/error.h"

int main(int argc, char** argv) {
  gpunet::cli::fix_blas_core(argv);  // may re-execute once with OPENBLAS_CORETYPE (blas_core.h)
  CLI::App app{"gpunet: train neural networks on the GPU (or the CPU), in C++"};
  app.set_version_flag("--version", std::string("gpunet ") + GPUNET_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  gpunet::cli::register_train(app, exit_code);
  gpunet::cli::register_eval(app, exit_code);
  gpunet::cli::register_predict(app, exit_code);
  gpunet::cli::register_doctor(app, exit_code);
  gpunet::cli::register_plot(app, exit_code);
  gpunet::cli::register_data(app, exit_code);
  gpunet::cli::register_bench(app, exit_code);
  gpunet::cli::register_export(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gpunet: error: %s (see gpunet --help)\n", e.what());
    return 2;
  } catch (const gpunet::Error& e) {
    std::fprintf(stderr, "gpunet: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "gpunet: error: out of host memory; try a smaller --batch-size\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpunet: error: %s\n", e.what());
    return 2;
  }
  return exit_code;
}
