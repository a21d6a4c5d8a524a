#pragma once
// Internal: the op front ends' side of gpunet::KernelPathLog (include/gpunet/kernel_paths.h).
#include <string>

#include "gpunet/device.h"
#include "kernels/conv2d.h"

namespace gpunet::ops::detail {

/// True while a KernelPathLog is alive (cheap: ops test it before building any string).
bool kernel_paths_recording();
/// Records that `op` ran `path` on `shape` on `device` (no-op when not recording).
void note_kernel_path(const char* op, const std::string& path, const std::string& shape, Device device);

/// The conv2d path the kernels take for shape s on device: on the CPU "direct" (the AVX
/// kernels of conv2d_direct.cpp), "onednn" / "onednn-plain" (conv2d_dnnl.cpp, blocked / plain
/// layout) or "im2col+openblas"; under bf16 autocast "onednn-bf16" or one of the float32 paths
/// with "(bf16-rounded)" appended (kernels/cpu/bf16.h); on a GPU "cudnn". The one place that
/// names conv paths.
std::string conv2d_path(const kernels::Conv2dShape& s, Device device, bool bf16 = false);
/// conv2d_path for s, recorded when a log is alive; called by the conv2d front end.
void note_conv2d_path(const kernels::Conv2dShape& s, Device device, bool bf16 = false);

}  // namespace gpunet::ops::detail
