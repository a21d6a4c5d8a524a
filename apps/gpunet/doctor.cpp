// `gpunet doctor`: what this build is, which devices are usable, and why no GPU is used.
#include <omp.h>

#include <cstdio>

#include "commands.h"
#include "common.h"
#include "gpunet/config.h"
#include "gpunet/device.h"

extern "C" char* openblas_get_config(void);

namespace gpunet::cli {

void register_doctor(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("doctor", "show the build, the usable devices, and why a GPU is or is not used");
  cmd->callback([&exit_code]() {
    std::printf("gpunet %s\n", GPUNET_VERSION);
    std::printf("build: CUDA backend %s", GPUNET_HAVE_CUDA ? "compiled in" : "not compiled (CPU-only build)");
    if (GPUNET_HAVE_CUDA) std::printf(" (architectures %s)", GPUNET_CUDA_ARCHITECTURES);
    std::printf("\n");
    if (GPUNET_HAVE_CUDA) std::printf("cuda: %s\n", cuda::version_string().c_str());
    std::printf("cpu: %d OpenMP threads; OpenBLAS %s; kernels %s\n", omp_get_max_threads(), openblas_get_config(),
                cpu_kernels().c_str());
    const int n = cuda::device_count();
    std::printf("devices: cpu");
    for (int i = 0; i < n; ++i) std::printf(", cuda:%d (%s)", i, cuda::device_name(i).c_str());
    std::printf("\n");
    const Device best = Device::best();
    if (best.is_cuda()) std::printf("default device: %s\n", best.str().c_str());
    else std::printf("default device: cpu, because %s\n", cuda::unavailable_reason().c_str());
    const DataChoice dc = choose_data("");
    std::printf("data: %s%s\n", dc.dir.c_str(), dc.sample ? " (the embedded sample)" : "");
    exit_code = 0;
  });
}

}  // namespace gpunet::cli
