// libFuzzer target: the CIFAR-10 batch reader (gpunet::data::read_cifar10_file).
// Accepted input: whole 3073-byte records (at most 10,000), labels 0-9; every record must
// then be appended exactly. Anything else: an InputError naming the file.
#include <cstring>

#include "fuzz_util.h"
#include "gpunet/data/cifar10.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static gpunet::fuzz::InputFile file("data_batch_1.bin");
  file.write(data, size);
  gpunet::data::ImageDataset ds;
  ds.images.assign(7, 42);  // a previous partial content that must survive a refusal
  ds.labels.assign(7, 1);
  gpunet::fuzz::expect_ok_or_input_error(file.path(), [&] {
    gpunet::data::read_cifar10_file(file.path(), ds);
    const size_t R = gpunet::data::kCifar10RecordBytes;
    if (size == 0 || size % R != 0) gpunet::fuzz::fail("accepted a file of", std::to_string(size) + " bytes");
    const size_t n = size / R;
    if (ds.n != static_cast<int64_t>(n) || ds.labels.size() != 7 + n || ds.images.size() != 7 + n * (R - 1))
      gpunet::fuzz::fail("wrong record count", std::to_string(ds.n));
    for (size_t r = 0; r < n; ++r) {
      if (ds.labels[7 + r] != data[r * R] || ds.labels[7 + r] > 9) gpunet::fuzz::fail("wrong label", std::to_string(r));
      if (std::memcmp(ds.images.data() + 7 + r * (R - 1), data + r * R + 1, R - 1) != 0)
        gpunet::fuzz::fail("wrong image bytes", std::to_string(r));
    }
  });
  return 0;
}
