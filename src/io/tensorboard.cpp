// TensorBoard event files: Event protobufs (src/io/proto/tensorboard_event.proto, compiled by
// protoc at build time) framed by io/tfrecord.h, appended to one file per writer.
#include "gpunet/io/tensorboard.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "gpunet/error.h"
#include "io/tfrecord.h"
#include "tensorboard_event.pb.h"

namespace gpunet::io {
namespace {

namespace fs = std::filesystem;
namespace pb = gpunet::tensorboard;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

}  // namespace

struct EventWriter::Impl {
  std::string path;
  std::FILE* f = nullptr;
  ~Impl() {
    if (f) std::fclose(f);
  }
  void write(pb::Event& ev) {
    std::string bytes;
    ev.SerializeToString(&bytes);
    const std::string rec = tfrecord::frame(bytes);
    if (std::fwrite(rec.data(), 1, rec.size(), f) != rec.size())
      throw Error(detail::cat("tensorboard: writing ", path, " failed: ", std::strerror(errno)));
  }
};

EventWriter::EventWriter() = default;
EventWriter::~EventWriter() = default;
EventWriter::EventWriter(EventWriter&&) noexcept = default;
EventWriter& EventWriter::operator=(EventWriter&&) noexcept = default;

EventWriter::EventWriter(const std::string& dir) {
  GPUNET_INPUT_CHECK(!dir.empty(), "--tensorboard: give a folder for the event files");
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::error_code ec_dir;
  GPUNET_INPUT_CHECK(fs::is_directory(dir, ec_dir), "--tensorboard ", dir, ": cannot create the folder (",
                     ec ? ec.message() : "a file is in the way", "); give a writable folder");
  auto impl = std::make_unique<Impl>();
  const double t = now_seconds();
  const std::string base = (fs::path(dir) / ("events.out.tfevents." + std::to_string(static_cast<long long>(t)) + "." +
                                             host_name())).string();
  // A second writer in the same second and folder gets its own file (".<pid>.<n>").
  impl->path = base;
  for (int n = 1; fs::exists(impl->path, ec); ++n)
    impl->path = base + "." + std::to_string(::getpid()) + "." + std::to_string(n);
  impl->f = std::fopen(impl->path.c_str(), "wbx");
  GPUNET_INPUT_CHECK(impl->f != nullptr, "--tensorboard ", dir, ": cannot write an event file there (",
                     std::strerror(errno), "); give a writable folder");
  pb::Event ev;
  ev.set_wall_time(t);
  ev.set_file_version("brain.Event:2");
  impl->write(ev);
  impl_ = std::move(impl);
  flush();
}

std::string EventWriter::path() const { return impl_ ? impl_->path : std::string(); }

void EventWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  if (!impl_) return;
  pb::Event ev;
  ev.set_wall_time(now_seconds());
  ev.set_step(step);
  pb::Summary::Value* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  impl_->write(ev);
}

void EventWriter::add_text(const std::string& tag, const std::string& markdown, int64_t step) {
  if (!impl_) return;
  pb::Event ev;
  ev.set_wall_time(now_seconds());
  ev.set_step(step);
  pb::Summary::Value* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  pb::TensorProto* t = v->mutable_tensor();
  t->set_dtype(pb::DT_STRING);
  t->mutable_tensor_shape()->add_dim()->set_size(1);
  t->add_string_val(markdown);
  impl_->write(ev);
}

void EventWriter::flush() {
  if (!impl_) return;
  if (std::fflush(impl_->f) != 0)
    throw Error(detail::cat("tensorboard: writing ", impl_->path, " failed: ", std::strerror(errno)));
}

}  // namespace gpunet::io
