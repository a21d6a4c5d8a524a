// ImageFolder and image decoding, with PNGs written here by stb_image_write.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_image_write.h>

#include <gtest/gtest.h>

#include "data_test_util.h"
#include "gpunet/data/image_folder.h"
#include "gpunet/data/loader.h"
#include "gpunet/error.h"

using namespace gpunet::data;
using gpunet::test::TempDir;
namespace fs = std::filesystem;

namespace {

// An RGB image whose pixel (y, x) = (base + y, base + 2x, base + x + y) mod 256.
std::vector<uint8_t> pattern(int w, int h, int base) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      px[(y * w + x) * 3 + 0] = static_cast<uint8_t>(base + y);
      px[(y * w + x) * 3 + 1] = static_cast<uint8_t>(base + 2 * x);
      px[(y * w + x) * 3 + 2] = static_cast<uint8_t>(base + x + y);
    }
  return px;
}

void write_png(const fs::path& p, int w, int h, int base) {
  fs::create_directories(p.parent_path());
  const auto px = pattern(w, h, base);
  ASSERT_NE(stbi_write_png(p.c_str(), w, h, 3, px.data(), w * 3), 0) << p;
}

}  // namespace

TEST(ImageFolder, ReadsSortedClassesAndFilesInTheDatasetLayout) {
  TempDir t;
  write_png(t.path / "dog" / "b.png", 32, 32, 20);
  write_png(t.path / "dog" / "a.PNG", 32, 32, 10);
  write_png(t.path / "cat" / "z.png", 32, 32, 30);
  std::ofstream(t.path / "cat" / "notes.txt") << "ignored";
  fs::create_directories(t.path / "empty");
  ImageFolder ds(t.str());
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"cat", "dog", "empty"}));
  ASSERT_EQ(ds.n, 3);
  EXPECT_EQ(ds.labels, (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(fs::path(ds.files()[1]).filename(), "a.PNG");
  // Record 1 is dog/a.PNG (base 10): planar R, G, B.
  const uint8_t* r = ds.image(1);
  for (int y : {0, 5, 31})
    for (int x : {0, 7, 31}) {
      EXPECT_EQ(r[0 * 1024 + y * 32 + x], static_cast<uint8_t>(10 + y));
      EXPECT_EQ(r[1 * 1024 + y * 32 + x], static_cast<uint8_t>(10 + 2 * x));
      EXPECT_EQ(r[2 * 1024 + y * 32 + x], static_cast<uint8_t>(10 + x + y));
    }
  // The loaders work on it.
  DataLoader dl(std::make_shared<ImageFolder>(t.str()), LoaderOptions::evaluation(2, gpunet::Device::cpu()));
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.y.to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
}

TEST(ImageFolder, ResizesOtherSizesOrRejectsThemByName) {
  TempDir t;
  write_png(t.path / "a" / "big.png", 64, 48, 0);
  ImageFolder ds(t.str());
  ASSERT_EQ(ds.n, 1);
  EXPECT_EQ(ds.record_bytes(), 3 * 32 * 32);
  // A smooth gradient stays a gradient: red rises down the rows.
  EXPECT_LT(ds.image(0)[0 * 32 + 5], ds.image(0)[30 * 32 + 5]);
  ImageFolderOptions o;
  o.resize = false;
  GPUNET_INPUT_ERROR_MESSAGE(ImageFolder(t.str(), o), msg);
  EXPECT_NE(msg.find("big.png: the image is 64x48, expected 32x32"), std::string::npos) << msg;
}

TEST(ImageFolder, UndecodableFileIsNamed) {
  TempDir t;
  write_png(t.path / "a" / "good.png", 32, 32, 0);
  std::ofstream(t.path / "a" / "broken.jpg") << "this is not a JPEG";
  GPUNET_INPUT_ERROR_MESSAGE(ImageFolder(t.str()), msg);
  EXPECT_NE(msg.find("broken.jpg: cannot decode the image"), std::string::npos) << msg;
  GPUNET_INPUT_ERROR_MESSAGE(decode_image((t.path / "missing.png").string()), msg2);
  EXPECT_NE(msg2.find("missing.png: no such image file"), std::string::npos) << msg2;
  TempDir empty;
  GPUNET_INPUT_ERROR_MESSAGE(ImageFolder(empty.str()), msg3);
  EXPECT_NE(msg3.find("no class sub-folders"), std::string::npos) << msg3;
}

TEST(ImageFolder, HugeDeclaredImageIsRefusedBeforeDecoding) {
  // A real 2x2 PNG whose header then claims 9000 x 9000 (stb_image does not check CRCs): the
  // declared size is refused by name, before stb_image allocates 243 MB for it.
  TempDir t;
  const fs::path p = t.path / "huge.png";
  write_png(p, 2, 2, 0);
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  const unsigned char dims[8] = {0, 0, 0x23, 0x28, 0, 0, 0x23, 0x28};  // IHDR width, height (big-endian 9000)
  f.seekp(16);
  f.write(reinterpret_cast<const char*>(dims), 8);
  f.close();
  GPUNET_INPUT_ERROR_MESSAGE(decode_image(p.string()), msg);
  EXPECT_NE(msg.find("huge.png: cannot decode the image (its header declares 9000x9000 pixels, more than the 67108864"), std::string::npos)
      << msg;
}

TEST(ImageFolder, DecodeAndLoadImage) {
  TempDir t;
  write_png(t.path / "x.png", 5, 3, 100);
  const DecodedImage img = decode_image((t.path / "x.png").string());
  EXPECT_EQ(img.w, 5);
  EXPECT_EQ(img.h, 3);
  EXPECT_EQ(img.c, 3);
  EXPECT_EQ(img.data, pattern(5, 3, 100));
  const auto planar = to_planar(img);
  EXPECT_EQ(planar[0 * 15 + 1 * 5 + 2], 100 + 1);      // R at (1, 2)
  EXPECT_EQ(planar[1 * 15 + 1 * 5 + 2], 100 + 4);      // G
  EXPECT_EQ(planar[2 * 15 + 1 * 5 + 2], 100 + 3);      // B
  EXPECT_EQ(load_image((t.path / "x.png").string(), 8).size(), 3u * 8 * 8);
}
