#pragma once
// TFRecord framing, the container of TensorBoard's event files (tensorflow/core/lib/io/record_writer):
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// The checksum is CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), masked as
// ((crc >> 15) | (crc << 17)) + 0xa282ead8 so that a CRC of data holding CRCs stays well mixed.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gpunet::io::tfrecord {

/// CRC-32C of `data` (crc32c("123456789") == 0xE3069283).
uint32_t crc32c(std::string_view data);
/// TensorFlow's masked form of a CRC-32C.
uint32_t mask(uint32_t crc);
/// `data` framed as one record.
std::string frame(std::string_view data);

/// One record read back from `bytes` at `*offset`; advances the offset. nullopt at a clean end;
/// throws gpunet::Error for a truncated record or a checksum that does not match (naming the
/// offset). For tests and tools: gpunet itself only writes.
std::optional<std::string> read_record(std::string_view bytes, size_t* offset);

}  // namespace gpunet::io::tfrecord
