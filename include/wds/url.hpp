// SPDX-License-Identifier: MIT
#pragma once

// Opening shards by URL, as webdataset's gopen does:
//   path, file:path         a local file ("-" is stdin/stdout)
//   pipe:CMD                a shell command's stdout (reading) or stdin (writing);
//                           a non-zero exit is an error naming the command, raised
//                           at the end of the data (io 150)
//   http://, https://       GET through wds/http.hpp (WDS_HAS_HTTP builds; with
//                           WDS_HTTP_SEPARATE=1 one TU must include it)
//   ais://BUCKET/OBJECT     GET $AIS_ENDPOINT/v1/objects/BUCKET/OBJECT (query kept,
//                           e.g. ?etl_name=NAME for an inline AIStore transform)
// Input is gunzipped when it starts with the gzip magic. A cache directory
// (webdataset's cache_dir) keeps remote shards: each is downloaded once to a
// temporary, its tar/gzip magic checked, then renamed, so a partial or bad
// download never stays under the cached name.
//   wds::any_source in = wds::open_url("pipe:curl -s http://host/shard-000001.tar");
//   wds::any_sink out = wds::open_url_output("pipe:gzip > /tmp/x.tar.gz");

#include <wds/config.hpp>
#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>
#include <wds/open.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

WDS_NAMESPACE_BEGIN

enum class url_kind { local, stdio, pipe, http, ais, unknown };

inline bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// What open_url does with a URL. A scheme is letters, digits, '+', '-', '.'
// before "://" or ':' (Windows drive letters do not arise on POSIX).
inline url_kind url_kind_of(std::string_view url) noexcept {
  if (url == "-") return url_kind::stdio;
  if (starts_with(url, "pipe:")) return url_kind::pipe;
  if (starts_with(url, "http://") || starts_with(url, "https://")) return url_kind::http;
  if (starts_with(url, "ais://")) return url_kind::ais;
  if (starts_with(url, "file:")) return url_kind::local;
  const std::size_t colon = url.find("://");
  if (colon != std::string_view::npos && colon > 0) {
    bool scheme = true;
    for (char c : url.substr(0, colon))
      scheme = scheme && (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.');
    if (scheme) return url_kind::unknown;
  }
  return url_kind::local;
}

// The local path of a local URL: "file:x" and "file://x" -> "x".
inline std::string local_path_of(std::string_view url) {
  if (starts_with(url, "file://")) return std::string(url.substr(7));
  if (starts_with(url, "file:")) return std::string(url.substr(5));
  return std::string(url);
}

namespace detail {

// A `/bin/sh -c CMD` child with one end of a pipe as its stdout (reading) or
// stdin (writing). finish() waits for it and reports a failure.
class child_process {
 public:
  child_process(std::string url, bool reading) : url_(std::move(url)) {
    const std::string cmd = url_.substr(5);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw io_error(151, {url_, {}, location::unknown_offset}, "cannot create a pipe: " + errno_text(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    // The child's end becomes its stdout (or stdin); dup2 clears close-on-exec.
    posix_spawn_file_actions_adddup2(&fa, reading ? fds[1] : fds[0], reading ? 1 : 0);
    const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
    const int rc = ::posix_spawn(&pid_, "/bin/sh", &fa, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(reading ? fds[1] : fds[0]);
    fd_ = reading ? fds[0] : fds[1];
    if (rc != 0) {
      ::close(fd_);
      fd_ = -1;
      throw io_error(151, {url_, {}, location::unknown_offset}, "cannot start the command: " + errno_text(rc));
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    // Abandoned early (an error, or the reader stopped): do not wait forever.
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }

  int fd() const noexcept { return fd_; }
  const std::string& url() const noexcept { return url_; }

  // Closes our end, waits, and throws io_error 150 unless the command exited 0.
  void finish() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (pid_ <= 0) return;
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0) {
      if (errno != EINTR) {
        pid_ = -1;
        throw io_error(150, {url_, {}, location::unknown_offset}, "cannot wait for the command: " + errno_text(errno));
      }
    }
    pid_ = -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    const std::string how = WIFEXITED(st) ? "exit status " + std::to_string(WEXITSTATUS(st))
                                          : "killed by signal " + std::to_string(WTERMSIG(st));
    throw io_error(150, {url_, {}, location::unknown_offset}, "command failed (" + how + "): " + url_.substr(5));
  }

 private:
  std::string url_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace detail

// Reads a command's stdout; at the end of its output checks its exit status.
class pipe_source {
 public:
  explicit pipe_source(std::string url) : child_(std::make_unique<detail::child_process>(std::move(url), true)) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    if (done_) return 0;
    const std::size_t got = detail::read_fd(child_->fd(), dst, n, child_->url());
    if (got == 0) {
      done_ = true;
      child_->finish();
    }
    return got;
  }
  // Called by the tar reader at the end of the archive: reads what the
  // command still writes (record padding) and checks its exit status.
  void verify_end() {
    std::byte buf[1 << 16];
    std::uint64_t trailing = 0;
    while (read(buf, sizeof buf) > 0)
      if ((trailing += sizeof buf) > (std::uint64_t{64} << 20))
        throw io_error(150, {child_->url(), {}, location::unknown_offset},
                       "command keeps writing after the end of the archive");
  }
  const std::string& name() const noexcept { return child_->url(); }

 private:
  std::unique_ptr<detail::child_process> child_;
  bool done_ = false;
};

// Writes to a command's stdin; close() waits for it and checks its exit status.
class pipe_sink {
 public:
  explicit pipe_sink(std::string url)
      : child_(std::make_unique<detail::child_process>(std::move(url), false)),
        out_(std::make_unique<fd_sink>(child_->fd(), child_->url(), false)) {}
  void write(const std::byte* src, std::size_t n) { out_->write(src, n); }
  void close() {
    out_->flush();
    child_->finish();
  }
  const std::string& name() const noexcept { return child_->url(); }

 private:
  std::unique_ptr<detail::child_process> child_;
  std::unique_ptr<fd_sink> out_;
};

struct url_options {
  limits lim{};
  std::string cache_dir;  // when set, remote shards are downloaded there once and read locally
  double timeout_seconds = 60;  // HTTP connect timeout and read timeout without progress
  std::vector<std::pair<std::string, std::string>> headers;  // extra HTTP request headers
};

// A remote GET's body (as a source) and its 2xx status.
struct http_get_result {
  any_source body;
  unsigned status = 0;
};

namespace detail {

using http_header_list = std::vector<std::pair<std::string, std::string>>;
using http_get_fn = http_get_result (*)(const std::string& target, const std::string& name, const url_options& opts,
                                        http_header_list extra);

// The client behind http(s):// and ais:// URLs. By default url.hpp includes
// wds/http.hpp and calls it directly (its code is generated only where a URL
// is opened). With WDS_HTTP_SEPARATE=1 (the same in every TU of the program)
// url.hpp does not include it, so TUs that never name a remote URL need not
// parse Boost.Beast: the TU that includes wds/http.hpp installs it here.
inline http_get_fn& http_get_hook() noexcept {
  static http_get_fn f = nullptr;
  return f;
}

#if WDS_HAS_HTTP && !WDS_HTTP_SEPARATE
inline http_get_result http_url_get(const std::string& target, const std::string& name, const url_options& opts,
                                    http_header_list extra);  // wds/http.hpp, included at the end of this file
#endif

// GET `target`; errors name `name` (the URL the user gave: ais:// stays ais://).
// A status other than 2xx is io 155 with the status line.
inline http_get_result http_get(const std::string& target, const std::string& name, const url_options& opts,
                                http_header_list extra = {}) {
#if WDS_HAS_HTTP && !WDS_HTTP_SEPARATE
  return http_url_get(target, name, opts, std::move(extra));
#else
  if (const http_get_fn f = http_get_hook()) return f(target, name, opts, std::move(extra));
#if WDS_HAS_HTTP
  throw io_error(152, {name, {}, location::unknown_offset},
                 "http(s)/ais URL but no HTTP client is installed: with WDS_HTTP_SEPARATE=1, "
                 "#include <wds/http.hpp> in one translation unit of the program");
#else
  throw io_error(152, {name, {}, location::unknown_offset},
                 "http(s)/ais URL but wds was built without HTTP support (WDS_HAS_HTTP=0); "
                 "use pipe:curl -sf URL");
#endif
#endif
}

}  // namespace detail

// The http(s):// URL an ais://BUCKET/OBJECT URL is fetched from ($AIS_ENDPOINT).
inline std::string ais_http_url(const std::string& url) {
  const char* ep = std::getenv("AIS_ENDPOINT");
  if (!ep || !*ep)
    throw io_error(154, {url, {}, location::unknown_offset}, "ais:// URL but AIS_ENDPOINT is not set");
  std::string base = ep;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string rest = url.substr(6);  // BUCKET/OBJECT[?query]
  if (rest.find('/') == std::string::npos || rest.front() == '/')
    throw io_error(154, {url, {}, location::unknown_offset}, "ais:// URL needs ais://BUCKET/OBJECT");
  return base + "/v1/objects/" + rest;
}

namespace detail {

// The raw (not gunzipped) bytes of a non-local URL.
inline any_source open_remote_raw(const std::string& url, const url_options& opts) {
  switch (url_kind_of(url)) {
    case url_kind::pipe:
      return pipe_source(url);
    case url_kind::http:
    case url_kind::ais: {
      const std::string target = url_kind_of(url) == url_kind::ais ? ais_http_url(url) : url;
      return http_get(target, url, opts).body;
    }
    default:
      throw io_error(152, {url, {}, location::unknown_offset},
                     "no handler for this URL scheme (local paths, file:, -, pipe:, http(s)://, ais://)");
  }
}

// webdataset's url_to_cache_name: the last path component for http(s)/ais,
// a quoted form of the whole URL otherwise (pipe: commands).
inline std::string cache_name_of(const std::string& url) {
  const url_kind k = url_kind_of(url);
  if (k == url_kind::http || k == url_kind::ais) {
    std::string path = url.substr(0, url.find('?'));
    const std::size_t slash = path.rfind('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (!base.empty() && base != "." && base != "..") return base;
  }
  std::string out;
  static const char hex[] = "0123456789ABCDEF";
  for (unsigned char c : url) {
    if (std::isalnum(c) || std::strchr("_+{}*,-.", c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (out.size() > 128) out = out.substr(out.size() - 128);
  return out;
}

// gzip magic, or "ustar" at byte 257 (webdataset's check_tar_format).
inline bool looks_like_shard(const std::byte* p, std::size_t n) noexcept {
  if (n >= 2 && p[0] == std::byte{0x1f} && p[1] == std::byte{0x8b}) return true;
  return n >= 262 && std::memcmp(p + 257, "ustar", 5) == 0;
}

}  // namespace detail

// Downloads `url` into dir (once) and returns the cached file's path. The
// download goes to a hidden temporary that is renamed only after the whole
// stream arrived and its magic looks like a tar or gzip shard (io 153); on
// any failure the temporary is removed, so the cache never keeps a partial file.
inline std::string cache_shard(const std::string& url, const std::string& dir, const url_options& opts = {}) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw io_error(153, {url, {}, location::unknown_offset}, "cache directory does not exist: " + dir);
  const std::string dest = dir + "/" + detail::cache_name_of(url);
  if (::stat(dest.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return dest;
  any_source src = detail::open_remote_raw(url, opts);
  file_sink out(dest);
  std::vector<std::byte> buf(std::size_t{1} << 20);
  std::size_t head = 0;
  std::byte magic[512];
  for (;;) {
    const std::size_t n = src.read(buf.data(), buf.size());
    if (n == 0) break;
    if (head < sizeof magic) {
      const std::size_t k = std::min(n, sizeof magic - head);
      std::memcpy(magic + head, buf.data(), k);
      head += k;
    }
    out.write(buf.data(), n);
  }
  if (!detail::looks_like_shard(magic, head))
    throw io_error(153, {url, {}, location::unknown_offset},
                   "downloaded data is neither a tar nor a gzip stream; not cached");
  out.close();
  return dest;
}

// Opens any URL kind for reading (see the top of this file); gzip is undone.
inline any_source open_url(const std::string& url, const url_options& opts = {}) {
  const url_kind k = url_kind_of(url);
  if (k == url_kind::stdio) return open_input("-", opts.lim);
  if (k == url_kind::local) return decompress_by_magic(file_source(local_path_of(url)), url, opts.lim);
  if (!opts.cache_dir.empty()) return decompress_by_magic(file_source(cache_shard(url, opts.cache_dir, opts)), url, opts.lim);
  return decompress_by_magic(detail::open_remote_raw(url, opts), url, opts.lim);
}

// Opens an output URL: "-" (stdout), pipe:CMD (its stdin; close() checks the
// exit status), file: or a path (atomic). gzip when the name ends in .gz/.tgz
// (for pipe:, when `gzip` says so).
inline any_sink open_url_output(const std::string& url, bool gzip) {
  const url_kind k = url_kind_of(url);
  if (k == url_kind::stdio || k == url_kind::local) return open_output(local_path_of(url), gzip);
  if (k != url_kind::pipe)
    throw io_error(152, {url, {}, location::unknown_offset}, "cannot write to this URL kind (use a path, -, or pipe:)");
  if (!gzip) return pipe_sink(url);
#if WDS_HAS_ZLIB
  return gzip_sink<pipe_sink>(pipe_sink(url));
#else
  throw io_error(115, {url, {}, 0}, "gzip output requested but wds was built without zlib");
#endif
}
inline any_sink open_url_output(const std::string& url) {
  const std::string p = url_kind_of(url) == url_kind::pipe ? std::string() : local_path_of(url);
  return open_url_output(url, ends_with(p, ".gz") || ends_with(p, ".tgz"));
}

WDS_NAMESPACE_END

// Last, so that wds/http.hpp (which needs url_options) sees all of the above.
#if WDS_HAS_HTTP && !WDS_HTTP_SEPARATE
#include <wds/http.hpp>
#endif
