#pragma once
/// TensorBoard event files without Python: scalars and text summaries written as TensorFlow's
/// Event protobuf messages in TFRecord framing (masked CRC-32C), in a file named
/// `events.out.tfevents.<seconds>.<host>` that TensorBoard reads as its own.
///   gpunet::io::EventWriter tb("runs/lenet");        // InputError when runs/lenet is unwritable
///   tb.add_text("hparams", "| lr | 0.001 |", 0);
///   tb.add_scalar("train/loss", 2.30, 100);
///   tb.flush();                                       // what is flushed survives a crash
/// A default-constructed writer is disabled: every call is a no-op. Distributed runs give every
/// rank but 0 a disabled writer, so one process writes.
#include <cstdint>
#include <memory>
#include <string>

namespace gpunet::io {

class EventWriter {
 public:
  /// Disabled: add_* and flush do nothing.
  EventWriter();
  /// Creates `dir` (and its parents) when missing and opens a new event file in it, writing the
  /// file-version record. Requires `dir` to be a writable folder (or creatable); throws
  /// gpunet::InputError naming it and what to do otherwise. Guarantees: after flush() returns,
  /// every record added so far is on disk, whole, each with its checksums; a file cut short
  /// by a crash is readable up to its last flush.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(EventWriter&&) noexcept;
  EventWriter& operator=(EventWriter&&) noexcept;
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  bool enabled() const { return impl_ != nullptr; }
  /// The event file's path ("" when disabled).
  std::string path() const;
  /// A scalar (stored as float32, TensorBoard's simple_value) under `tag` at `step`.
  void add_scalar(const std::string& tag, double value, int64_t step);
  /// A text summary (markdown, TensorBoard's text plugin) under `tag` at `step`.
  void add_text(const std::string& tag, const std::string& markdown, int64_t step);
  /// Writes the buffered records to the file. Throws gpunet::Error when the write fails (disk
  /// full), naming the file.
  void flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpunet::io
