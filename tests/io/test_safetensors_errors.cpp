// Every malformed safetensors file gives one InputError line naming the file and the problem.
// The files are written byte by byte here: an 8-byte length, a JSON header, the data.
#include <gtest/gtest.h>

#include <cstring>

#include "gpunet/io/safetensors.h"
#include "io_test_util.h"

namespace gpunet::io {
namespace {

using testing::expect_input_error;
using testing::TempDir;
using testing::write_bytes;

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s;
}

// A file with header `json` and `data_bytes` zero bytes of data.
std::string file_with(const std::string& json, size_t data_bytes) {
  return le64(json.size()) + json + std::string(data_bytes, '\0');
}

class BadFile : public ::testing::Test {
 protected:
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  void expect_bad(const std::string& bytes, std::vector<std::string> parts) {
    write_bytes(path, bytes);
    SCOPED_TRACE(parts.front());
    parts.push_back("safetensors file " + path + ": ");
    expect_input_error([&] { load_safetensors(path); }, parts);
  }
};

TEST_F(BadFile, ValidHandWrittenFileLoads) {  // the baseline that the cases below break
  write_bytes(path, file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   )", 8));
  SafetensorsFile f = load_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].second.shape(), Shape{2});
}

TEST_F(BadFile, MissingFileOrFolder) {
  expect_input_error([&] { load_safetensors(dir.file("nope.safetensors")); },
                     {"cannot open", dir.file("nope.safetensors"), "No such file"});
  expect_input_error([&] { load_safetensors(dir.path); }, {dir.path, "not a regular file"});
}

TEST_F(BadFile, ShorterThanEightBytes) {
  expect_bad("", {"0 bytes", "too short"});
  expect_bad(std::string("\x05\x00\x00", 3), {"3 bytes", "too short"});
}

TEST_F(BadFile, HeaderLengthBeyondFileOrHuge) {
  expect_bad(le64(1000) + "{}", {"header length 1000", "corrupt or huge header"});
  expect_bad(le64(200'000'000) + "{}", {"header length 200000000", "corrupt or huge header"});
  // A header length above 100 MB is refused even when the file is that long (a sparse file).
  write_bytes(path, le64(150'000'000) + "{}");
  std::filesystem::resize_file(path, 300'000'000);
  expect_input_error([&] { load_safetensors(path); }, {path, "header length 150000000", "corrupt or huge header"});
  expect_bad(le64(UINT64_MAX) + "{}", {"corrupt or huge header"});
}

TEST_F(BadFile, HeaderNotJsonOrNotAnObject) {
  expect_bad(file_with(R"({"a": {"dtype": )", 0), {"header is not valid JSON"});
  expect_bad(file_with("\xff\xfe garbage", 0), {"header is not valid JSON"});
  expect_bad(file_with("", 0), {"header is not valid JSON"});
  expect_bad(file_with("[1, 2]", 0), {"header is not a JSON object"});
  expect_bad(file_with(R"({"a": 7})", 0), {"entry for tensor 'a' is not a JSON object"});
}

TEST_F(BadFile, UnknownOrMissingDtype) {
  expect_bad(file_with(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4),
             {"tensor 'w'", "unsupported dtype 'BF16'"});
  expect_bad(file_with(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4), {"unsupported dtype 'f32'"});
  expect_bad(file_with(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), {"tensor 'w' has no \"dtype\""});
}

TEST_F(BadFile, NegativeOrOverflowingShape) {
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,0]}})", 0),
             {"tensor 'w' has shape [-1,2]", "non-negative"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), {"non-negative integers"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":"[2]","data_offsets":[0,8]}})", 8), {"no \"shape\" array"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
             {"tensor 'w'", "overflows"});
  expect_bad(file_with(R"({"w":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,8]}})", 8), {"overflows"});
}

TEST_F(BadFile, MalformedDataOffsets) {
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), {"data_offsets [0]", "[begin, end]"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[1]}})", 4), {"data_offsets missing"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4), {"[begin, end]"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}})", 4), {"[begin, end]"});
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), {"[8, 4]", "end before begin"});
}

TEST_F(BadFile, DataOffsetsOutsideTheDataSection) {
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 12),
             {"tensor 'w'", "[0, 16]", "outside the data section (12 bytes"});
}

TEST_F(BadFile, SizeDoesNotMatchShapeAndDtype) {
  expect_bad(file_with(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
             {"tensor 'w'", "holding 8 bytes", "shape [3] of F32 needs 12"});
  expect_bad(file_with(R"({"w":{"dtype":"I64","shape":[],"data_offsets":[0,4]}})", 8), {"shape [] of I64 needs 8"});
}

TEST_F(BadFile, OverlappingTensors) {
  expect_bad(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
             {"tensors 'a' and 'b' overlap"});
}

TEST_F(BadFile, MetadataMustMapStringsToStrings) {
  expect_bad(file_with(R"({"__metadata__":{"epoch":3}})", 0), {"__metadata__ entry 'epoch' is not a string"});
  expect_bad(file_with(R"({"__metadata__":["x"]})", 0), {"__metadata__ is not a JSON object"});
}

TEST_F(BadFile, TruncatedRealFile) {
  save_safetensors(path, {{"w", Tensor::ones({64})}, {"b", Tensor::ones({3})}});
  std::string bytes = testing::read_bytes(path);
  expect_bad(bytes.substr(0, bytes.size() - 1), {"outside the data section", "truncated file?"});
  expect_bad(bytes.substr(0, 20), {"corrupt or huge header"});
  expect_bad(bytes.substr(0, 7), {"7 bytes", "too short"});
}

}  // namespace
}  // namespace gpunet::io
