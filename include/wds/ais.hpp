// SPDX-License-Identifier: MIT
#pragma once

// The AIStore ETL container contract (hpush, hpull, etl_fqn, direct put,
// /health) over cpp-httplib, wrapped around any object-to-object function:
//
//   wds::ais::server srv([](wds::any_source& in, wds::any_sink& out,
//                           wds::ais::object_request& req) { ...read in, write out... });
//   return wds::ais::serve_until_signal(srv);
//
// Every object is transformed completely before the status line is sent (the
// output is spooled in memory up to a limit, then in an unlinked temporary
// file), so a bad object always gets a 4xx/5xx with a one-line reason.
// Not part of the umbrella header: it needs cpp-httplib (link wds::http).

#include <wds/config.hpp>

#if !WDS_HAS_HTTPLIB
#error "wds/ais.hpp needs cpp-httplib: link wds::http, or define WDS_HAS_HTTPLIB=1 and compile with `pkg-config --cflags --libs cpp-httplib`"
#endif

#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/json.hpp>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cctype>
#include <climits>
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
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace wds {

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
  std::string method;    // "PUT" (hpush) or "GET" (hpull)
  std::string path;      // object path, URL-decoded, without the leading '/': "bucket/shard-01.tar"
  std::string etl_args;  // the etl_args query parameter ("" when absent)
  std::string fqn;       // the resolved etl_fqn file, "" when the bytes came over HTTP
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

// What went wrong on an outgoing request, in words.
inline std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "connection lost or timed out while reading the response";
    case httplib::Error::Write: return "connection lost or timed out while sending";
    case httplib::Error::SSLConnection: return "TLS handshake failed";
    case httplib::Error::SSLServerVerification: return "TLS certificate verification failed";
    default: return "HTTP client error: " + httplib::to_string(e);
  }
}

// ---- URLs, Ais-Node-Url, etl_fqn -------------------------------------------

struct url_parts {
  std::string origin;  // "http://host:port", what httplib::Client takes
  std::string target;  // "/path?query" exactly as given (already encoded)
};

// Splits an http(s) URL without re-encoding anything.
inline url_parts split_url(std::string_view url) {
  auto bad = [&](const char* why) {
    return server_error(914, {}, "bad URL \"" + one_line(url) + "\": " + why, 400);
  };
  auto sep = url.find("://");
  if (sep == std::string_view::npos) throw bad("no scheme");
  std::string_view scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https") throw bad("scheme is not http or https");
  auto rest = url.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  std::string_view host = rest.substr(0, end);
  if (host.empty()) throw bad("no host");
  url_parts p{std::string(scheme) + "://" + std::string(host), "/"};
  if (end != std::string_view::npos) {
    std::string_view tail = rest.substr(end);
    tail = tail.substr(0, tail.find('#'));
    p.target = tail.front() == '/' ? std::string(tail) : "/" + std::string(tail);
  }
  return p;
}

// Parses Ais-Node-Url: the direct-put destination, then the remaining stages
// of an ETL pipeline, comma-separated. Empty header: no direct put.
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
    urls.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  split_url(urls.front());  // validate the destination now, before any work
  return urls;
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
  unsigned threads = 0;  // request threads; 0: max(8, 2 * cores)
  std::string target_url;  // AIS_TARGET_URL: where hpull fetches objects without etl_fqn
  std::string auth_token;  // AIS_AUTHN_TOKEN: sent as a Bearer token to the target and direct-put nodes
  std::string fqn_root;    // "" lets etl_fqn name any file; else it must resolve inside this dir
  std::size_t memory_limit = std::size_t{64} << 20;  // per object, input and output; beyond: temp file
  std::uint64_t max_object_size = std::uint64_t{1} << 40;  // 1 TiB, input and output each
  std::string temp_dir;  // "" : $TMPDIR, else /tmp
  unsigned direct_put_retries = 3;  // AIS_DIRECT_PUT_RETRIES
  std::chrono::milliseconds direct_put_backoff{1000};  // waits 1x, 2x, 4x... capped at 30 s
  std::chrono::seconds upstream_timeout{300};  // read/write timeout of hpull GETs and direct PUTs
  std::chrono::seconds keep_alive_timeout{5};
  // Receives one line per request (no newline); default: stderr.
  std::function<void(const std::string&)> log;

  // Defaults plus AIS_TARGET_URL, AIS_AUTHN_TOKEN, AIS_DIRECT_PUT_RETRIES, TMPDIR.
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

class server {
 public:
  explicit server(transform_function fn, server_options opts = {}) : fn_(std::move(fn)), opts_(std::move(opts)) {
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
    if (!opts_.target_url.empty()) target_ = split_url(opts_.target_url);
    unsigned n = opts_.threads;
    if (n == 0) n = std::max(8u, 2 * std::thread::hardware_concurrency());
    http_.new_task_queue = [n] { return new httplib::ThreadPool(n); };
    http_.set_keep_alive_timeout(static_cast<time_t>(opts_.keep_alive_timeout.count()));
    http_.set_keep_alive_max_count(1000);
    // Remember the listening socket: httplib 0.11 listens with a backlog of 5,
    // which drops connections when AIStore opens many at once; bind() raises it.
    http_.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_socket_ = sock;
    });
    http_.set_payload_max_length(static_cast<std::size_t>(
        std::min<std::uint64_t>(opts_.max_object_size, std::numeric_limits<std::size_t>::max())));
    http_.Get("/health", [this](const httplib::Request& req, httplib::Response& res) {
      res.set_content("Running", "text/plain");
      log_line(req, res.status < 0 ? 200 : res.status, 0, 7, std::chrono::steady_clock::now(), "");
    });
    http_.Get(R"(/.+)", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, nullptr); });
    http_.Put(R"(/.+)", [this](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& body) { handle(req, res, &body); });
    // Routes not served (other methods, "/"): still one line of reason and one log line.
    http_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string why = res.status == 404 || res.status == 405
                            ? "no such endpoint: use GET /health, PUT /<bucket>/<object> (hpush) or "
                              "GET /<bucket>/<object> (hpull)"
                            : "malformed HTTP request (HTTP " + std::to_string(res.status) + ")";
      res.set_content(why + "\n", "text/plain");
      log_line(req, res.status, 0, 0, std::chrono::steady_clock::now(), "error: " + why);
    });
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() { stop(); }

  // Binds host:port (port 0: any free port) and returns the port.
  int bind() {
    if (port_ > 0) return port_;
    if (opts_.port == 0) {
      port_ = http_.bind_to_any_port(opts_.host);
    } else if (http_.bind_to_port(opts_.host, opts_.port)) {
      port_ = opts_.port;
    }
    if (port_ <= 0)
      throw server_error(900, {}, "cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) + ": " +
                                      std::strerror(errno), 500);
    if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
    return port_;
  }
  // Serves until stop() (binds first when needed). In-flight requests finish.
  void listen() {
    bind();
    if (stop_requested_) return;
    http_.listen_after_bind();
  }
  // Thread-safe; may be called before listen() has started.
  void stop() {
    stop_requested_ = true;
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (!stopped_ && http_.is_running()) {
      http_.stop();
      stopped_ = true;
    }
  }
  bool is_running() const { return http_.is_running(); }
  int port() const noexcept { return port_; }
  const server_options& options() const noexcept { return opts_; }

 private:
  struct outcome {
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::string note;  // extra log fields
  };

  void handle(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* body) {
    auto t0 = std::chrono::steady_clock::now();
    outcome out;
    std::string error_text;
    int status = 500;
    try {
      process(req, res, body, out);
      status = res.status;
    } catch (const server_error& e) {
      status = e.http_status();
      error_text = e.what();
      if (e.id() == 910) res.set_header("Ais-Etl-Retry-Reason", "direct-put-transient");
    } catch (const std::bad_alloc&) {
      status = 500;
      error_text = "[wds.server.913] out of memory while transforming " + req.path;
    } catch (const std::exception& e) {
      status = status_for(e);
      error_text = e.what();
      if (!dynamic_cast<const error*>(&e)) error_text = "[wds.server.913] " + req.path + ": " + error_text;
    } catch (...) {
      error_text = "[wds.server.913] " + req.path + ": unknown exception";
    }
    if (!error_text.empty()) {
      error_text = one_line(error_text);
      res.status = status;
      res.set_content(error_text + "\n", "text/plain");
      out.note += (out.note.empty() ? "" : " ") + std::string("error: ") + error_text;  // last: free text
    }
    log_line(req, status, out.bytes_in, out.bytes_out, t0, out.note);
  }

  void process(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* body,
               outcome& out) {
    object_request obj;
    obj.method = req.method;
    obj.path = req.path.substr(1);
    obj.etl_args = req.get_param_value("etl_args");
    const std::string fqn = req.get_param_value("etl_fqn");
    // A bad pipeline header fails before any work is done.
    std::vector<std::string> node_urls = parse_node_urls(req.get_header_value("Ais-Node-Url"));

    any_source in;
    if (!fqn.empty()) {
      if (body) drain(*body);
      obj.fqn = resolve_fqn(fqn, opts_.fqn_root);
      in = open_fqn(obj);
      out.note = "fqn=" + obj.fqn;
    } else if (body) {
      auto s = std::make_shared<spool>(obj.path, opts_.memory_limit, opts_.max_object_size, opts_.temp_dir);
      receive(*body, *s, res);
      s->close();
      obj.size = s->size();
      in = spool_source(std::move(s));
    } else {
      auto s = fetch_from_target(req, obj);
      obj.size = s->size();
      in = spool_source(std::move(s));
    }
    out.bytes_in = obj.size;

    auto result = std::make_shared<spool>(obj.path, opts_.memory_limit, opts_.max_object_size, opts_.temp_dir);
    any_sink sink{spool_sink(*result)};
    fn_(in, sink, obj);
    result->close();
    out.bytes_out = result->size();

    if (!node_urls.empty()) {
      direct_put(node_urls, result, obj, res, out);
      return;
    }
    res.status = 200;
    respond_with(res, std::move(result), obj.content_type);
  }

  static void respond_with(httplib::Response& res, std::shared_ptr<spool> data, const std::string& type) {
    if (data->in_memory()) {
      const auto& b = data->bytes();
      res.set_content(reinterpret_cast<const char*>(b.data()), b.size(), type);
      return;
    }
    auto size = static_cast<std::size_t>(data->size());
    res.set_content_provider(size, type, [data](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      std::vector<std::byte> chunk(std::min<std::size_t>(length, std::size_t{1} << 20));
      std::size_t k = data->read_at(offset, chunk.data(), chunk.size());
      return k > 0 && sink.write(reinterpret_cast<const char*>(chunk.data()), k);
    });
  }

  // Reads a PUT body into the spool; errors thrown by the spool come out here.
  void receive(const httplib::ContentReader& body, spool& s, const httplib::Response& res) const {
    std::exception_ptr failure;
    bool ok = body([&](const char* data, std::size_t n) {
      try {
        s.write(reinterpret_cast<const std::byte*>(data), n);
        return true;
      } catch (...) {
        failure = std::current_exception();
        return false;
      }
    });
    if (failure) std::rethrow_exception(failure);
    if (!ok && res.status == 413)  // httplib refused a Content-Length above the maximum
      throw server_error(903, {s.name(), {}, location::unknown_offset},
                         "object larger than the server's max_object_size (" +
                             std::to_string(opts_.max_object_size) + " bytes)",
                         413);
    if (!ok)
      throw server_error(911, {s.name(), {}, s.size()}, "request body ended early (client stopped sending)", 400);
  }
  static void drain(const httplib::ContentReader& body) {
    body([](const char*, std::size_t) { return true; });
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

  httplib::Headers upstream_headers() const {
    httplib::Headers h;
    if (!opts_.auth_token.empty()) h.emplace("Authorization", "Bearer " + opts_.auth_token);
    return h;
  }
  void configure(httplib::Client& cli) const {
    cli.set_url_encode(false);  // URLs arrive encoded; keep them byte for byte
    cli.set_keep_alive(false);
    cli.set_connection_timeout(10, 0);
    cli.set_read_timeout(static_cast<time_t>(opts_.upstream_timeout.count()), 0);
    cli.set_write_timeout(static_cast<time_t>(opts_.upstream_timeout.count()), 0);
  }

  // hpull without etl_fqn: GET $AIS_TARGET_URL/<path> (the path as it came, still encoded).
  std::shared_ptr<spool> fetch_from_target(const httplib::Request& req, const object_request& obj) const {
    if (!target_)
      throw server_error(905, {obj.path, {}, location::unknown_offset},
                         "hpull needs AIS_TARGET_URL (or an etl_fqn query parameter)", 500);
    std::string raw_path = req.target.substr(0, req.target.find('?'));
    std::string base = target_->target == "/" ? "" : target_->target;
    std::string url_path = base + raw_path;
    std::string url = target_->origin + url_path;
    auto s = std::make_shared<spool>(obj.path, opts_.memory_limit, opts_.max_object_size, opts_.temp_dir);
    httplib::Client cli(target_->origin);
    if (!cli.is_valid()) throw server_error(914, {url, {}, location::unknown_offset}, "unsupported target URL", 500);
    configure(cli);
    int status = 0;
    std::string error_body;
    std::exception_ptr failure;
    auto r = cli.Get(
        url_path, upstream_headers(),
        [&](const httplib::Response& head) {
          status = head.status;
          return true;
        },
        [&](const char* data, std::size_t n) {
          if (status != 200) {
            error_body.append(data, std::min(n, 300 - std::min<std::size_t>(300, error_body.size())));
            return true;
          }
          try {
            s->write(reinterpret_cast<const std::byte*>(data), n);
            return true;
          } catch (...) {
            failure = std::current_exception();
            return false;
          }
        });
    if (failure) std::rethrow_exception(failure);
    if (!r)
      throw server_error(906, {url, {}, location::unknown_offset},
                         "hpull: cannot fetch the object from the target: " + describe(r.error()), 502);
    if (status != 200)
      throw server_error(907, {url, {}, location::unknown_offset},
                         "hpull: the target answered HTTP " + std::to_string(status) +
                             (error_body.empty() ? "" : ": " + one_line(error_body)),
                         status >= 400 && status < 600 ? status : 502);
    s->close();
    return s;
  }

  // PUTs the result to the first Ais-Node-Url, passing the rest of the
  // pipeline on; retried with backoff since the spool can be read again.
  void direct_put(const std::vector<std::string>& urls, const std::shared_ptr<spool>& data,
                  const object_request& obj, httplib::Response& res, outcome& out) {
    const url_parts dest = split_url(urls.front());
    httplib::Headers headers = upstream_headers();
    if (urls.size() > 1) {
      std::string rest;
      for (std::size_t i = 1; i < urls.size(); ++i) rest += (i > 1 ? "," : "") + urls[i];
      headers.emplace("Ais-Node-Url", rest);
    }
    const auto size = static_cast<std::size_t>(data->size());
    std::string last_failure;
    bool transient_mid_transfer = false;
    unsigned attempts = 0;
    for (unsigned attempt = 0; attempt <= opts_.direct_put_retries; ++attempt) {
      if (attempt > 0 && !backoff(attempt - 1)) break;
      ++attempts;
      httplib::Client cli(dest.origin);
      if (!cli.is_valid())
        throw server_error(914, {urls.front(), {}, location::unknown_offset}, "unsupported direct-put URL", 400);
      configure(cli);
      httplib::Result r = data->in_memory()
          ? cli.Put(dest.target, headers, reinterpret_cast<const char*>(data->bytes().data()), size,
                    obj.content_type)
          : cli.Put(dest.target, headers, size,
                    [data](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                      std::vector<std::byte> chunk(std::min<std::size_t>(length, std::size_t{1} << 20));
                      std::size_t k = data->read_at(offset, chunk.data(), chunk.size());
                      return k > 0 && sink.write(reinterpret_cast<const char*>(chunk.data()), k);
                    },
                    obj.content_type);
      if (r) {
        const int st = r->status;
        if (st >= 200 && st < 300) {
          out.note += (out.note.empty() ? "" : " ") + ("direct_put=" + urls.front() + ":" + std::to_string(st));
          if (st == 200 && !r->body.empty()) {  // a next ETL stage answered with its own result
            res.status = 200;
            std::string type = r->get_header_value("Content-Type");
            res.set_content(r->body, type.empty() ? obj.content_type : type);
            return;
          }
          std::string length = r->get_header_value("Ais-Direct-Put-Length");
          res.status = 204;
          res.set_header("Ais-Direct-Put-Length", length.empty() ? std::to_string(size) : length);
          return;
        }
        last_failure = "HTTP " + std::to_string(st) + (r->body.empty() ? "" : ": " + one_line(r->body.substr(0, 300)));
        transient_mid_transfer = false;
        if (st < 500) break;  // the receiver refused this object: retrying will not help
      } else {
        const auto err = r.error();
        last_failure = describe(err);
        transient_mid_transfer = err != httplib::Error::Connection && err != httplib::Error::ConnectionTimeout;
      }
    }
    const std::string why = "direct put to " + urls.front() + " failed after " + std::to_string(attempts) +
                            " attempt" + (attempts == 1 ? "" : "s") + ": " + last_failure;
    if (transient_mid_transfer) throw server_error(910, {obj.path, {}, location::unknown_offset}, why, 503);
    throw server_error(909, {obj.path, {}, location::unknown_offset}, why, 502);
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

  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", u);
        out += hex;
      } else {
        out += c;
      }
    }
    return out;
  }

  void log_line(const httplib::Request& req, int status, std::uint64_t in, std::uint64_t out,
                std::chrono::steady_clock::time_point t0, const std::string& note) {
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
    std::string line = std::string(stamp) + " " + req.remote_addr + " " + req.method + " " + printable(req.path) +
                       " " + std::to_string(status) + " in=" + std::to_string(in) + " out=" + std::to_string(out) +
                       " " + took + (note.empty() ? "" : " " + note);
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
  std::optional<url_parts> target_;
  httplib::Server http_;
  int port_ = 0;
  socket_t listen_socket_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::mutex stop_mutex_;
  bool stopped_ = false;
  std::mutex log_mutex_;
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
}  // namespace wds
