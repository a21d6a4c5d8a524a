#include "io/tfrecord.h"

#include <array>
#include <cstring>

#include "gpunet/error.h"

namespace gpunet::io::tfrecord {
namespace {

// The byte-wise table of the reflected Castagnoli polynomial.
constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = make_table();

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

uint64_t get_le(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = kTable[(c ^ b) & 0xffu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::string frame(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le(out, data.size(), 8);
  put_le(out, mask(crc32c(std::string_view(out.data(), 8))), 4);
  out.append(data);
  put_le(out, mask(crc32c(data)), 4);
  return out;
}

std::optional<std::string> read_record(std::string_view bytes, size_t* offset) {
  const size_t at = *offset;
  if (at == bytes.size()) return std::nullopt;
  if (bytes.size() - at < 12)
    throw Error(detail::cat("tfrecord: truncated record header at byte ", at));
  const uint64_t len = get_le(bytes, at, 8);
  if (mask(crc32c(bytes.substr(at, 8))) != get_le(bytes, at + 8, 4))
    throw Error(detail::cat("tfrecord: bad length checksum at byte ", at));
  if (bytes.size() - at - 12 < len + 4) throw Error(detail::cat("tfrecord: truncated record at byte ", at));
  const std::string_view data = bytes.substr(at + 12, len);
  if (mask(crc32c(data)) != get_le(bytes, at + 12 + len, 4))
    throw Error(detail::cat("tfrecord: bad data checksum in the record at byte ", at));
  *offset = at + 12 + len + 4;
  return std::string(data);
}

}  // namespace gpunet::io::tfrecord
