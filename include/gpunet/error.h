#pragma once
/// Errors are exceptions. Every failure in gpunet is a gpunet::Error (or a subclass)
/// carrying a one-line, human-readable message; the CLI prints it and exits with 2.
#include <sstream>
#include <stdexcept>
#include <string>

namespace gpunet {

/// Base error: a one-line message saying what is wrong and, where possible, how to fix it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

/// Bad input from a user: a flag, a file, a checkpoint, an image. CLI exit code 2.
class InputError : public Error {
 public:
  using Error::Error;
};

/// A CUDA, cuBLAS or cuDNN call failed: names the statement, file:line, device and message.
class CudaError : public Error {
 public:
  using Error::Error;
};

/// Device memory exhausted: names the size asked for and what is free.
class OutOfMemoryError : public CudaError {
 public:
  using CudaError::CudaError;
};

namespace detail {
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace gpunet

/// GPUNET_CHECK(cond, parts...): throw gpunet::Error with the concatenated message if !cond.
#define GPUNET_CHECK(cond, ...) \
  do {                          \
    if (!(cond)) throw ::gpunet::Error(::gpunet::detail::cat(__VA_ARGS__)); \
  } while (0)
#define GPUNET_INPUT_CHECK(cond, ...) \
  do {                                \
    if (!(cond)) throw ::gpunet::InputError(::gpunet::detail::cat(__VA_ARGS__)); \
  } while (0)
