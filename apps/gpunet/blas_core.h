#pragma once
// OpenBLAS's kernel choice. Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise some
// newer x86 CPUs (this project's 2026 Xeons report "Intel(R) Xeon(R) Processor") and falls back
// to its Prescott (SSE3) kernels: sgemm, and so every im2col convolution and linear, then runs
// at a fraction of the AVX-512 speed (71% of an airbench94 step was sgemm_kernel_PRESCOTT).
// OpenBLAS reads OPENBLAS_CORETYPE only when it loads, before main(), so the CLI re-executes
// itself once with the core the CPU supports.
#include <string>

namespace gpunet::cli {

/// The kernel set OpenBLAS uses ("SkylakeX", "Haswell", "Prescott", ...).
std::string blas_core();

/// Call first in main(). When OPENBLAS_CORETYPE is unset, OpenBLAS chose Prescott and the CPU
/// has AVX-512 (SkylakeX kernels) or AVX2+FMA (Haswell), sets OPENBLAS_CORETYPE and execv's
/// /proc/self/exe with the same argv. Returns (doing nothing) when the variable is set (by the
/// user, or by the first run: no loop), the choice is fine, the program runs under valgrind
/// (which would not follow the exec), or execv fails.
void fix_blas_core(char** argv);

}  // namespace gpunet::cli
