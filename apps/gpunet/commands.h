#pragma once
// The subcommands of `gpunet`. Each file registers one: it adds a CLI11 subcommand to `app`
// whose callback runs the command and stores its exit code in `exit_code`. Errors are thrown
// (gpunet::InputError for bad input); main() turns them into one line on stderr and exit 2.
#include <CLI/CLI.hpp>

namespace gpunet::cli {

void register_train(CLI::App& app, int& exit_code);    // train.cpp
void register_eval(CLI::App& app, int& exit_code);     // eval.cpp
void register_predict(CLI::App& app, int& exit_code);  // predict.cpp
void register_doctor(CLI::App& app, int& exit_code);   // doctor.cpp
void register_plot(CLI::App& app, int& exit_code);     // plot.cpp
void register_data(CLI::App& app, int& exit_code);     // data.cpp  (data download | verify)
void register_bench(CLI::App& app, int& exit_code);    // bench.cpp
void register_export(CLI::App& app, int& exit_code);   // export.cpp (ONNX)

}  // namespace gpunet::cli
