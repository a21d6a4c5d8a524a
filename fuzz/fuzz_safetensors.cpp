// libFuzzer target: the safetensors reader (gpunet::io::load_safetensors) and the checkpoint
// loaders built on it (load_weights into a small state dict, load_train_state). Accepted
// files must hold tensors whose bytes lie inside the input; anything else is an InputError
// naming the file.
#include <cstring>

#include "fuzz_util.h"
#include "gpunet/io/checkpoint.h"
#include "gpunet/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static gpunet::fuzz::InputFile file("ck.safetensors");
  file.write(data, size);
  const std::string& path = file.path();
  gpunet::fuzz::expect_ok_or_input_error(path, [&] {
    gpunet::io::SafetensorsFile f = gpunet::io::load_safetensors(path);
    if (size < 8) gpunet::fuzz::fail("accepted a file shorter than 8 bytes", std::to_string(size));
    uint64_t header = 0;
    std::memcpy(&header, data, 8);
    uint64_t total = 0;
    for (const auto& [name, t] : f.tensors) {
      if (!t.defined() || !t.device().is_cpu()) gpunet::fuzz::fail("bad tensor", name);
      total += t.nbytes();
    }
    if (total > size - 8 - header) gpunet::fuzz::fail("tensors hold more bytes than the data section", std::to_string(total));
  });
  // The weights loader: every check before any copy; a LeNet-like pair of tensors.
  gpunet::fuzz::expect_ok_or_input_error(path, [&] {
    gpunet::StateDict expected = {{"fc.weight", gpunet::Tensor::zeros({2, 3})},
                                  {"fc.bias", gpunet::Tensor::zeros({2})}};
    gpunet::io::load_weights(path, expected, "Fuzz");
  });
  gpunet::fuzz::expect_ok_or_input_error(path, [&] { gpunet::io::load_train_state(path); });
  return 0;
}
