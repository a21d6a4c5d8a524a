// `gpunet data download cifar10 [--dir DIR] [--url URL] [--md5 HEX]` and `gpunet data verify DIR`.
// Download: fetch, check the MD5, extract and verify (data::download_cifar10: nothing is left
// behind on failure), with a progress line on stderr when it is a terminal. Verify: the
// summary on stdout, or one line naming the problem (exit 2).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "gpunet/data/cifar10.h"
#include "gpunet/error.h"

namespace gpunet::cli {
namespace {

struct DownloadArgs {
  std::string dataset = "cifar10";
  std::string dir = "data";
  std::string url = data::kCifar10Url;
  std::string md5 = data::kCifar10Md5;
};

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// A progress line redrawn in place at most ~10 times a second (only on a terminal).
data::ProgressFn progress_printer() {
  if (!stderr_is_tty()) return nullptr;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last](uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const bool finished = total > 0 && done >= total;
    if (!finished && now - *last < std::chrono::milliseconds(100)) return;
    *last = now;
    if (total > 0)
      std::fprintf(stderr, "\r  %s / %s (%3.0f%%)   ", mib(done).c_str(), mib(total).c_str(),
                   100.0 * static_cast<double>(done) / static_cast<double>(total));
    else
      std::fprintf(stderr, "\r  %s   ", mib(done).c_str());
    std::fflush(stderr);
  };
}

void run_download(const DownloadArgs& a) {
  std::string md5 = a.md5;
  std::transform(md5.begin(), md5.end(), md5.begin(), [](unsigned char c) { return std::tolower(c); });
  if (md5 == "none") {
    md5.clear();
  } else if (md5.size() != 32 || !std::all_of(md5.begin(), md5.end(), [](unsigned char c) { return std::isxdigit(c); })) {
    throw InputError("--md5 " + a.md5 + ": expected 32 hex digits (or 'none' to skip the check)");
  }
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(a.dir) / data::kCifar10Folder, ec))
    std::fprintf(stderr, "%s/%s is already there: verifying it, nothing to download\n", a.dir.c_str(), data::kCifar10Folder);
  else
    std::fprintf(stderr, "downloading %s into %s/%s%s\n", a.url.c_str(), a.dir.c_str(), data::kCifar10Folder,
                 md5.empty() ? " (no MD5 check)" : "");
  const data::ProgressFn progress = progress_printer();
  data::Cifar10Summary s;
  try {
    s = data::download_cifar10(a.dir, a.url, md5, progress);
  } catch (...) {
    if (progress) std::fprintf(stderr, "\n");
    throw;
  }
  if (progress) std::fprintf(stderr, "\n");
  std::cout << s.str();
  if (!s.str().empty() && s.str().back() != '\n') std::cout << "\n";
  std::cout << "ready: gpunet train --data " << s.dir << "\n";
}

void run_verify(const std::string& dir) {
  const data::Cifar10Summary s = data::verify_cifar10(dir);
  std::cout << s.str();
  if (!s.str().empty() && s.str().back() != '\n') std::cout << "\n";
  std::cout << "ok\n";
}

}  // namespace

void register_data(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("data", "Get and check datasets (download | verify)");
  cmd->require_subcommand(1);

  auto d = std::make_shared<DownloadArgs>();
  CLI::App* dl = cmd->add_subcommand("download", "Download CIFAR-10 (binary version), check and extract it");
  dl->add_option("dataset", d->dataset, "The dataset (cifar10)")->required()->check(CLI::IsMember({"cifar10"}));
  dl->add_option("--dir", d->dir, "Folder to put cifar-10-batches-bin in")->default_val("data");
  dl->add_option("--url", d->url, "Where to fetch the archive (https://, http://, file://)")->default_val(data::kCifar10Url);
  dl->add_option("--md5", d->md5, "Expected MD5 of the archive ('none' skips the check)")->default_val(data::kCifar10Md5);
  dl->callback([d, &exit_code] {
    run_download(*d);
    exit_code = 0;
  });

  auto dir = std::make_shared<std::string>();
  CLI::App* vf = cmd->add_subcommand("verify", "Check a CIFAR-10 folder: every file's size and labels, the class names");
  vf->add_option("dir", *dir, "The folder (cifar-10-batches-bin or the folder above it)")->required();
  vf->callback([dir, &exit_code] {
    run_verify(*dir);
    exit_code = 0;
  });
}

}  // namespace gpunet::cli
