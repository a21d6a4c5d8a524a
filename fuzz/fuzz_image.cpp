// libFuzzer target: the image decoder (gpunet::data::decode_image, stb_image) and what
// `gpunet predict` and ImageFolder do next: resize to 32x32 and convert to planes.
#include "fuzz_util.h"
#include "gpunet/data/image_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static gpunet::fuzz::InputFile file("image.png");
  file.write(data, size);
  gpunet::fuzz::expect_ok_or_input_error(file.path(), [&] {
    gpunet::data::DecodedImage img = gpunet::data::decode_image(file.path(), 3);
    if (img.w <= 0 || img.h <= 0 || img.c != 3 || img.data.size() != static_cast<size_t>(img.w) * img.h * 3)
      gpunet::fuzz::fail("inconsistent image", std::to_string(img.w) + "x" + std::to_string(img.h));
    // Resizing a huge image is slow and proves nothing more: only moderate sizes.
    if (static_cast<size_t>(img.w) * img.h <= (1u << 20)) {
      gpunet::data::DecodedImage small = gpunet::data::resize_image(img, 32, 32);
      if (gpunet::data::to_planar(small).size() != 32 * 32 * 3) gpunet::fuzz::fail("bad planar size", "");
    }
  });
  return 0;
}
