// SPDX-License-Identifier: MIT
#pragma once

// The AIStore ETL container contract (reference: AIStore 5.0's Go target and
// reference web server): GET /health, hpush (PUT), hpull (GET), etl_fqn,
// etl_args, direct put and pipelines (Ais-Node-Url), WebSocket (/ws) and
// POST /download, over Boost.Beast, wrapped around any object-to-object function:
//
//   wds::ais::server srv([](wds::any_source& in, wds::any_sink& out,
//                           wds::ais::object_request& req) { ...read in, write out... });
//   return wds::ais::serve_until_signal(srv);
//
// Every object is transformed completely before the answer starts (the output
// is spooled in memory up to a limit, then in an unlinked temporary file), so
// a bad object always gets a 4xx/5xx with a one-line reason, or on WebSocket
// a close with status 1011, never a partial answer that looks complete.
// Percent-encoding is Boost.URL's; outgoing requests are wds/http.hpp's.
// Not part of the umbrella header: link wds::http.

#include <wds/config.hpp>

#if !WDS_HAS_HTTP
#error "wds/ais.hpp needs Boost.Beast and Boost.URL: link wds::http, or define WDS_HAS_HTTP=1 and link -lboost_url"
#endif

#include <wds/error.hpp>
#include <wds/http.hpp>
#include <wds/io.hpp>
#include <wds/json.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cctype>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

WDS_NAMESPACE_BEGIN

// An error of the ETL server itself (ids 900-999). It carries the HTTP status
// the request is answered with.
class server_error : public error {
 public:
  server_error(int id, location where, std::string_view reason, int http_status = 500)
      : error("server", id, std::move(where), reason), http_status_(http_status) {}
  int http_status() const noexcept { return http_status_; }

 private:
  int http_status_;
};

namespace ais {

// ---- spool: memory first, then an unlinked temporary file -------------------

// A sink that keeps up to memory_limit bytes in memory and moves everything to
// an anonymous temporary file beyond that; refuses to grow past max_size.
// After close() it can be read back (read_at) any number of times, which is
// what makes a direct put retryable and a large response streamable.
class spool {
 public:
  spool(std::string name, std::size_t memory_limit, std::uint64_t max_size, std::string temp_dir)
      : name_(std::move(name)), memory_limit_(memory_limit), max_size_(max_size),
        temp_dir_(std::move(temp_dir)) {}
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;
  ~spool() {
    if (fd_ >= 0) ::close(fd_);
  }

  void write(const std::byte* src, std::size_t n) {
    if (n > max_size_ - size_)
      throw server_error(903, {name_, {}, size_},
                         "object larger than the server's max_object_size (" +
                             std::to_string(max_size_) + " bytes)",
                         413);
    if (fd_ < 0 && buf_.size() + n > memory_limit_) spill();
    if (fd_ >= 0 && buf_.size() + n > file_buffer) flush();
    if (fd_ >= 0 && n >= file_buffer) {
      wds::detail::write_fd(fd_, src, n, name_);
    } else {
      buf_.insert(buf_.end(), src, src + n);
    }
    size_ += n;
  }
  // Flushes; the spool is then readable with read_at().
  void close() {
    if (fd_ >= 0) flush();
  }

  std::uint64_t size() const noexcept { return size_; }
  bool in_memory() const noexcept { return fd_ < 0; }
  // The bytes, when in_memory().
  const std::vector<std::byte>& bytes() const noexcept { return buf_; }
  // Bytes of memory the spool holds (its buffer's capacity).
  std::size_t memory_held() const noexcept { return buf_.capacity(); }
  const std::string& name() const noexcept { return name_; }

  // Reads up to n bytes at offset (after close()); 0 at the end.
  std::size_t read_at(std::uint64_t offset, std::byte* dst, std::size_t n) const {
    if (offset >= size_) return 0;
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size_ - offset));
    if (fd_ < 0) {
      std::memcpy(dst, buf_.data() + offset, n);
      return n;
    }
    for (;;) {
      ssize_t got = ::pread(fd_, dst, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR)
        throw io_error(101, {name_, {}, offset}, "spool read failed: " + std::string(std::strerror(errno)));
    }
  }

 private:
  static constexpr std::size_t file_buffer = std::size_t{1} << 20;

  void spill() {
    std::string dir = temp_dir_.empty() ? "/tmp" : temp_dir_;
    std::string pattern = dir + "/wds-ais-XXXXXX";
    std::vector<char> path(pattern.begin(), pattern.end());
    path.push_back('\0');
    int fd = ::mkstemp(path.data());
    if (fd < 0)
      throw server_error(912, {name_, {}, location::unknown_offset},
                         "cannot create a temporary spool file in " + dir + ": " + std::strerror(errno), 500);
    ::unlink(path.data());  // anonymous: the kernel frees it with the descriptor
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    fd_ = fd;
    flush();
    // Give the memory back: from here on only file_buffer bytes are buffered,
    // and a request's peak is one spool's memory_limit, not input + output.
    std::vector<std::byte>().swap(buf_);
    buf_.reserve(file_buffer);
  }
  void flush() {
    if (!buf_.empty()) wds::detail::write_fd(fd_, buf_.data(), buf_.size(), name_);
    buf_.clear();
  }

  std::string name_;
  std::size_t memory_limit_;
  std::uint64_t max_size_;
  std::string temp_dir_;
  std::vector<std::byte> buf_;
  std::uint64_t size_ = 0;
  int fd_ = -1;
};

// Writes into a spool owned by someone else (the sink concept of io.hpp), so
// that it can be moved into a tar_writer or an any_sink.
class spool_sink {
 public:
  explicit spool_sink(spool& s) : spool_(&s) {}
  void write(const std::byte* src, std::size_t n) { spool_->write(src, n); }
  void close() { spool_->close(); }
  const std::string& name() const noexcept { return spool_->name(); }

 private:
  spool* spool_;
};

// Reads a closed spool from the start (the source concept of io.hpp).
class spool_source {
 public:
  explicit spool_source(std::shared_ptr<const spool> s) : spool_(std::move(s)), name_(spool_->name()) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    std::size_t k = spool_->read_at(offset_, dst, n);
    offset_ += k;
    return k;
  }
  const std::string& name() const noexcept { return name_; }

 private:
  std::shared_ptr<const spool> spool_;
  std::string name_;
  std::uint64_t offset_ = 0;
};

// ---- what the transform function sees -------------------------------------

struct object_request {
  std::string method;    // "PUT" (hpush), "GET" (hpull), "WS" (WebSocket), "POST" (/download)
  std::string path;      // object path, URL-decoded, without the leading '/': "bucket/shard-01.tar"
                         // (hpull: the uname, "ais/@#/bucket/shard-01.tar"; WebSocket: "path")
  std::string etl_args;  // the etl_args query parameter or WebSocket field ("" when absent)
  std::string fqn;       // the resolved etl_fqn file, "" when the bytes came in the request
  std::uint64_t size = 0;  // input size in bytes
  // Content-Type of the reply; the function may change it (e.g. "image/png").
  std::string content_type = "application/octet-stream";
};

// Reads the whole object from `in`, writes the whole result to `out` (both may
// be moved into a tar_reader / tar_writer). Throw (any wds::error, or anything
// else) to fail the object; see status_for().
using transform_function = std::function<void(any_source& in, any_sink& out, object_request& req)>;

// A function on whole objects in memory (images, small files).
using bytes_function = std::function<std::vector<std::byte>(const std::vector<std::byte>& in, object_request& req)>;

// Adapts a bytes_function; objects above max_in_memory bytes are refused (413).
inline transform_function whole_object(bytes_function fn, std::uint64_t max_in_memory = std::uint64_t{1} << 30) {
  return [fn = std::move(fn), max_in_memory](any_source& in, any_sink& out, object_request& req) {
    if (req.size > max_in_memory)
      throw server_error(903, {req.path, {}, location::unknown_offset},
                         "object larger than the in-memory limit (" + std::to_string(max_in_memory) + " bytes)", 413);
    std::vector<std::byte> data(static_cast<std::size_t>(req.size));
    std::size_t got = read_full(in, data.data(), data.size());
    data.resize(got);
    std::byte extra{};
    if (in.read(&extra, 1) != 0)
      throw server_error(903, {req.path, {}, got}, "object grew while being read", 413);
    std::vector<std::byte> result = fn(data, req);
    out.write(result.data(), result.size());
  };
}

// The HTTP status an exception from a transform function is answered with:
// bad request arguments 400, malformed object content 422, the server's own
// errors their status, anything else 500.
inline int status_for(const std::exception& e) noexcept {
  if (auto* s = dynamic_cast<const server_error*>(&e)) return s->http_status();
  if (dynamic_cast<const spec_error*>(&e)) return 400;
  if (dynamic_cast<const tar_error*>(&e) || dynamic_cast<const sample_error*>(&e) ||
      dynamic_cast<const decode_error*>(&e))  // limit_error included
    return 422;
  return 500;
}

// One line, at most 1000 bytes: what AIStore shows as "ETL error: ...".
inline std::string one_line(std::string_view text) {
  std::string s(text.substr(0, 1000));
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s;
}


// ---- URLs, Ais-Node-Url, etl_fqn (Boost.URL does every encoding) -----------

namespace detail {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace urls = boost::urls;
using error_code = boost::system::error_code;

inline boost::core::string_view sv(std::string_view s) { return {s.data(), s.size()}; }
inline std::string str(boost::core::string_view s) { return std::string(s.data(), s.size()); }
inline bool http_iequals(boost::core::string_view a, std::string_view b) {
  return wds::http::detail::iequals(std::string_view(a.data(), a.size()), b);
}

inline server_error bad_url(std::string_view url, const std::string& why, std::string_view what = "URL") {
  return server_error(914, {}, std::string(what) + " \"" + one_line(url) + "\": " + why, 400);
}
}  // namespace detail

// Go's url.PathUnescape: one level of %XX decoding ('+' stays '+'). etl_fqn
// arrives PathEscape'd and then query-encoded (communicator.go:309-322): the
// query value is decoded by the query parser, then this is the second level.
inline std::string path_unescape(std::string_view s, std::string_view what = "etl_fqn") {
  auto pv = boost::urls::make_pct_string_view(detail::sv(s));
  if (!pv)
    throw server_error(916, {std::string(s), {}, location::unknown_offset},
                       std::string(what) + " is not percent-encoded correctly (AIStore sends it PathEscape'd, then "
                                           "query-encoded: decode the query, then unescape once more)",
                       400);
  return pv->decode();
}

// Go's url.PathEscape of an object path, keeping '/': what a URL path holds.
inline std::string path_escape(std::string_view path) {
  boost::urls::url u;
  u.set_path(detail::sv(path));
  return detail::str(u.encoded_path());
}

// Parses an absolute http(s) URL of Ais-Node-Url, AIS_TARGET_URL or
// --target-url. A raw '#' would start a fragment: AIStore escapes it (%23),
// so an entry with one is refused rather than sent somewhere else.
inline boost::urls::url_view parse_http_url(std::string_view url, std::string_view what) {
  auto r = boost::urls::parse_uri(detail::sv(url));
  if (!r) throw detail::bad_url(url, "not a URL (" + r.error().message() + ")", what);
  if (r->scheme_id() != boost::urls::scheme::http && r->scheme_id() != boost::urls::scheme::https)
    throw detail::bad_url(url, "scheme is not http or https", what);
  if (r->encoded_host().empty()) throw detail::bad_url(url, "no host", what);
  if (r->has_fragment()) throw detail::bad_url(url, "has a raw '#' (escape it as %23)", what);
  return *r;
}

// Ais-Node-Url: comma-separated; the last entry is the destination target,
// entries before it further ETL pods (transform.go:261-268). Every entry is
// validated here, before any work. Empty header: no direct put.
inline std::vector<std::string> parse_node_urls(std::string_view header) {
  std::vector<std::string> urls;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  header = trim(header);
  if (header.empty()) return urls;
  for (;;) {
    auto comma = header.find(',');
    std::string_view entry = trim(header.substr(0, comma));
    if (entry.empty()) throw server_error(908, {}, "Ais-Node-Url has an empty entry", 400);
    parse_http_url(entry, "Ais-Node-Url entry");
    urls.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return urls;
}

// True for an Ais-Node-Url entry naming an ETL pod (no path) rather than a target.
inline bool is_pod_entry(std::string_view entry) {
  auto p = parse_http_url(entry, "Ais-Node-Url entry").encoded_path();
  return p.empty() || p == "/";
}

// The URL a direct put goes to, composed as the Go reference web server does
// (webserver.go:396-431): scheme and path prefix from AIS_TARGET_URL, host
// from the entry; a target entry's path (PathEscape'd by the target, kept as
// is) goes after the prefix, a pod entry gets the object path this pod was
// asked for (escaped); the entry's query (owt, uuid) is kept and etl_args set
// in it. Without AIS_TARGET_URL the entry's own scheme is used, no prefix.
inline std::string direct_put_url(std::string_view entry, std::string_view target_url,
                                  std::string_view escaped_object_path, std::string_view etl_args) {
  namespace urls = boost::urls;
  urls::url_view e = parse_http_url(entry, "Ais-Node-Url entry");
  urls::url u;
  std::string prefix;
  if (!target_url.empty()) {
    urls::url_view t = parse_http_url(target_url, "AIS_TARGET_URL");
    u.set_scheme_id(t.scheme_id());
    prefix = detail::str(t.encoded_path());
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  } else {
    u.set_scheme_id(e.scheme_id());
  }
  u.set_encoded_authority(e.encoded_authority());
  std::string path;
  if (is_pod_entry(entry)) {
    path = std::string(escaped_object_path);
  } else {
    std::string entry_path = detail::str(e.encoded_path());
    path = prefix + (entry_path.front() == '/' ? "" : "/") + entry_path;
  }
  if (path.empty() || path.front() != '/') path.insert(0, "/");
  u.set_encoded_path(detail::sv(path));
  if (e.has_query()) u.set_encoded_query(e.encoded_query());
  if (!etl_args.empty()) {
    // Fully escaped (a '+' left raw would read as a space to Go's ParseQuery).
    std::string value = urls::encode(detail::sv(etl_args), urls::unreserved_chars);
    u.encoded_params().set("etl_args", urls::pct_string_view(value));
  }
  return detail::str(u.buffer());
}

// hpull without etl_fqn: $AIS_TARGET_URL/<the escaped path as received>
// (webserver.go:129-169), no query.
inline std::string target_object_url(std::string_view target_url, std::string_view escaped_path) {
  boost::urls::url u(parse_http_url(target_url, "AIS_TARGET_URL"));
  std::string prefix = detail::str(u.encoded_path());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  u.set_encoded_path(detail::sv(prefix + std::string(escaped_path)));
  u.remove_query();
  return detail::str(u.buffer());
}

// Resolves "." and ".." without touching the file system (path is absolute).
inline std::string lexically_normal(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (auto p : parts) out.append("/").append(p);
  return out.empty() ? "/" : out;
}

inline bool path_within(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

// The file an etl_fqn names. Like AIStore's Python webserver a relative value
// is taken from "/". With a root, the path must stay inside it after ".." and
// symlinks are resolved (403 otherwise); a missing file is 404.
inline std::string resolve_fqn(std::string_view fqn, const std::string& root) {
  std::string abs = lexically_normal(fqn);
  if (!root.empty() && !path_within(abs, root))
    throw server_error(901, {std::string(fqn), {}, location::unknown_offset},
                       "etl_fqn is outside the allowed root " + root, 403);
  char buf[PATH_MAX];
  if (::realpath(abs.c_str(), buf) == nullptr) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR)
      throw server_error(902, {std::string(fqn), {}, location::unknown_offset}, "etl_fqn: no such file", 404);
    throw server_error(904, {std::string(fqn), {}, location::unknown_offset},
                       std::string("etl_fqn cannot be resolved: ") + std::strerror(e), 403);
  }
  std::string real(buf);
  if (!root.empty() && !path_within(real, root))
    throw server_error(901, {std::string(fqn), {}, location::unknown_offset},
                       "etl_fqn is outside the allowed root " + root + " (via a symlink)", 403);
  return real;
}

// ---- options and the server --------------------------------------------------

struct server_options {
  std::string host = "0.0.0.0";
  int port = 8000;  // 0: any free port (bind() returns it)
  unsigned threads = 0;  // objects transformed at once; 0: max(8, 2 * cores)
  unsigned max_connections = 1024;  // open connections (HTTP and WebSocket); beyond: closed at once
  std::string target_url;  // AIS_TARGET_URL: hpull fetches, path prefix and scheme of direct puts
  std::string auth_token;  // AIS_AUTHN_TOKEN: Bearer token on requests to targets and pods
  wds::http::tls_options tls = wds::http::tls_from_env();  // AIS_SKIP_VERIFY_CRT, AIS_CLIENT_CA, AIS_CRT, AIS_CRT_KEY
  std::string fqn_root;    // "" lets etl_fqn name any file; else it must resolve inside this dir
  std::size_t memory_limit = std::size_t{16} << 20;  // per object, input and output; beyond: temp file
  std::uint64_t max_object_size = std::uint64_t{1} << 40;  // 1 TiB, input and output each
  std::string temp_dir;  // "" : $TMPDIR, else /tmp
  unsigned direct_put_retries = 3;  // AIS_DIRECT_PUT_RETRIES
  std::chrono::milliseconds direct_put_backoff{1000};  // waits 1x, 2x, 4x... capped at 30 s
  std::chrono::seconds upstream_timeout{300};  // read/write progress of hpull GETs and direct PUTs
  std::chrono::seconds io_timeout{30};  // read/write progress on a client connection (not idle WebSocket)
  std::chrono::seconds keep_alive_timeout{5};  // idle HTTP connection between requests
  std::size_t max_header_size = std::size_t{64} << 10;  // request header block; beyond: 431
  // Receives one line per request (no newline); default: stderr.
  std::function<void(const std::string&)> log;

  // Defaults plus AIS_TARGET_URL, AIS_AUTHN_TOKEN, AIS_DIRECT_PUT_RETRIES, TMPDIR and the TLS variables.
  static server_options from_environment() {
    server_options o;
    if (const char* v = std::getenv("AIS_TARGET_URL")) o.target_url = v;
    if (const char* v = std::getenv("AIS_AUTHN_TOKEN")) o.auth_token = v;
    if (const char* v = std::getenv("AIS_DIRECT_PUT_RETRIES")) {
      char* end = nullptr;
      unsigned long n = std::strtoul(v, &end, 10);
      if (end != v && *end == '\0' && n <= 100) o.direct_put_retries = static_cast<unsigned>(n);
    }
    if (const char* v = std::getenv("TMPDIR"); v && *v) o.temp_dir = v;
    return o;
  }
};

namespace detail {

// Bounds the number of objects transformed at once (C++17 has no semaphore).
class counting_gate {
 public:
  explicit counting_gate(unsigned n) : free_(n) {}
  template <class F>
  decltype(auto) with(F&& f) {
    {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [this] { return free_ > 0; });
      --free_;
    }
    struct release {
      counting_gate* g;
      ~release() {
        {
          std::lock_guard<std::mutex> lock(g->m_);
          ++g->free_;
        }
        g->cv_.notify_one();
      }
    } r{this};
    return std::forward<F>(f)();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  unsigned free_;
};

// One client connection: its own io_context, run by its own thread, one
// operation at a time (Beast's timeouts need asynchronous operations).
struct connection {
  net::io_context ioc{1};
  std::thread thread;
  std::atomic<bool> finished{false};
  // Touched only on the connection's thread: cancel() is posted to ioc.
  bool idle = false;
  std::function<void()> cancel_idle;
  std::string remote;

  template <class Start>
  error_code run(Start&& start) {
    return wds::http::detail::run(ioc, std::forward<Start>(start));
  }
};

}  // namespace detail

class server {
 public:
  explicit server(transform_function fn, server_options opts = {})
      : fn_(std::move(fn)), opts_(std::move(opts)), acceptor_(accept_ioc_), gate_(thread_count(opts_.threads)) {
    if (opts_.temp_dir.empty()) {
      const char* t = std::getenv("TMPDIR");
      opts_.temp_dir = (t && *t) ? t : "/tmp";
    }
    if (!opts_.fqn_root.empty()) {
      char buf[PATH_MAX];
      if (::realpath(opts_.fqn_root.c_str(), buf) == nullptr)
        throw server_error(915, {opts_.fqn_root, {}, location::unknown_offset},
                           std::string("cannot resolve --fqn-root: ") + std::strerror(errno), 500);
      opts_.fqn_root = buf;
    }
    while (opts_.target_url.size() > 1 && opts_.target_url.back() == '/') opts_.target_url.pop_back();
    if (!opts_.target_url.empty()) parse_http_url(opts_.target_url, "AIS_TARGET_URL");
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() {
    stop();
    std::unique_lock<std::mutex> lock(listen_mutex_);  // a listen() still running returns first
  }

  // Binds host:port (port 0: any free port) and returns the port.
  int bind() {
    std::lock_guard<std::mutex> lock(bind_mutex_);
    if (port_ > 0) return port_;
    namespace net = detail::net;
    auto fail = [&](const std::string& why) {
      return server_error(900, {}, "cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) + ": " + why,
                          500);
    };
    detail::error_code ec;
    net::ip::tcp::resolver resolver(accept_ioc_);
    auto found = resolver.resolve(opts_.host, std::to_string(opts_.port),
                                  net::ip::tcp::resolver::passive | net::ip::tcp::resolver::numeric_service, ec);
    if (ec || found.empty()) throw fail(ec ? ec.message() : "no such address");
    net::ip::tcp::endpoint ep = found.begin()->endpoint();
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      detail::error_code ignored;
      acceptor_.close(ignored);
      throw fail(ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return port_;
  }

  // Serves until stop() (binds first when needed). In-flight requests and
  // objects finish; idle connections are closed.
  void listen() {
    std::lock_guard<std::mutex> lock(listen_mutex_);
    bind();
    running_ = true;
    while (!stop_requested_) {
      pollfd p{acceptor_.native_handle(), POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      reap(false);
      if (r <= 0 || stop_requested_) continue;
      auto c = std::make_shared<detail::connection>();
      detail::error_code ec;
      detail::net::ip::tcp::socket sock(c->ioc);
      acceptor_.accept(sock, ec);
      if (ec) continue;
      std::lock_guard<std::mutex> clock(connections_mutex_);
      if (connections_.size() >= opts_.max_connections) continue;  // the socket closes: a dropped connection
      try {
        c->thread = std::thread([this, c, s = std::move(sock)]() mutable {
          serve_connection(*c, std::move(s));
          c->finished = true;
        });
      } catch (const std::system_error&) {
        continue;  // no thread to be had: dropped like one past max_connections
      }
      connections_.push_back(c);
    }
    detail::error_code ignored;
    acceptor_.close(ignored);
    reap(true);
    running_ = false;
  }

  // Thread-safe; may be called before listen() has started.
  void stop() {
    stop_requested_ = true;
    std::lock_guard<std::mutex> lock(connections_mutex_);
    for (auto& c : connections_) interrupt(c);
  }
  bool is_running() const { return running_; }
  int port() const noexcept { return port_; }
  const server_options& options() const noexcept { return opts_; }

 private:
  static unsigned thread_count(unsigned n) { return n ? n : std::max(8u, 2 * std::thread::hardware_concurrency()); }

  // Closes a connection waiting for its next request (or WebSocket message).
  static void interrupt(const std::shared_ptr<detail::connection>& c) {
    // A weak reference: a handler that never runs (the connection's thread is
    // done) stays queued in c->ioc, and a shared_ptr there would keep c alive.
    detail::net::post(c->ioc, [w = std::weak_ptr<detail::connection>(c)] {
      if (auto p = w.lock(); p && p->idle && p->cancel_idle) p->cancel_idle();
    });
  }
  // Joins finished connection threads (all of them when stopping).
  void reap(bool all) {
    std::list<std::shared_ptr<detail::connection>> done;
    {
      std::lock_guard<std::mutex> lock(connections_mutex_);
      for (auto it = connections_.begin(); it != connections_.end();) {
        if (all) interrupt(*it);
        if (all || (*it)->finished) {
          done.push_back(*it);
          it = connections_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : done) c->thread.join();
  }

  // ---- one object, whatever the transport ----

  struct job {
    object_request obj;
    std::string escaped_path;  // "/bck/a%20b.tar": the object path as a URL path
    std::vector<std::string> hops;  // Ais-Node-Url (or the WebSocket "pipeline")
    bool body_sent = false;  // the object came in the request: a replay by the target helps
  };
  struct answer {
    unsigned status = 200;  // 200: body; 204: delivered by direct put
    std::shared_ptr<spool> body;
    std::string content_type;
    std::uint64_t direct_put_length = 0;
    std::string note;  // log fields
  };

  std::shared_ptr<spool> new_spool(const std::string& name) const {
    return std::make_shared<spool>(name, opts_.memory_limit, opts_.max_object_size, opts_.temp_dir);
  }

  // The one place the transform function is called.
  void transform_object(any_source& in, any_sink& out, object_request& req) {
    gate_.with([&] { fn_(in, out, req); });
  }

  answer finish_object(job& j, any_source in) {
    auto result = new_spool(j.obj.path);
    {
      any_sink sink{spool_sink(*result)};
      transform_object(in, sink, j.obj);
    }
    result->close();
    if (!j.hops.empty()) return direct_put(j, result);
    answer a;
    a.body = std::move(result);
    a.content_type = j.obj.content_type;
    return a;
  }

  wds::http::client_options client_options() const {
    wds::http::client_options o;
    o.io_timeout = opts_.upstream_timeout;
    o.bearer_token = opts_.auth_token;
    o.tls = opts_.tls;
    return o;
  }

  // Streams a response body into a new spool (bounded by max_object_size).
  std::shared_ptr<spool> receive(wds::http::response_stream& r, const std::string& name) const {
    auto s = new_spool(name);
    std::vector<std::byte> buf(std::size_t{1} << 18);
    while (std::size_t k = r.read(buf.data(), buf.size())) s->write(buf.data(), k);
    s->close();
    return s;
  }

  // hpull without etl_fqn.
  std::shared_ptr<spool> fetch_from_target(const job& j) const {
    if (opts_.target_url.empty())
      throw server_error(905, {j.obj.path, {}, location::unknown_offset},
                         "hpull needs AIS_TARGET_URL (or an etl_fqn query parameter)", 500);
    const std::string url = target_object_url(opts_.target_url, j.escaped_path);
    try {
      auto r = wds::http::get(url, client_options());
      if (r.status() != 200) {
        std::string body = r.read_text(300);
        unsigned st = r.status();
        throw server_error(907, {url, {}, location::unknown_offset},
                           "hpull: the target answered HTTP " + std::to_string(st) +
                               (body.empty() ? "" : ": " + one_line(body)),
                           st >= 400 && st < 600 ? static_cast<int>(st) : 502);
      }
      return receive(r, j.obj.path);
    } catch (const io_error& e) {
      throw server_error(906, {url, {}, location::unknown_offset},
                         "hpull: cannot fetch the object from the target: " + e.reason(), 502);
    }
  }

  // PUTs the result to the first hop, passing the rest of the list on;
  // retried with backoff (the spool can be read again). A next pod's 200
  // body is forwarded; a receiver's error status is passed back.
  answer direct_put(const job& j, const std::shared_ptr<spool>& data) {
    const std::string url = direct_put_url(j.hops.front(), opts_.target_url, j.escaped_path, j.obj.etl_args);
    wds::http::client_options co = client_options();
    if (j.hops.size() > 1) {
      std::string rest;
      for (std::size_t i = 1; i < j.hops.size(); ++i) rest += (i > 1 ? "," : "") + j.hops[i];
      co.headers.emplace_back("Ais-Node-Url", rest);
    }
    co.headers.emplace_back("Content-Type", j.obj.content_type);
    std::string last_failure;
    unsigned last_status = 0;  // 0: no answer (connection failed)
    bool transient_answer = false;
    unsigned attempts = 0;
    for (unsigned attempt = 0; attempt <= opts_.direct_put_retries; ++attempt) {
      if (attempt > 0 && !backoff(attempt - 1)) break;
      ++attempts;
      try {
        std::uint64_t off = 0;
        wds::http::body_reader reader = [&](std::byte* dst, std::size_t n) {
          std::size_t k = data->read_at(off, dst, n);
          off += k;
          return k;
        };
        auto r = wds::http::put(url, data->size(), reader, co);
        const unsigned st = r.status();
        if (st >= 200 && st < 300) {
          auto forwarded = receive(r, j.obj.path);
          answer a;
          a.note = "direct_put=" + url + ":" + std::to_string(st);
          if (st == 200 && forwarded->size() > 0) {  // a next ETL pod answered with its result
            a.body = std::move(forwarded);
            a.content_type = r.header("Content-Type").value_or(j.obj.content_type);
            return a;
          }
          a.status = 204;
          a.direct_put_length = data->size();
          if (auto len = r.header("Ais-Direct-Put-Length")) a.direct_put_length = std::strtoull(len->c_str(), nullptr, 10);
          return a;
        }
        last_status = st;
        transient_answer = st == 503 && r.header("Ais-Etl-Retry-Reason") == std::optional<std::string>("direct-put-transient");
        std::string body = r.read_text(300);
        last_failure = "HTTP " + std::to_string(st) + " " + std::string(r.reason()) +
                       (body.empty() ? "" : ": " + one_line(body));
        if (st < 500) break;  // the receiver refused this object: retrying will not help
      } catch (const io_error& e) {
        last_status = 0;
        last_failure = e.reason();
      }
    }
    const std::string why = "direct put to " + url + " failed after " + std::to_string(attempts) + " attempt" +
                            (attempts == 1 ? "" : "s") + ": " + last_failure;
    const location where{j.obj.path, {}, location::unknown_offset};
    if (last_status != 0) {
      // The receiver's own status goes back; its retry request only when a replay can help.
      if (transient_answer && j.body_sent) throw server_error(910, where, why, 503);
      throw server_error(909, where, why, static_cast<int>(last_status >= 400 && last_status < 600 ? last_status : 502));
    }
    if (j.body_sent) throw server_error(910, where, why, 503);
    throw server_error(909, where, why, 502);
  }

  // Sleeps base * 2^n (at most 30 s); false when the server is stopping.
  bool backoff(unsigned n) const {
    auto delay = opts_.direct_put_backoff * (std::int64_t{1} << std::min(n, 16u));
    auto cap = std::chrono::milliseconds(30000);
    auto until = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(delay, cap);
    while (std::chrono::steady_clock::now() < until) {
      if (stop_requested_) return false;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    }
    return true;
  }

  any_source open_fqn(object_request& obj) const {
    int fd = ::open(obj.fqn.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT) throw server_error(902, {obj.fqn, {}, location::unknown_offset}, "etl_fqn: no such file", 404);
      throw server_error(904, {obj.fqn, {}, location::unknown_offset},
                         std::string("etl_fqn cannot be opened: ") + std::strerror(e), 403);
    }
    fd_source src(fd, obj.fqn, true);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      throw server_error(904, {obj.fqn, {}, location::unknown_offset}, "etl_fqn is not a regular file", 403);
    obj.size = static_cast<std::uint64_t>(st.st_size);
    if (obj.size > opts_.max_object_size)
      throw server_error(903, {obj.fqn, {}, location::unknown_offset},
                         "object larger than the server's max_object_size (" +
                             std::to_string(opts_.max_object_size) + " bytes)",
                         413);
    return any_source(std::move(src));
  }

  // What an exception becomes: status, one line, and whether a replay helps.
  struct failure {
    int status = 500;
    std::string text;
    bool transient = false;
  };
  static failure failure_of(std::exception_ptr ep, const std::string& path) {
    failure f;
    try {
      std::rethrow_exception(ep);
    } catch (const server_error& e) {
      f.status = e.http_status();
      f.text = e.what();
      f.transient = e.id() == 910;
    } catch (const std::bad_alloc&) {
      f.text = "[wds.server.913] out of memory while transforming " + path;
    } catch (const std::exception& e) {
      f.status = status_for(e);
      f.text = e.what();
      if (!dynamic_cast<const error*>(&e)) f.text = "[wds.server.913] " + path + ": " + f.text;
    } catch (...) {
      f.text = "[wds.server.913] " + path + ": unknown exception";
    }
    f.text = one_line(f.text);
    return f;
  }

  // ---- HTTP ----

  using request_parser = detail::bhttp::request_parser<detail::bhttp::buffer_body>;

  struct reply {
    unsigned status = 200;
    std::string content_type = "text/plain";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string text;                     // the body, when no spool
    std::shared_ptr<const spool> body;    // the body, streamed
    std::uint64_t size() const { return body ? body->size() : text.size(); }
  };

  static reply error_reply(const failure& f) {
    reply r;
    r.status = static_cast<unsigned>(f.status);
    r.text = f.text + "\n";
    if (f.transient) r.headers.emplace_back("Ais-Etl-Retry-Reason", "direct-put-transient");
    return r;
  }

  detail::error_code write_reply(detail::connection& c, detail::beast::tcp_stream& s, const reply& r, bool keep_alive) {
    namespace bhttp = detail::bhttp;
    bhttp::response<bhttp::buffer_body> res{static_cast<bhttp::status>(r.status), 11};
    res.set(bhttp::field::server, "wds-etl");
    for (const auto& [k, v] : r.headers) res.set(detail::sv(k), detail::sv(v));
    if (r.status != 204) {
      res.set(bhttp::field::content_type, detail::sv(r.content_type));
      res.content_length(r.size());
    }
    res.keep_alive(keep_alive);
    res.body().data = nullptr;
    res.body().more = r.status != 204 && r.size() > 0;
    bhttp::response_serializer<bhttp::buffer_body> sr{res};
    s.expires_after(opts_.io_timeout);
    detail::error_code ec = c.run([&](auto h) { bhttp::async_write_header(s, sr, std::move(h)); });
    if (ec || r.status == 204) return ec;
    std::vector<std::byte> chunk(r.body ? std::size_t{1} << 18 : 0);
    std::uint64_t off = 0;
    while (off < r.size()) {
      std::size_t n;
      if (r.body) {
        n = r.body->read_at(off, chunk.data(), chunk.size());
        if (n == 0) return detail::net::error::eof;  // cannot happen: a closed spool has its size
        res.body().data = chunk.data();
      } else {
        n = r.text.size();
        res.body().data = const_cast<char*>(r.text.data());
      }
      off += n;
      res.body().size = n;
      res.body().more = off < r.size();
      s.expires_after(opts_.io_timeout);
      ec = c.run([&](auto h) { bhttp::async_write(s, sr, std::move(h)); });
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) return ec;
    }
    return {};
  }

  // Reads the rest of a request body, handing each piece to `take`.
  template <class Take>
  void read_body(detail::connection& c, detail::beast::tcp_stream& s, detail::beast::flat_buffer& buf,
                 request_parser& parser, const std::string& name, Take&& take) {
    namespace bhttp = detail::bhttp;
    std::vector<std::byte> chunk(std::size_t{1} << 18);
    std::uint64_t got = 0;
    while (!parser.is_done()) {
      auto& b = parser.get().body();
      b.data = chunk.data();
      b.size = chunk.size();
      s.expires_after(opts_.io_timeout);
      detail::error_code ec = c.run([&](auto h) { bhttp::async_read(s, buf, parser, std::move(h)); });
      const std::size_t n = chunk.size() - b.size;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (n > 0) take(chunk.data(), n);
      got += n;
      if (ec == bhttp::error::partial_message || ec == detail::net::error::eof ||
          ec == detail::net::error::connection_reset || ec == detail::beast::error::timeout)
        throw server_error(911, {name, {}, got},
                           ec == detail::beast::error::timeout ? "request body stalled (client stopped sending)"
                                                               : "request body ended early (client stopped sending)",
                           400);
      if (ec) throw server_error(919, {name, {}, got}, "malformed request body: " + ec.message(), 400);
    }
  }

  // After answering a request whose body was not read: stop sending, read
  // and discard what the client still sends (briefly), so that our answer is
  // not lost to a TCP reset, then close.
  void lingering_close(detail::connection& c, detail::beast::tcp_stream& s) {
    detail::error_code ec;
    s.socket().shutdown(detail::net::ip::tcp::socket::shutdown_send, ec);
    std::vector<char> sink(1 << 16);
    std::uint64_t total = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (total < (std::uint64_t{64} << 20) && std::chrono::steady_clock::now() < until) {
      std::size_t n = 0;
      s.expires_after(std::chrono::seconds(1));
      ec = c.run([&](auto h) {
        s.async_read_some(detail::net::buffer(sink), [&n, h = std::move(h)](detail::error_code e, std::size_t k) mutable {
          n = k;
          h(e);
        });
      });
      if (ec) break;
      total += n;
    }
  }

  void serve_connection(detail::connection& c, detail::net::ip::tcp::socket sock) {
    namespace bhttp = detail::bhttp;
    detail::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    c.remote = ec ? std::string("-") : remote.address().to_string();
    sock.set_option(detail::net::ip::tcp::no_delay(true), ec);
    detail::beast::tcp_stream stream(std::move(sock));
    c.cancel_idle = [&stream] { stream.socket().cancel(); };
    detail::beast::flat_buffer buf;
    bool first = true;
    try {
      while (!stop_requested_) {
        request_parser parser;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts_.max_header_size, UINT32_MAX)));
        parser.body_limit(boost::none);  // max_object_size is checked by the spool
        stream.expires_after(first ? opts_.io_timeout : opts_.keep_alive_timeout);
        c.idle = true;
        ec = c.run([&](auto h) { bhttp::async_read_header(stream, buf, parser, std::move(h)); });
        c.idle = false;
        first = false;
        if (ec == bhttp::error::end_of_stream || ec == detail::net::error::eof ||
            ec == detail::net::error::operation_aborted || ec == detail::beast::error::timeout ||
            ec == detail::net::error::connection_reset || ec == bhttp::error::partial_message)
          break;  // closed, idle timeout, or stopping
        if (ec) {
          const bool big = ec == bhttp::error::header_limit;
          failure f{big ? 431 : 400,
                    big ? "[wds.server.919] request header larger than " + std::to_string(opts_.max_header_size) +
                              " bytes"
                        : "[wds.server.919] malformed HTTP request: " + ec.message(),
                    false};
          auto t0 = std::chrono::steady_clock::now();
          write_reply(c, stream, error_reply(f), false);
          log_line(c.remote, "-", "-", f.status, 0, 0, t0, "error: " + f.text);
          lingering_close(c, stream);
          return;
        }
        if (detail::websocket::is_upgrade(parser.get())) {
          serve_websocket(c, std::move(stream), parser);
          return;
        }
        if (!handle_request(c, stream, buf, parser)) {
          lingering_close(c, stream);
          return;
        }
      }
    } catch (const std::exception& e) {
      log_line(c.remote, "-", "-", 0, 0, 0, std::chrono::steady_clock::now(), "error: connection: " + one_line(e.what()));
    }
    stream.socket().shutdown(detail::net::ip::tcp::socket::shutdown_both, ec);
  }

  // Answers one request; false: close the connection (body not consumed, or Connection: close).
  bool handle_request(detail::connection& c, detail::beast::tcp_stream& stream, detail::beast::flat_buffer& buf,
                      request_parser& parser) {
    namespace bhttp = detail::bhttp;
    namespace urls = detail::urls;
    const auto t0 = std::chrono::steady_clock::now();
    const auto& req = parser.get();
    const std::string method = detail::str(req.method_string());
    const std::string target = detail::str(req.target());
    bool keep = req.keep_alive() && !stop_requested_;
    auto answer_with = [&](const reply& r, const std::string& path, std::uint64_t in, std::uint64_t out,
                           const std::string& note) {
      if (!parser.is_done()) keep = false;  // the body was not read: the connection cannot go on
      bool ok = !write_reply(c, stream, r, keep);
      log_line(c.remote, method, path, static_cast<int>(r.status), in, out, t0, note);
      return ok && keep;
    };
    auto fail_with = [&](std::exception_ptr ep, const std::string& path, std::uint64_t in, std::string note) {
      failure f = failure_of(ep, path);
      note += (note.empty() ? "" : " ") + std::string("error: ") + f.text;
      return answer_with(error_reply(f), path, in, 0, note);
    };

    auto parsed = urls::parse_origin_form(detail::sv(target));
    if (!parsed) {
      auto ep = std::make_exception_ptr(
          server_error(919, {}, "request target is not a valid URL path: " + one_line(target), 400));
      return fail_with(ep, printable(target), 0, "");
    }
    const urls::url_view u = *parsed;
    const std::string escaped_path = detail::str(u.encoded_path());
    const std::string path = detail::str(u.path());
    if (auto expect = req.find(bhttp::field::expect);
        expect != req.end() && detail::http_iequals(expect->value(), "100-continue") && !parser.is_done()) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
      stream.expires_after(opts_.io_timeout);
      if (c.run([&](auto h) { bhttp::async_write(stream, cont, std::move(h)); })) return false;
    }

    if (escaped_path == "/health" && req.method() == bhttp::verb::get) {
      reply r;
      r.text = "Running";
      return answer_with(r, path, 0, 7, "");
    }
    const bool download = escaped_path == "/download" && req.method() == bhttp::verb::post;
    const bool object = escaped_path.size() > 1 && (req.method() == bhttp::verb::get || req.method() == bhttp::verb::put);
    if (!download && !object) {
      const bool known_path = escaped_path == "/health" || escaped_path == "/download" || escaped_path == "/ws" ||
                              escaped_path.size() > 1;
      auto ep = std::make_exception_ptr(server_error(
          926, {}, "no such endpoint: use GET /health, PUT /<bucket>/<object> (hpush), GET /<bucket>/<object> "
                   "(hpull), WebSocket /ws or POST /download",
          known_path ? 405 : 404));
      return fail_with(ep, path, 0, "");
    }

    job j;
    j.obj.method = method;
    j.obj.path = path.empty() ? path : path.substr(1);
    j.escaped_path = escaped_path;
    std::string fqn_param, original_url;
    std::uint64_t bytes_in = 0;
    std::string note;
    try {
      for (auto p : u.params(urls::encoding_opts(true))) {
        if (p.key == "etl_args") j.obj.etl_args = p.value;
        else if (p.key == "etl_fqn") fqn_param = p.value;
        else if (download && p.key == "original_url") original_url = p.value;
        else if (download && p.key == "object_to") j.obj.path = p.value;
      }
      if (auto h = req.find("Ais-Node-Url"); h != req.end()) j.hops = parse_node_urls(detail::str(h->value()));
      if (download) {
        j.escaped_path = path_escape("/" + j.obj.path);
        if (original_url.empty()) throw server_error(918, {}, "POST /download needs original_url", 400);
      }
      if (auto len = parser.content_length(); len && *len > opts_.max_object_size)
        throw server_error(903, {j.obj.path, {}, location::unknown_offset},
                           "object larger than the server's max_object_size (" +
                               std::to_string(opts_.max_object_size) + " bytes)",
                           413);

      any_source in;
      if (!fqn_param.empty()) {
        const std::string fqn = path_unescape(fqn_param);
        read_body(c, stream, buf, parser, j.obj.path, [](const std::byte*, std::size_t) {});
        j.obj.fqn = resolve_fqn(fqn, opts_.fqn_root);
        in = open_fqn(j.obj);
        note = "fqn=" + j.obj.fqn;
      } else if (download) {
        read_body(c, stream, buf, parser, j.obj.path, [](const std::byte*, std::size_t) {});
        auto s = fetch_download(original_url, j.obj.path);
        j.obj.size = s->size();
        in = spool_source(std::move(s));
        note = "download=" + original_url;
      } else if (req.method() == bhttp::verb::put) {
        auto s = new_spool(j.obj.path);
        read_body(c, stream, buf, parser, j.obj.path, [&](const std::byte* d, std::size_t n) { s->write(d, n); });
        s->close();
        j.obj.size = s->size();
        j.body_sent = true;
        in = spool_source(std::move(s));
      } else {
        read_body(c, stream, buf, parser, j.obj.path, [](const std::byte*, std::size_t) {});
        auto s = fetch_from_target(j);
        j.obj.size = s->size();
        in = spool_source(std::move(s));
      }
      bytes_in = j.obj.size;
      answer a = finish_object(j, std::move(in));
      note += (note.empty() || a.note.empty() ? "" : " ") + a.note;
      reply r;
      r.status = a.status;
      if (a.status == 204) {
        r.headers.emplace_back("Ais-Direct-Put-Length", std::to_string(a.direct_put_length));
        return answer_with(r, path, bytes_in, a.direct_put_length, note);
      }
      r.content_type = a.content_type;
      r.body = a.body;
      return answer_with(r, path, bytes_in, a.body->size(), note);
    } catch (...) {
      return fail_with(std::current_exception(), path, bytes_in, note);
    }
  }

  // POST /download: the object is fetched from original_url (no token: it is not a target).
  std::shared_ptr<spool> fetch_download(const std::string& url, const std::string& name) const {
    try {
      wds::http::client_options o = client_options();
      o.bearer_token.clear();
      auto r = wds::http::get(url, o);
      if (r.status() != 200)
        throw server_error(918, {url, {}, location::unknown_offset},
                           "download: HTTP " + std::to_string(r.status()) + " " + std::string(r.reason()), 502);
      return receive(r, name);
    } catch (const io_error& e) {
      throw server_error(918, {url, {}, location::unknown_offset}, "download failed: " + e.reason(), 502);
    }
  }

  // ---- WebSocket (ws://): websocket_comm.go:338-423 ----

  void serve_websocket(detail::connection& c, detail::beast::tcp_stream stream, request_parser& parser) {
    namespace websocket = detail::websocket;
    namespace beast = detail::beast;
    const auto t_open = std::chrono::steady_clock::now();
    const auto& req = parser.get();
    std::string path = detail::str(req.target());
    path = path.substr(0, path.find('?'));
    if (path != "/ws") {
      failure f{404, "[wds.server.926] WebSocket is served at /ws only", false};
      write_reply(c, stream, error_reply(f), false);
      log_line(c.remote, "GET", path, 404, 0, 0, t_open, "error: " + f.text);
      return;
    }
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    beast::get_lowest_layer(ws).expires_never();  // the WebSocket stream keeps its own timers
    websocket::stream_base::timeout t{};
    t.handshake_timeout = opts_.io_timeout;
    // No data for this long: a ping (at half of it), then the connection is
    // given up; the target answers pings, so an idle connection stays.
    t.idle_timeout = std::max<std::chrono::steady_clock::duration>(opts_.io_timeout * 2, std::chrono::minutes(5));
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(opts_.max_object_size);
    ws.auto_fragment(false);
    c.cancel_idle = [&ws] { beast::get_lowest_layer(ws).socket().cancel(); };
    detail::error_code ec = c.run([&](auto h) { ws.async_accept(req, std::move(h)); });
    log_line(c.remote, "GET", "/ws", ec ? 400 : 101, 0, 0, t_open, ec ? "error: WebSocket handshake: " + ec.message() : "");
    if (ec) return;

    std::vector<std::byte> chunk(std::size_t{1} << 18);
    for (;;) {
      // The control message: small JSON, Binary (Text accepted too).
      std::string control;
      c.idle = true;
      if (stop_requested_) ec = detail::net::error::operation_aborted;
      else
        do {
          std::size_t n = 0;
          ec = c.run([&](auto h) {
            ws.async_read_some(detail::net::buffer(chunk.data(), chunk.size()),
                               [&n, h = std::move(h)](detail::error_code e, std::size_t k) mutable {
                                 n = k;
                                 h(e);
                               });
          });
          c.idle = false;
          control.append(reinterpret_cast<const char*>(chunk.data()), n);
          if (!ec && control.size() > (std::size_t{1} << 20)) ec = websocket::error::message_too_big;
        } while (!ec && !ws.is_message_done());
      c.idle = false;
      if (ec) {
        if (ec == detail::net::error::operation_aborted) {  // stopping: nothing in flight
          c.run([&](auto h) { ws.async_close(websocket::close_code::going_away, std::move(h)); });
        }
        return;  // closed by the target, or the connection is gone
      }
      const auto t0 = std::chrono::steady_clock::now();
      job j;
      j.obj.method = "WS";
      std::string note;
      std::uint64_t bytes_in = 0;
      try {
        parse_ws_control(control, j);
        any_source in;
        if (!j.obj.fqn.empty()) {
          j.obj.fqn = resolve_fqn(j.obj.fqn, opts_.fqn_root);
          in = open_fqn(j.obj);
          note = "fqn=" + j.obj.fqn;
        } else {  // the object follows as one Binary message
          auto s = new_spool(j.obj.path);
          do {
            std::size_t n = 0;
            ec = c.run([&](auto h) {
              ws.async_read_some(detail::net::buffer(chunk.data(), chunk.size()),
                                 [&n, h = std::move(h)](detail::error_code e, std::size_t k) mutable {
                                   n = k;
                                   h(e);
                                 });
            });
            if (n > 0) s->write(chunk.data(), n);
            if (ec) throw server_error(911, {j.obj.path, {}, s->size()}, "WebSocket content message: " + ec.message(), 400);
          } while (!ws.is_message_done());
          s->close();
          j.obj.size = s->size();
          j.body_sent = true;
          in = spool_source(std::move(s));
        }
        bytes_in = j.obj.size;
        answer a = finish_object(j, std::move(in));
        note += (note.empty() || a.note.empty() ? "" : " ") + a.note;
        if (a.status == 204) {
          ws.text(true);  // "delivered by direct put" (websocket_comm.go:403-423)
          const std::string ack = "direct-put " + std::to_string(a.direct_put_length);
          ec = c.run([&](auto h) { ws.async_write(detail::net::buffer(ack), std::move(h)); });
        } else {
          ws.binary(true);
          std::uint64_t off = 0;
          const std::uint64_t size = a.body->size();
          do {
            std::size_t n = a.body->read_at(off, chunk.data(), chunk.size());
            off += n;
            ec = c.run([&](auto h) {
              ws.async_write_some(off >= size, detail::net::buffer(chunk.data(), n), std::move(h));
            });
          } while (!ec && off < size);
        }
        log_line(c.remote, "WS", j.obj.path, ec ? 0 : static_cast<int>(a.status), bytes_in,
                 a.status == 204 ? a.direct_put_length : a.body->size(), t0,
                 note + (ec ? (note.empty() ? "" : " ") + std::string("error: sending the answer: ") + ec.message() : ""));
        if (ec) return;
      } catch (...) {
        // Never a Text frame (the target would count it as delivered) and never
        // 1000/1001/1012 (a clean shutdown to the target): close with 1011.
        failure f = failure_of(std::current_exception(), j.obj.path);
        log_line(c.remote, "WS", j.obj.path, f.status, bytes_in, 0, t0,
                 note + (note.empty() ? "" : " ") + "error: " + f.text + " (closing with 1011)");
        websocket::close_reason why(websocket::close_code::internal_error);
        why.reason = f.text.substr(0, 120);
        detail::beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(5));
        c.run([&](auto h) { ws.async_close(why, std::move(h)); });
        return;
      }
    }
  }

  // {"pipeline": "...", "etl_args": "...", "fqn": "<PathEscape(FQN)>", "path": "<object name>"}
  // (ext/etl/api.go:140-145); absent fields are empty.
  void parse_ws_control(const std::string& text, job& j) const {
    json msg;
    try {
      msg = json::parse(text);
    } catch (const error& e) {
      throw server_error(917, {}, "WebSocket control message is not JSON: " + e.reason(), 400);
    }
    if (!msg.is_object()) throw server_error(917, {}, "WebSocket control message is not a JSON object", 400);
    auto field = [&](const char* key) {
      const json* v = msg.find(key);
      if (!v || v->is_null()) return std::string();
      if (!v->is_string()) throw server_error(917, {}, std::string("WebSocket control message: \"") + key + "\" is not a string", 400);
      return v->as_string();
    };
    j.obj.path = field("path");
    while (!j.obj.path.empty() && j.obj.path.front() == '/') j.obj.path.erase(0, 1);
    j.escaped_path = path_escape("/" + j.obj.path);
    j.obj.etl_args = field("etl_args");
    const std::string fqn = field("fqn");
    if (!fqn.empty()) j.obj.fqn = path_unescape(fqn, "fqn");  // escaped once, no query level
    j.hops = parse_node_urls(field("pipeline"));
  }

  // ---- logging ----

  static std::string printable(std::string_view s) {
    std::string out;
    for (char ch : s) {
      auto u = static_cast<unsigned char>(ch);
      if (u < 0x20 || u == 0x7f || ch == '"' || ch == '\\') {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", u);
        out += hex;
      } else {
        out += ch;
      }
    }
    return out;
  }

  void log_line(const std::string& remote, const std::string& method, const std::string& path, int status,
                std::uint64_t in, std::uint64_t out, std::chrono::steady_clock::time_point t0, const std::string& note) {
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t secs = system_clock::to_time_t(now);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    double ms = duration<double, std::milli>(steady_clock::now() - t0).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.1fms", ms);
    std::string line = std::string(stamp) + " " + remote + " " + method + " " + printable(path) + " " +
                       std::to_string(status) + " in=" + std::to_string(in) + " out=" + std::to_string(out) + " " +
                       took + (note.empty() ? "" : " " + note);
    if (opts_.log) {
      opts_.log(line);
      return;
    }
    line += '\n';
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  transform_function fn_;
  server_options opts_;
  detail::net::io_context accept_ioc_;
  detail::net::ip::tcp::acceptor acceptor_;
  detail::counting_gate gate_;
  int port_ = 0;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> running_{false};
  std::mutex bind_mutex_, listen_mutex_, connections_mutex_, log_mutex_;
  std::list<std::shared_ptr<detail::connection>> connections_;
};

// ---- a T per concurrent request ---------------------------------------------

// Lends each concurrent request its own T (codec state is not shared across
// threads), made on demand and reused afterwards; an instance whose call threw
// is dropped rather than reused.
template <class T>
class instance_pool {
 public:
  explicit instance_pool(std::function<std::unique_ptr<T>()> make) : make_(std::move(make)) {}

  // Calls f(T&) with an instance no other thread uses meanwhile.
  template <class F>
  decltype(auto) with(F&& f) {
    std::unique_ptr<T> item;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        item = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!item) item = make_();
    struct give_back {
      instance_pool* pool;
      std::unique_ptr<T>* item;
      int uncaught = std::uncaught_exceptions();
      ~give_back() {
        if (std::uncaught_exceptions() > uncaught) return;
        std::lock_guard<std::mutex> lock(pool->mutex_);
        pool->free_.push_back(std::move(*item));
      }
    } guard{this, &item};
    return std::forward<F>(f)(*item);
  }

 private:
  std::function<std::unique_ptr<T>()> make_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<T>> free_;
};

// ---- torchvision_preprocess compatibility -----------------------------------
//
// AIStore's transformer_torchvision (NVIDIA/ais-etl,
// transformers/torchvision_preprocess) is configured by
//   TRANSFORM='{"Resize": {"size": [224, 224]}, "CenterCrop": {"size": 200}}'
// (torchvision.transforms class names with keyword arguments, applied in key
// order to the PIL image as opened), FORMAT=JPEG|PNG (the PIL save format,
// default JPEG) and per request etl_args '{"format": "PNG"}' (invalid JSON
// there is ignored). These functions translate that into a wds::compose spec.

namespace detail {

inline server_error torchvision_error(int id, const std::string& what) {
  return server_error(id, {}, what, 400);
}

inline std::string integer_text(const json& v, const std::string& what, std::int64_t lo, std::int64_t hi) {
  if (!v.is_integer() || v.as_int() < lo || v.as_int() > hi)
    throw torchvision_error(922, what + " must be an integer in [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "]");
  return std::to_string(v.as_int());
}

inline std::string number_text(const json& v, const std::string& what) {
  if (!v.is_number()) throw torchvision_error(922, what + " must be a number");
  if (v.is_integer()) return std::to_string(v.as_int());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v.as_double());
  return buf;
}

// torchvision's size argument: an int, or [int], or [h, w].
struct size_arg {
  std::string h, w;  // w empty: one number (the shorter side / a square)
};
inline size_arg parse_size(const json& v, const std::string& what) {
  constexpr std::int64_t max_side = 1 << 20;
  if (v.is_integer()) return {integer_text(v, what, 1, max_side), {}};
  if (v.is_array() && v.size() == 1) return {integer_text(v[0], what, 1, max_side), {}};
  if (v.is_array() && v.size() == 2)
    return {integer_text(v[0], what + "[0]", 1, max_side), integer_text(v[1], what + "[1]", 1, max_side)};
  throw torchvision_error(922, what + " must be an int, [size] or [h, w]");
}

inline const char* pil_filter_name(std::int64_t code) {
  switch (code) {  // PIL.Image resampling constants, which torchvision 0.14 still accepts
    case 0: return "nearest";
    case 1: return "lanczos";
    case 2: return "bilinear";
    case 3: return "bicubic";
    case 4: return "box";
    case 5: return "hamming";
    default: return nullptr;
  }
}

inline std::string interpolation_name(const json& v) {
  if (v.is_integer()) {
    if (const char* name = pil_filter_name(v.as_int())) return name;
  } else if (v.is_string()) {
    std::string s = v.as_string();
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (std::int64_t k = 0; k <= 5; ++k)
      if (s == pil_filter_name(k)) return s;
  }
  throw torchvision_error(922, "Resize: interpolation must be 0-5 (PIL codes) or one of nearest, "
                               "bilinear, bicubic, lanczos, box, hamming");
}

// Checks that every keyword of a transform is one it takes.
inline void known_keys(const std::string& name, const json& params, std::initializer_list<const char*> keys) {
  for (const auto& kv : params.as_object()) {
    bool ok = false;
    for (const char* k : keys) ok = ok || kv.first == k;
    if (!ok) throw torchvision_error(922, name + ": unexpected keyword argument \"" + kv.first + "\"");
  }
}
inline const json* required(const std::string& name, const json& params, const char* key) {
  const json* v = params.find(key);
  if (!v) throw torchvision_error(922, name + ": missing required argument \"" + std::string(key) + "\"");
  return v;
}

inline std::string size_spec(const size_arg& s) { return s.w.empty() ? s.h : s.h + "x" + s.w; }

inline std::string floats_spec(const json& v, const std::string& what) {
  if (!v.is_array() || v.size() == 0 || v.size() > 4) throw torchvision_error(922, what + " must be a list of 1-4 numbers");
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + number_text(v[i], what);
  return out;
}

}  // namespace detail

// The compose ops for a TRANSFORM dict (no decode, no encoder). Every key must
// be a torchvision.transforms class this library reproduces exactly; random
// ones are accepted only where their probability makes them deterministic.
inline std::string torchvision_ops(std::string_view transform_json) {
  json cfg;
  try {
    cfg = json::parse(transform_json);
  } catch (const error& e) {
    throw detail::torchvision_error(920, std::string("TRANSFORM is not valid JSON: ") + e.reason() +
                                             (e.offset() == location::unknown_offset
                                                  ? std::string()
                                                  : " at byte " + std::to_string(e.offset())));
  }
  if (!cfg.is_object()) throw detail::torchvision_error(920, "TRANSFORM must be a JSON object {\"Name\": {args}}");
  std::vector<std::string> ops;
  bool tensor = false;  // after ToTensor, before ToPILImage
  for (const auto& member : cfg.as_object()) {
    const std::string& name = member.first;
    const json& params = member.second;
    if (!params.is_object())
      throw detail::torchvision_error(922, name + ": arguments must be a JSON object of keyword arguments");
    auto need_image = [&] {
      if (tensor) throw detail::torchvision_error(922, name + " after ToTensor needs a ToPILImage first");
    };
    if (name == "Resize") {
      need_image();
      detail::known_keys(name, params, {"size", "interpolation", "max_size", "antialias"});
      auto size = detail::parse_size(*detail::required(name, params, "size"), "Resize: size");
      std::string interp = "bilinear";
      if (const json* v = params.find("interpolation")) interp = detail::interpolation_name(*v);
      std::string op = "resize(" + detail::size_spec(size) + "," + interp;
      if (const json* v = params.find("max_size"); v && !v->is_null()) {
        if (!size.w.empty()) throw detail::torchvision_error(922, "Resize: max_size needs a single size");
        op += "," + detail::integer_text(*v, "Resize: max_size", 1, 1 << 20);
      }
      if (const json* v = params.find("antialias"); v && !(v->is_null() || (v->is_bool() && v->as_bool())))
        throw detail::torchvision_error(922, "Resize: antialias=False is not available on PIL images");
      ops.push_back(op + ")");
    } else if (name == "CenterCrop") {
      need_image();
      detail::known_keys(name, params, {"size"});
      ops.push_back("center_crop(" +
                    detail::size_spec(detail::parse_size(*detail::required(name, params, "size"), "CenterCrop: size")) +
                    ")");
    } else if (name == "Grayscale") {
      need_image();
      detail::known_keys(name, params, {"num_output_channels"});
      std::string n = "1";
      if (const json* v = params.find("num_output_channels")) {
        if (!v->is_integer() || (v->as_int() != 1 && v->as_int() != 3))
          throw detail::torchvision_error(922, "Grayscale: num_output_channels must be 1 or 3");
        n = std::to_string(v->as_int());
      }
      ops.push_back("grayscale(" + n + ")");
    } else if (name == "Pad") {
      need_image();
      detail::known_keys(name, params, {"padding", "fill", "padding_mode"});
      const json& p = *detail::required(name, params, "padding");
      std::string l, t, r, b;
      auto side = [&](const json& v) { return detail::integer_text(v, "Pad: padding", 0, 1 << 20); };
      if (p.is_integer()) {
        l = t = r = b = side(p);
      } else if (p.is_array() && p.size() == 1) {
        l = t = r = b = side(p[0]);
      } else if (p.is_array() && p.size() == 2) {
        l = r = side(p[0]);
        t = b = side(p[1]);
      } else if (p.is_array() && p.size() == 4) {
        l = side(p[0]), t = side(p[1]), r = side(p[2]), b = side(p[3]);
      } else {
        throw detail::torchvision_error(922, "Pad: padding must be an int or a list of 1, 2 or 4 ints");
      }
      std::string mode = "constant";
      if (const json* v = params.find("padding_mode")) {
        if (!v->is_string() || (v->as_string() != "constant" && v->as_string() != "edge" &&
                                v->as_string() != "reflect" && v->as_string() != "symmetric"))
          throw detail::torchvision_error(922, "Pad: padding_mode must be constant, edge, reflect or symmetric");
        mode = v->as_string();
      }
      std::string fill = "0";
      if (const json* v = params.find("fill")) {
        if (v->is_array() && v->size() > 0) {
          for (std::size_t i = 1; i < v->size(); ++i)
            if ((*v)[i] != (*v)[0])
              throw detail::torchvision_error(922, "Pad: a per-channel fill is not supported; use one value");
          fill = detail::integer_text((*v)[0], "Pad: fill", 0, 255);
        } else {
          fill = detail::integer_text(*v, "Pad: fill", 0, 255);
        }
      }
      ops.push_back("pad(" + l + "," + t + "," + r + "," + b + "," + (mode == "constant" ? fill : mode) + ")");
    } else if (name == "RandomHorizontalFlip" || name == "RandomVerticalFlip") {
      need_image();
      detail::known_keys(name, params, {"p"});
      double p = 0.5;
      if (const json* v = params.find("p")) {
        if (!v->is_number()) throw detail::torchvision_error(922, name + ": p must be a number");
        p = v->as_double();
      }
      if (p >= 1.0) {
        ops.push_back(name == "RandomHorizontalFlip" ? "hflip" : "vflip");
      } else if (p > 0.0) {
        throw detail::torchvision_error(921, name + " with 0 < p < 1 is random; only p=0 or p=1 is supported");
      }
    } else if (name == "ToTensor" || name == "PILToTensor") {
      detail::known_keys(name, params, {});
      if (name == "PILToTensor") throw detail::torchvision_error(921, "PILToTensor is not supported; use ToTensor");
      need_image();
      ops.push_back("to_tensor");
      tensor = true;
    } else if (name == "Normalize") {
      detail::known_keys(name, params, {"mean", "std", "inplace"});
      if (!tensor) throw detail::torchvision_error(922, "Normalize needs a ToTensor first");
      std::string mean = detail::floats_spec(*detail::required(name, params, "mean"), "Normalize: mean");
      std::string std_ = detail::floats_spec(*detail::required(name, params, "std"), "Normalize: std");
      ops.push_back("normalize(" + mean + "," + std_ + ")");
    } else if (name == "ToPILImage") {
      detail::known_keys(name, params, {"mode"});
      if (const json* v = params.find("mode"); v && !v->is_null())
        throw detail::torchvision_error(921, "ToPILImage: only mode=None is supported");
      if (!tensor) throw detail::torchvision_error(922, "ToPILImage needs a ToTensor first");
      ops.push_back("to_pil_image");
      tensor = false;
    } else {
      throw detail::torchvision_error(921, "unsupported transform \"" + name +
                                               "\" (supported: Resize, CenterCrop, Grayscale, Pad, "
                                               "RandomHorizontalFlip/RandomVerticalFlip with p 0 or 1, "
                                               "ToTensor, Normalize, ToPILImage)");
    }
  }
  if (tensor)
    throw detail::torchvision_error(922, "TRANSFORM ends with a tensor; PIL cannot save it (add \"ToPILImage\": {})");
  std::string spec;
  for (const auto& op : ops) spec += (spec.empty() ? "" : "|") + op;
  return spec;
}

// A PIL save format ("JPEG", "PNG", any case) -> the encoder op and MIME type.
struct image_format {
  std::string encoder;       // "jpeg" (Pillow's default quality 75) or "png"
  std::string content_type;  // "image/jpeg" or "image/png"
};
inline image_format parse_image_format(std::string_view format) {
  std::string f(format);
  for (char& c : f) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (f == "JPEG") return {"jpeg", "image/jpeg"};
  if (f == "PNG") return {"png", "image/png"};
  throw server_error(923, {}, "unsupported image format \"" + one_line(format) + "\" (JPEG or PNG)", 400);
}

// The whole spec of torchvision_preprocess: decode(native) | ops | encoder.
inline std::string torchvision_spec(std::string_view transform_json, std::string_view format) {
  std::string ops = torchvision_ops(transform_json);
  return "decode(native)|" + (ops.empty() ? std::string() : ops + "|") + parse_image_format(format).encoder;
}

// Pillow 9.4 writes the input JPEG's comment (its last COM segment) into a
// JPEG it saves, as long as the image object still carries im.info: true for
// Resize, CenterCrop, Grayscale(1) and flips, false after Grayscale(3), Pad or
// a ToTensor/ToPILImage round trip, which build new images.
inline bool torchvision_keeps_jpeg_comment(std::string_view transform_json) {
  json cfg = json::parse(transform_json);
  for (const auto& [name, params] : cfg.as_object()) {
    if (name == "Resize" || name == "CenterCrop" || name == "RandomHorizontalFlip" || name == "RandomVerticalFlip")
      continue;
    if (name == "Grayscale") {
      const json* n = params.find("num_output_channels");
      if (!n || (n->is_integer() && n->as_int() == 1)) continue;
    }
    return false;
  }
  return true;
}

// The payload of the last COM segment before the image data of a JPEG, if any.
inline std::optional<std::string> jpeg_comment(const std::byte* data, std::size_t size) {
  auto at = [&](std::size_t i) { return static_cast<unsigned>(data[i]); };
  if (size < 4 || at(0) != 0xFF || at(1) != 0xD8) return std::nullopt;
  std::optional<std::string> comment;
  std::size_t i = 2;
  while (i + 4 <= size) {
    if (at(i) != 0xFF) return comment;  // not a marker: malformed, stop looking
    unsigned marker = at(i + 1);
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) break;  // EOI, SOS: headers are over
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      i += 2;
      continue;
    }
    std::size_t len = (at(i + 2) << 8) | at(i + 3);
    if (len < 2 || i + 2 + len > size) break;
    if (marker == 0xFE) comment.emplace(reinterpret_cast<const char*>(data + i + 4), len - 2);
    i += 2 + len;
  }
  return comment;
}

// Inserts a COM segment where Pillow puts it: after SOI and the JFIF APP0.
inline void insert_jpeg_comment(std::vector<std::byte>& jpeg, std::string_view comment) {
  if (jpeg.size() < 4 || comment.size() > 65533) return;
  std::size_t pos = 2;
  if (jpeg.size() >= 6 && jpeg[2] == std::byte{0xFF} && jpeg[3] == std::byte{0xE0})
    pos = 4 + ((static_cast<std::size_t>(jpeg[4]) << 8) | static_cast<std::size_t>(jpeg[5]));
  if (pos > jpeg.size()) return;
  const std::size_t len = comment.size() + 2;
  std::vector<std::byte> seg{std::byte{0xFF}, std::byte{0xFE}, static_cast<std::byte>(len >> 8),
                             static_cast<std::byte>(len & 0xFF)};
  const auto* c = reinterpret_cast<const std::byte*>(comment.data());
  seg.insert(seg.end(), c, c + comment.size());
  jpeg.insert(jpeg.begin() + static_cast<std::ptrdiff_t>(pos), seg.begin(), seg.end());
}

// etl_args '{"format": "PNG"}' -> "PNG"; "" when absent, or when etl_args is
// not a JSON object (ignored, as the Python transformer does).
inline std::string etl_args_format(std::string_view etl_args) {
  if (etl_args.empty()) return {};
  try {
    json args = json::parse(etl_args);
    if (const json* f = args.find("format"); f && f->is_string()) return f->as_string();
  } catch (const error&) {
  }
  return {};
}

// ---- object functions built from run-time specs -----------------------------
//
// These take the spec compiler as a parameter, e.g.
//   [](const std::string& spec) { return wds::compose(spec); }
// so that this header does not depend on compose.hpp and the codecs.

// Compiled pipelines by spec text, compiled on first use; a pipeline's apply()
// must be const and thread-safe. Bounded: etl_args may name many specs.
template <class Pipeline>
class pipeline_cache {
 public:
  explicit pipeline_cache(std::function<Pipeline(const std::string&)> compile) : compile_(std::move(compile)) {}
  std::shared_ptr<const Pipeline> get(const std::string& spec) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = compiled_.find(spec);
    if (it != compiled_.end()) return it->second;
    if (compiled_.size() >= 64) compiled_.clear();
    auto p = std::make_shared<const Pipeline>(compile_(spec));
    compiled_.emplace(spec, p);
    return p;
  }

 private:
  std::function<Pipeline(const std::string&)> compile_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Pipeline>> compiled_;
};

// Each object is one file run through `spec` (bytes in, bytes out); etl_args
// {"pipeline": "SPEC"} replaces the spec for that request. The spec is
// compiled now, so a bad one fails before serving.
template <class Compile>
transform_function spec_objects(const std::string& spec, Compile compile) {
  using pipeline = std::decay_t<decltype(compile(spec))>;
  auto cache = std::make_shared<pipeline_cache<pipeline>>(std::move(compile));
  cache->get(spec);
  return whole_object([cache, spec](const std::vector<std::byte>& in, object_request& req) {
    std::string use = spec;
    if (!req.etl_args.empty()) {
      json args;
      try {
        args = json::parse(req.etl_args);
      } catch (const error& e) {
        throw server_error(924, {req.path, {}, location::unknown_offset}, "etl_args: not valid JSON: " + e.reason(),
                           400);
      }
      const json* p = args.find("pipeline");
      if (!args.is_object() || args.size() != (p ? 1u : 0u) || (p && !p->is_string()))
        throw server_error(924, {req.path, {}, location::unknown_offset},
                           "etl_args: expected {\"pipeline\": \"spec\"}", 400);
      if (p) use = p->as_string();
    }
    return cache->get(use)->apply(in.data(), in.size(), location{req.path, {}, location::unknown_offset});
  });
}

// AIStore's torchvision_preprocess transformer, as a drop-in: TRANSFORM dict,
// FORMAT (JPEG or PNG), etl_args {"format": ...}; the reply's Content-Type is
// the format's (the Python transformer always says image/jpeg).
template <class Compile>
transform_function torchvision_preprocess(const std::string& transform_json, const std::string& format,
                                          Compile compile) {
  const std::string ops = torchvision_ops(transform_json);
  const image_format fmt = parse_image_format(format);
  auto spec_for = [ops](const image_format& f) {
    return "decode(native)|" + (ops.empty() ? std::string() : ops + "|") + f.encoder;
  };
  using pipeline = std::decay_t<decltype(compile(std::string()))>;
  auto cache = std::make_shared<pipeline_cache<pipeline>>(std::move(compile));
  cache->get(spec_for(fmt));
  return whole_object([=](const std::vector<std::byte>& in, object_request& req) {
    image_format f = fmt;
    if (std::string asked = etl_args_format(req.etl_args); !asked.empty()) f = parse_image_format(asked);
    req.content_type = f.content_type;
    // wds::compose carries the source's comment as Pillow does (see
    // torchvision_keeps_jpeg_comment for which ops keep it).
    return cache->get(spec_for(f))->apply(in.data(), in.size(), location{req.path, {}, location::unknown_offset});
  });
}

// Runs the server until SIGTERM or SIGINT, then lets in-flight requests finish.
// Call it before starting other threads (they must inherit the blocked mask).
// Ignores SIGPIPE, as a server writing to sockets must. Returns an exit status.
inline int serve_until_signal(server& srv) {
  sigset_t stop_signals, previous;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    bool signalled = false;
    while (!done) {
      timespec tick{0, 50 * 1000 * 1000};
      if (!signalled) {
        int sig = sigtimedwait(&stop_signals, nullptr, &tick);
        if (sig <= 0) continue;
        signalled = true;
        std::string msg = std::string("wds: ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                          ": finishing in-flight requests, then exiting\n";
        std::fwrite(msg.data(), 1, msg.size(), stderr);
      } else {
        nanosleep(&tick, nullptr);
      }
      srv.stop();  // repeated until listen() returns: covers a signal before it started
    }
  });
  int status = 0;
  try {
    srv.listen();
  } catch (const std::exception& e) {
    std::string msg = one_line(e.what()) + "\n";
    std::fwrite(msg.data(), 1, msg.size(), stderr);
    status = 1;
  }
  done = true;
  waiter.join();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return status;
}

}  // namespace ais
WDS_NAMESPACE_END
