// Downloading and unpacking CIFAR-10: libcurl fetches the archive into a temporary folder
// inside the destination's parent, md5.cpp checks it, libarchive extracts only the expected
// members, verify_cifar10 checks them, and one rename puts the folder in place. Any failure
// removes the temporary folder (and the parent, when this call created it).
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <set>

#include "gpunet/data/cifar10.h"
#include "gpunet/error.h"

namespace fs = std::filesystem;

namespace gpunet::data {
namespace {

const std::set<std::string>& expected_members() {
  static const std::set<std::string> m = {
      "cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/data_batch_2.bin",
      "cifar-10-batches-bin/data_batch_3.bin", "cifar-10-batches-bin/data_batch_4.bin",
      "cifar-10-batches-bin/data_batch_5.bin", "cifar-10-batches-bin/test_batch.bin",
      "cifar-10-batches-bin/batches.meta.txt", "cifar-10-batches-bin/readme.html"};
  return m;
}

std::string by_hand(const fs::path& root) {
  return detail::cat("to place the files by hand, fetch ", kCifar10Url, " on a machine with network access, check its MD5 (",
                     kCifar10Md5, "), and extract it in ", root.string(), " so that ", (root / kCifar10Folder).string(),
                     "/data_batch_1.bin exists (or pass --url file:///path/to/cifar-10-binary.tar.gz)");
}

// Removes a path tree on destruction unless released.
struct Cleanup {
  fs::path path;
  bool only_if_empty = false;
  ~Cleanup() {
    if (path.empty()) return;
    std::error_code ec;
    if (only_if_empty) fs::remove(path, ec);  // fails harmlessly when not empty
    else fs::remove_all(path, ec);
  }
  void release() { path.clear(); }
};

struct FetchState {
  std::FILE* out = nullptr;
  const ProgressFn* progress = nullptr;
  std::exception_ptr error;
};

size_t on_write(char* p, size_t size, size_t n, void* user) {
  auto* st = static_cast<FetchState*>(user);
  return std::fwrite(p, size, n, st->out) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t done, curl_off_t, curl_off_t) {
  auto* st = static_cast<FetchState*>(user);
  if (st->progress && *st->progress) {
    try {
      (*st->progress)(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
    } catch (...) {
      st->error = std::current_exception();
      return 1;  // abort the transfer; the exception is rethrown below
    }
  }
  return 0;
}

void fetch(const std::string& url, const fs::path& file, const ProgressFn& progress, const fs::path& root) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(file.c_str(), "wb"), &std::fclose);
  GPUNET_INPUT_CHECK(out, file.string(), ": cannot create the download file (check permissions and free space)");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  GPUNET_CHECK(curl, "download: curl_easy_init failed");
  FetchState st{out.get(), &progress, nullptr};
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);  // abort when stalled for a minute
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(c);
  if (st.error) std::rethrow_exception(st.error);
  const std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK: break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
      throw InputError(detail::cat("download: cannot reach ", url, " (", why, "): no network here? ", by_hand(root)));
    case CURLE_WRITE_ERROR:
      throw InputError(detail::cat("download: cannot write ", file.string(), " (disk full?)"));
    default:
      throw InputError(detail::cat("download: ", url, " failed (", why, "); ", by_hand(root)));
  }
  GPUNET_INPUT_CHECK(std::fflush(out.get()) == 0, "download: cannot write ", file.string(), " (disk full?)");
}

// True when `name` is relative and has no '..' component.
bool safe_member(const std::string& name) {
  if (name.empty() || name[0] == '/' || name[0] == '\\') return false;
  for (const auto& part : fs::path(name))
    if (part == "..") return false;
  return true;
}

// `what` names the archive in messages (its URL: the local copy is temporary).
void extract(const fs::path& archive_path, const fs::path& out_dir, const std::string& what) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
  GPUNET_CHECK(a, "extract: archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw InputError(detail::cat(what, ": not a readable tar.gz archive (", archive_error_string(a.get()), ")"));
  std::set<std::string> found;
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    GPUNET_INPUT_CHECK(safe_member(name), what, ": member '", name, "' has an unsafe path (absolute or with '..'); "
                       "the archive is not the CIFAR-10 binary archive, refusing to extract it");
    while (name.rfind("./", 0) == 0) name = name.substr(2);
    if (archive_entry_filetype(e) != AE_IFREG || !expected_members().count(name)) {
      archive_read_data_skip(a.get());
      continue;
    }
    const fs::path dst = out_dir / name;
    fs::create_directories(dst.parent_path());
    std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(dst.c_str(), "wb"), &std::fclose);
    GPUNET_INPUT_CHECK(f, dst.string(), ": cannot create (check permissions and free space)");
    const void* buf;
    size_t size;
    la_int64_t off;
    int rr;
    while ((rr = archive_read_data_block(a.get(), &buf, &size, &off)) == ARCHIVE_OK)
      GPUNET_INPUT_CHECK(std::fwrite(buf, 1, size, f.get()) == size, dst.string(), ": write failed (disk full?)");
    GPUNET_INPUT_CHECK(rr == ARCHIVE_EOF, what, ": member ", name, " is damaged (", archive_error_string(a.get()),
                       "); download it again");
    GPUNET_INPUT_CHECK(std::fclose(f.release()) == 0, dst.string(), ": write failed (disk full?)");
    found.insert(name);
  }
  GPUNET_INPUT_CHECK(r == ARCHIVE_EOF, what, ": not a readable tar.gz archive, or a damaged one (", archive_error_string(a.get()),
                     "); download it again");
  for (const auto& m : expected_members())
    GPUNET_INPUT_CHECK(found.count(m) || m.ends_with("readme.html"), what, ": has no member ", m,
                       "; is it the CIFAR-10 *binary* archive (cifar-10-binary.tar.gz)?");
}

}  // namespace

Cifar10Summary download_cifar10(const std::string& dir, const std::string& url, const std::string& md5,
                                const ProgressFn& progress) {
  const fs::path root(dir.empty() ? "." : dir);
  const fs::path dest = root / kCifar10Folder;
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    try {
      return verify_cifar10(dest.string());
    } catch (const InputError& e) {
      throw InputError(detail::cat(dest.string(), " exists but is not a whole dataset (", e.what(),
                                   "); remove that folder and download again"));
    }
  }
  Cleanup root_guard;
  if (!fs::exists(root, ec)) {
    fs::create_directories(root, ec);
    GPUNET_INPUT_CHECK(!ec, root.string(), ": cannot create the folder (", ec.message(), ")");
    root_guard.path = root;
    root_guard.only_if_empty = true;
  }
  std::string tmpl = (root / ".cifar-10-download-XXXXXX").string();
  GPUNET_INPUT_CHECK(mkdtemp(tmpl.data()) != nullptr, root.string(), ": cannot create a temporary folder in it (check "
                     "permissions)");
  Cleanup tmp_guard{fs::path(tmpl)};
  const fs::path tmp(tmpl);

  const fs::path archive = tmp / "cifar-10-binary.tar.gz";
  fetch(url, archive, progress, root);
  if (!md5.empty()) {
    std::string want = md5;
    std::transform(want.begin(), want.end(), want.begin(), [](unsigned char ch) { return std::tolower(ch); });
    const std::string got = md5_file(archive.string());
    GPUNET_INPUT_CHECK(got == want, "download: ", url, " has MD5 ", got, ", expected ", want, " (", fs::file_size(archive, ec),
                       " bytes); the download is damaged or not the CIFAR-10 binary archive; try again");
  }
  extract(archive, tmp / "x", url);
  Cifar10Summary s;
  try {
    s = verify_cifar10((tmp / "x" / kCifar10Folder).string());
  } catch (const InputError& e) {
    throw InputError(detail::cat("download: the archive from ", url, " holds a damaged dataset: ", e.what()));
  }
  fs::rename(tmp / "x" / kCifar10Folder, dest, ec);
  GPUNET_INPUT_CHECK(!ec, "download: cannot move the dataset into ", dest.string(), " (", ec.message(), ")");
  root_guard.release();
  s.dir = dest.string();
  return s;  // tmp_guard removes the archive and the temporary folder
}

}  // namespace gpunet::data
