// TensorBoard event files: CRC-32C against published vectors, the TFRecord framing, and the
// writer's records decoded back (file version first, scalars, text), with every checksum checked.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gpunet/error.h"
#include "gpunet/io/tensorboard.h"
#include "io/tfrecord.h"
#include "io_test_util.h"
#include "tensorboard_event.pb.h"

namespace gpunet::io {
namespace {

using testing::TempDir;
namespace tf = tfrecord;

// RFC 3720 (iSCSI) appendix B.4 and the common check value.
TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(tf::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(tf::crc32c(""), 0x00000000u);
  EXPECT_EQ(tf::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(tf::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string inc(32, '\0'), dec(32, '\0');
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(tf::crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(tf::crc32c(dec), 0x113FDB5Cu);
}

TEST(Crc32c, MaskIsTensorFlows) {
  // ((crc >> 15) | (crc << 17)) + 0xa282ead8, modulo 2^32.
  EXPECT_EQ(tf::mask(0u), 0xa282ead8u);
  EXPECT_EQ(tf::mask(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
}

TEST(TfRecord, FramingLayoutAndRoundTrip) {
  const std::string data = "hello, tensorboard";
  const std::string rec = tf::frame(data);
  ASSERT_EQ(rec.size(), data.size() + 16);
  uint64_t len = 0;
  std::memcpy(&len, rec.data(), 8);  // little-endian host (x86-64)
  EXPECT_EQ(len, data.size());
  uint32_t len_crc = 0, data_crc = 0;
  std::memcpy(&len_crc, rec.data() + 8, 4);
  std::memcpy(&data_crc, rec.data() + 12 + data.size(), 4);
  EXPECT_EQ(len_crc, tf::mask(tf::crc32c(rec.substr(0, 8))));
  EXPECT_EQ(data_crc, tf::mask(tf::crc32c(data)));
  EXPECT_EQ(rec.substr(12, data.size()), data);

  const std::string two = rec + tf::frame("");
  size_t at = 0;
  EXPECT_EQ(tf::read_record(two, &at).value(), data);
  EXPECT_EQ(tf::read_record(two, &at).value(), "");
  EXPECT_FALSE(tf::read_record(two, &at).has_value());
}

TEST(TfRecord, CorruptionAndTruncationAreDetected) {
  std::string rec = tf::frame("payload");
  std::string bad = rec;
  bad[14] ^= 1;  // a data byte
  size_t at = 0;
  EXPECT_THROW(tf::read_record(bad, &at), Error);
  at = 0;
  EXPECT_THROW(tf::read_record(rec.substr(0, rec.size() - 1), &at), Error);
  bad = rec;
  bad[0] ^= 1;  // the length
  at = 0;
  EXPECT_THROW(tf::read_record(bad, &at), Error);
}

std::vector<tensorboard::Event> read_events(const std::string& path) {
  const std::string bytes = testing::read_bytes(path);
  std::vector<tensorboard::Event> out;
  size_t at = 0;
  while (auto r = tf::read_record(bytes, &at)) {
    tensorboard::Event ev;
    EXPECT_TRUE(ev.ParseFromString(*r));
    out.push_back(ev);
  }
  return out;
}

TEST(EventWriter, WritesVersionScalarsAndText) {
  TempDir d;
  const std::string dir = d.file("runs/a");  // created, parents too
  EventWriter w(dir);
  ASSERT_TRUE(w.enabled());
  const std::string name = std::filesystem::path(w.path()).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  w.add_scalar("train/loss", 2.25, 10);
  w.add_text("hparams", "| lr | 0.001 |", 0);
  w.flush();
  // Flushed: readable while the writer is still open (an interrupted run leaves this much).
  const auto ev = read_events(w.path());
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].file_version(), "brain.Event:2");
  EXPECT_GT(ev[0].wall_time(), 1.6e9);
  EXPECT_EQ(ev[1].step(), 10);
  ASSERT_EQ(ev[1].summary().value_size(), 1);
  EXPECT_EQ(ev[1].summary().value(0).tag(), "train/loss");
  EXPECT_EQ(ev[1].summary().value(0).simple_value(), 2.25f);
  const auto& t = ev[2].summary().value(0);
  EXPECT_EQ(t.tag(), "hparams");
  EXPECT_EQ(t.metadata().plugin_data().plugin_name(), "text");
  EXPECT_EQ(t.tensor().dtype(), tensorboard::DT_STRING);
  ASSERT_EQ(t.tensor().string_val_size(), 1);
  EXPECT_EQ(t.tensor().string_val(0), "| lr | 0.001 |");
}

TEST(EventWriter, TwoWritersInOneFolderGetTwoFiles) {
  TempDir d;
  EventWriter a(d.path), b(d.path);
  EXPECT_NE(a.path(), b.path());
}

TEST(EventWriter, DisabledWriterDoesNothing) {
  EventWriter w;
  EXPECT_FALSE(w.enabled());
  EXPECT_EQ(w.path(), "");
  w.add_scalar("x", 1.0, 0);
  w.add_text("t", "x", 0);
  w.flush();
}

TEST(EventWriter, UnwritableFolderIsAnInputError) {
  TempDir d;
  testing::write_bytes(d.file("file"), "x");
  // A folder below a regular file cannot exist (root ignores permission bits; this it cannot).
  testing::expect_input_error([&] { EventWriter w(d.file("file/sub")); }, {"--tensorboard", "file/sub", "writable"});
}

}  // namespace
}  // namespace gpunet::io
