// SPDX-License-Identifier: MIT
#pragma once

// A small blocking HTTP/1.1 client over Boost.Beast (TLS with asio::ssl when
// built with OpenSSL), used by the AIStore ETL server (hpull fetches, direct
// puts) and by http(s):// and ais:// shard sources:
//
//   wds::http::response_stream r = wds::http::get("http://host/bucket/shard-0001.tar");
//   if (r.status() != 200) ...;
//   while (std::size_t n = r.read(buf, sizeof buf)) ...;   // 0 only at the end of the body
//
// URLs are taken as already encoded (Boost.URL parses them; nothing is
// re-encoded). Every error names the URL; a body shorter than its
// Content-Length or a malformed chunk is an error (io.132), never a short
// read that looks complete. One connection per request, closed at the end.
// Not part of the umbrella header: link wds::http (Boost headers, Boost::url,
// Threads, OpenSSL when found).

#include <wds/config.hpp>

#if !WDS_HAS_HTTP
#error "wds/http.hpp needs Boost.Beast and Boost.URL: link wds::http, or define WDS_HAS_HTTP=1 and link -lboost_url"
#endif

#include <wds/error.hpp>
#include <wds/url.hpp>  // url_options; http(s):// and ais:// URLs use this client (end of file)

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#if WDS_HAS_OPENSSL
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cctype>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN
namespace http {

// TLS to the server. Defaults verify the peer against the system's CAs.
struct tls_options {
  bool verify = true;      // false: AIS_SKIP_VERIFY_CRT=true
  std::string ca_file;     // AIS_CLIENT_CA: PEM file of CAs to trust (in addition to the system's)
  std::string cert_file;   // AIS_CRT: client certificate (PEM), for mutual TLS
  std::string key_file;    // AIS_CRT_KEY: its private key (PEM)
};

// Go's strconv.ParseBool, which AIStore uses for its boolean env variables.
inline std::optional<bool> parse_bool(std::string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") return false;
  return std::nullopt;
}

// AIStore's TLS variables: AIS_SKIP_VERIFY_CRT, AIS_CLIENT_CA, AIS_CRT, AIS_CRT_KEY.
inline tls_options tls_from_env() {
  tls_options t;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  if (auto skip = parse_bool(env("AIS_SKIP_VERIFY_CRT"))) t.verify = !*skip;
  t.ca_file = env("AIS_CLIENT_CA");
  t.cert_file = env("AIS_CRT");
  t.key_file = env("AIS_CRT_KEY");
  return t;
}

struct client_options {
  std::chrono::milliseconds connect_timeout{10000};  // resolve + connect + TLS handshake
  std::chrono::milliseconds io_timeout{60000};       // each read or write making no progress
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Range", "bytes=0-99"}
  std::string bearer_token;  // sent as "Authorization: Bearer <token>" when not empty
  tls_options tls = tls_from_env();
  std::size_t max_header_size = std::size_t{64} << 10;  // response header block
};

// Supplies a request body: fills up to n bytes, returns how many (0: no more).
using body_reader = std::function<std::size_t(std::byte* dst, std::size_t n)>;

namespace detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using error_code = boost::system::error_code;

inline io_error url_error(int id, std::string_view url, std::uint64_t offset, const std::string& why) {
  return io_error(id, {std::string(url), {}, offset}, why);
}

// The parts of an http(s) URL a request needs, as given (still encoded).
struct endpoint {
  bool tls = false;
  std::string host;         // for the resolver (IPv6 without brackets)
  std::string port;         // "80" / "443" when the URL has none
  std::string host_header;  // host[:port] as in the URL
  std::string target;       // "/path?query", "/" when empty; never a fragment
};

inline endpoint parse_endpoint(std::string_view url) {
  auto parsed = boost::urls::parse_uri(boost::core::string_view(url.data(), url.size()));
  if (!parsed) throw url_error(133, url, location::unknown_offset, "not a valid URL: " + parsed.error().message());
  boost::urls::url_view u = *parsed;
  endpoint e;
  if (u.scheme_id() == boost::urls::scheme::https) {
    e.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    throw url_error(133, url, location::unknown_offset, "not an http:// or https:// URL");
  }
  if (u.encoded_host().empty()) throw url_error(133, url, location::unknown_offset, "URL has no host");
  if (u.has_userinfo()) throw url_error(133, url, location::unknown_offset, "user:password@ in URLs is not supported");
  e.host = u.host_address();
  e.port = u.has_port() ? std::string(u.port()) : (e.tls ? "443" : "80");
  e.host_header = u.encoded_host_and_port();
  e.target = u.encoded_target();
  if (e.target.empty() || e.target.front() != '/') e.target.insert(0, "/");
  return e;
}

// Runs one asynchronous operation to completion on the connection's own
// io_context: Beast's timeouts (tcp_stream::expires_after) need async calls.
// Handler by handler, so that a timer still pending (a WebSocket's idle
// ping timer) does not keep us waiting after the operation is done.
template <class Start>
error_code run(net::io_context& ioc, Start&& start) {
  error_code result = net::error::would_block;
  bool done = false;
  start([&result, &done](error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  if (ioc.stopped()) ioc.restart();
  while (!done) {
    if (ioc.run_one() == 0) {
      if (done) break;
      ioc.restart();  // out of work without our handler: cannot happen with a started operation
      if (ioc.run_one() == 0) break;
    }
  }
  return result;
}

inline std::string describe(const error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

class connection {
 public:
  connection(std::string url, const client_options& opts) : url_(std::move(url)), opts_(opts) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    // Neither stream exists when resolving or the TLS set-up failed.
    if (!has_stream()) return;
    error_code ignored;
    tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    tcp().socket().close(ignored);
  }

  // Connects, sends the request (with `length` bytes from `body` when body is
  // set) and reads the response header.
  void exchange(bhttp::verb method, const endpoint& ep, std::uint64_t length, const body_reader* body) {
    connect(ep);
    bhttp::request<bhttp::buffer_body> req{method, ep.target, 11};
    req.set(bhttp::field::host, ep.host_header);
    req.set(bhttp::field::user_agent, "wds/" + std::to_string(WDS_VERSION_MAJOR) + "." +
                                          std::to_string(WDS_VERSION_MINOR) + "." +
                                          std::to_string(WDS_VERSION_PATCH));
    req.set(bhttp::field::connection, "close");
    if (!opts_.bearer_token.empty()) req.set(bhttp::field::authorization, "Bearer " + opts_.bearer_token);
    for (const auto& [k, v] : opts_.headers) req.set(k, v);
    if (body) req.content_length(length);
    req.body().data = nullptr;
    req.body().more = body != nullptr && length > 0;

    error_code write_ec = send(req, length, body);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts_.max_header_size, UINT32_MAX)));
    parser_->body_limit(boost::none);
    if (method == bhttp::verb::head) parser_->skip(true);
    expire(opts_.io_timeout);
    error_code ec = with_stream([&](auto& s) {
      return run(ioc_, [&](auto handler) { bhttp::async_read_header(s, buffer_, *parser_, std::move(handler)); });
    });
    if (ec) {
      // A server may answer before reading the whole body (413, 401): then
      // the answer counts; a failed write without an answer is the error.
      if (write_ec) throw url_error(130, url_, location::unknown_offset, "sending the request failed: " + describe(write_ec));
      if (ec == bhttp::error::header_limit)
        throw url_error(134, url_, location::unknown_offset,
                        "response header larger than " + std::to_string(opts_.max_header_size) + " bytes");
      if (ec == beast::error::timeout)
        throw url_error(131, url_, location::unknown_offset, "timed out waiting for the response");
      throw url_error(134, url_, location::unknown_offset, "no valid HTTP response: " + describe(ec));
    }
  }

  std::size_t read(std::byte* dst, std::size_t n) {
    if (n == 0 || done_) return 0;
    for (;;) {
      if (parser_->is_done()) {
        done_ = true;
        return 0;
      }
      auto& b = parser_->get().body();
      b.data = dst;
      b.size = n;
      expire(opts_.io_timeout);
      error_code ec = with_stream([&](auto& s) {
        return run(ioc_, [&](auto handler) { bhttp::async_read(s, buffer_, *parser_, std::move(handler)); });
      });
      const std::size_t got = n - b.size;
      received_ += got;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        done_ = true;
        std::string what;
        if (ec == beast::error::timeout) {
          throw url_error(131, url_, received_, "timed out reading the response body");
        } else if (ec == bhttp::error::partial_message || ec == net::error::eof ||
                   ec == net::error::connection_reset) {
          what = "response body truncated";
          if (auto len = parser_->content_length_remaining(); len && parser_->content_length())
            what += ": got " + std::to_string(received_) + " of " + std::to_string(*parser_->content_length()) +
                    " bytes";
          else if (parser_->chunked())
            what += " (chunked body ended before its last chunk)";
        } else {
          what = "malformed response body: " + describe(ec);
        }
        throw url_error(132, url_, received_, what);
      }
      if (got > 0) return got;
    }
  }

  const bhttp::response<bhttp::buffer_body>& response() const { return parser_->get(); }
  std::optional<std::uint64_t> content_length() const {
    if (auto len = parser_->content_length()) return *len;
    return std::nullopt;
  }
  const std::string& url() const noexcept { return url_; }

 private:
  bool has_stream() const noexcept {
#if WDS_HAS_OPENSSL
    if (tls_) return true;
#endif
    return tcp_.has_value();
  }
  beast::tcp_stream& tcp() {
#if WDS_HAS_OPENSSL
    if (tls_) return beast::get_lowest_layer(*tls_);
#endif
    return *tcp_;
  }
  void expire(std::chrono::milliseconds t) { tcp().expires_after(t); }

  template <class F>
  error_code with_stream(F&& f) {
#if WDS_HAS_OPENSSL
    if (tls_) return f(*tls_);
#endif
    return f(*tcp_);
  }

  void connect(const endpoint& ep) {
    net::ip::tcp::resolver resolver(ioc_);
    net::ip::tcp::resolver::results_type results;
    error_code ec = run(ioc_, [&](auto handler) {
      resolver.async_resolve(ep.host, ep.port, [&results, h = std::move(handler)](error_code e, auto r) mutable {
        results = std::move(r);
        h(e);
      });
    });
    if (ec) throw url_error(130, url_, location::unknown_offset, "cannot resolve " + ep.host + ": " + describe(ec));
#if WDS_HAS_OPENSSL
    if (ep.tls) {
      ssl_.emplace(net::ssl::context::tls_client);
      configure_tls(ep);
      tls_.emplace(ioc_, *ssl_);
      if (!SSL_set_tlsext_host_name(tls_->native_handle(), ep.host.c_str()))
        throw url_error(135, url_, location::unknown_offset, "cannot set the TLS server name");
      tls_->set_verify_callback(net::ssl::host_name_verification(ep.host));
    } else {
      tcp_.emplace(ioc_);
    }
#else
    if (ep.tls) throw url_error(135, url_, location::unknown_offset, "https:// needs wds built with OpenSSL");
    tcp_.emplace(ioc_);
#endif
    expire(opts_.connect_timeout);
    ec = run(ioc_, [&](auto handler) { tcp().async_connect(results, std::move(handler)); });
    if (ec == beast::error::timeout)
      throw url_error(131, url_, location::unknown_offset, "timed out connecting to " + ep.host_header);
    if (ec) throw url_error(130, url_, location::unknown_offset, "cannot connect to " + ep.host_header + ": " + describe(ec));
#if WDS_HAS_OPENSSL
    if (tls_) {
      ec = run(ioc_, [&](auto handler) { tls_->async_handshake(net::ssl::stream_base::client, std::move(handler)); });
      if (ec) throw url_error(135, url_, location::unknown_offset, "TLS handshake failed: " + describe(ec));
    }
#endif
  }

#if WDS_HAS_OPENSSL
  void configure_tls(const endpoint&) {
    error_code ec;
    const tls_options& t = opts_.tls;
    auto fail = [&](const std::string& what) {
      throw url_error(135, url_, location::unknown_offset, what + ": " + ec.message());
    };
    if (t.verify) {
      ssl_->set_default_verify_paths(ec);
      if (ec) fail("cannot load the system CA certificates");
      if (!t.ca_file.empty() && ssl_->load_verify_file(t.ca_file, ec)) fail("cannot load AIS_CLIENT_CA " + t.ca_file);
      ssl_->set_verify_mode(net::ssl::verify_peer);
    } else {
      ssl_->set_verify_mode(net::ssl::verify_none);
    }
    if (!t.cert_file.empty()) {
      if (ssl_->use_certificate_chain_file(t.cert_file, ec)) fail("cannot load AIS_CRT " + t.cert_file);
      if (ssl_->use_private_key_file(t.key_file.empty() ? t.cert_file : t.key_file, net::ssl::context::pem, ec))
        fail("cannot load AIS_CRT_KEY " + t.key_file);
    }
  }
#endif

  // Writes the header, then the body in pieces; returns the write error, if any.
  error_code send(bhttp::request<bhttp::buffer_body>& req, std::uint64_t length, const body_reader* body) {
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    expire(opts_.io_timeout);
    error_code ec = with_stream([&](auto& s) {
      return run(ioc_, [&](auto handler) { bhttp::async_write_header(s, sr, std::move(handler)); });
    });
    if (ec || !body) return ec;
    std::vector<std::byte> chunk(std::size_t{1} << 18);
    std::uint64_t left = length;
    while (left > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
      std::size_t n = (*body)(chunk.data(), want);
      if (n == 0 || n > want)
        throw url_error(136, url_, length - left,
                        "request body ended after " + std::to_string(length - left) + " of " + std::to_string(length) +
                            " bytes");
      left -= n;
      req.body().data = chunk.data();
      req.body().size = n;
      req.body().more = left > 0;
      expire(opts_.io_timeout);
      ec = with_stream([&](auto& s) {
        return run(ioc_, [&](auto handler) { bhttp::async_write(s, sr, std::move(handler)); });
      });
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) return ec;
    }
    return {};
  }

  std::string url_;
  client_options opts_;
  net::io_context ioc_{1};
#if WDS_HAS_OPENSSL
  std::optional<net::ssl::context> ssl_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
#endif
  std::optional<beast::tcp_stream> tcp_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  std::uint64_t received_ = 0;
  bool done_ = false;
};

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

}  // namespace detail

// An HTTP response with its body still on the wire: a wds byte source.
class response_stream {
 public:
  explicit response_stream(std::unique_ptr<detail::connection> c) : c_(std::move(c)) {}

  unsigned status() const { return c_->response().result_int(); }
  std::string_view reason() const {
    auto r = c_->response().reason();
    return {r.data(), r.size()};
  }
  // The first header of that name (case-insensitive), unmodified.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& f : c_->response())
      if (detail::iequals({f.name_string().data(), f.name_string().size()}, name))
        return std::string(f.value());
    return std::nullopt;
  }
  // Every header, in order, as received.
  std::vector<std::pair<std::string, std::string>> headers() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : c_->response()) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return out;
  }
  std::optional<std::uint64_t> content_length() const { return c_->content_length(); }

  // Up to n bytes of the body; 0 only at its end. Throws io_error 131
  // (timeout) or 132 (truncated or malformed body), naming the URL.
  std::size_t read(std::byte* dst, std::size_t n) { return c_->read(dst, n); }
  // The rest of the body as text, at most max bytes (the rest is discarded).
  std::string read_text(std::size_t max = std::size_t{1} << 20) {
    std::string out;
    std::array<std::byte, 16384> buf{};
    while (std::size_t k = read(buf.data(), buf.size())) {
      std::size_t keep = std::min(k, max - std::min(max, out.size()));
      out.append(reinterpret_cast<const char*>(buf.data()), keep);
    }
    return out;
  }
  const std::string& name() const noexcept { return c_->url(); }
  const std::string& url() const noexcept { return c_->url(); }

 private:
  std::unique_ptr<detail::connection> c_;
};

// Any method; with a body when `body` is set (exactly `length` bytes are sent,
// with Content-Length). Throws io_error 130 (connect/send), 131 (timeout),
// 133 (bad URL), 134 (bad response header), 135 (TLS), 136 (body_reader short).
inline response_stream request(std::string_view method, std::string_view url, std::uint64_t length,
                               const body_reader* body, const client_options& opts = {}) {
  auto verb = boost::beast::http::string_to_verb(boost::core::string_view(method.data(), method.size()));
  if (verb == boost::beast::http::verb::unknown)
    throw detail::url_error(133, url, location::unknown_offset, "unknown HTTP method " + std::string(method));
  detail::endpoint ep = detail::parse_endpoint(url);
  auto c = std::make_unique<detail::connection>(std::string(url), opts);
  c->exchange(verb, ep, length, body);
  return response_stream(std::move(c));
}

inline response_stream get(std::string_view url, const client_options& opts = {}) {
  return request("GET", url, 0, nullptr, opts);
}

// PUT with a streamed body of known length.
inline response_stream put(std::string_view url, std::uint64_t length, const body_reader& body,
                           const client_options& opts = {}) {
  return request("PUT", url, length, &body, opts);
}

// PUT of bytes in memory.
inline response_stream put(std::string_view url, const void* data, std::size_t size, const client_options& opts = {}) {
  const auto* p = static_cast<const std::byte*>(data);
  std::size_t off = 0;
  body_reader body = [&](std::byte* dst, std::size_t n) {
    n = std::min(n, size - off);
    std::copy(p + off, p + off + n, dst);
    off += n;
    return n;
  };
  return request("PUT", url, size, &body, opts);
}

}  // namespace http

namespace detail {

// An HTTP GET body as a source for wds/url.hpp, named by the URL the user gave
// (an ais:// URL stays ais://). Timeouts (131) and truncated bodies (132) come
// from the client, renamed to that URL.
class http_url_source {
 public:
  explicit http_url_source(std::unique_ptr<http::response_stream> r, std::string name)
      : name_(std::move(name)), r_(std::move(r)) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    try {
      return r_->read(dst, n);
    } catch (const io_error& e) {
      throw io_error(e.id(), {name_, {}, e.offset()}, e.reason());
    }
  }
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::unique_ptr<http::response_stream> r_;
};

inline http_get_result http_url_get(const std::string& target, const std::string& name, const url_options& opts,
                                    http_header_list extra) {
  http::client_options co;
  const auto ms = std::chrono::milliseconds(static_cast<long long>(opts.timeout_seconds * 1000));
  co.connect_timeout = ms;
  co.io_timeout = ms;
  co.headers = opts.headers;
  for (auto& h : extra) co.headers.push_back(std::move(h));
  std::unique_ptr<http::response_stream> r;
  try {
    r = std::make_unique<http::response_stream>(http::get(target, co));
  } catch (const io_error& e) {
    throw io_error(e.id(), {name, {}, e.offset()}, e.reason());
  }
  const unsigned st = r->status();
  if (st < 200 || st > 299) {
    std::string body = r->read_text(512);
    for (char& c : body)
      if (c == '\n' || c == '\r') c = ' ';
    throw io_error(155, {name, {}, location::unknown_offset},
                   "HTTP " + std::to_string(st) + " " + std::string(r->reason()) + (body.empty() ? "" : ": " + body));
  }
  return {any_source(http_url_source(std::move(r), name)), st};
}

#if WDS_HTTP_SEPARATE
// Installs the client for wds/url.hpp before main() in every program that
// includes this header (see detail::http_get_hook); without
// WDS_HTTP_SEPARATE, url.hpp calls http_url_get directly.
inline const bool http_url_client_installed = (http_get_hook() = &http_url_get, true);
#endif

}  // namespace detail
WDS_NAMESPACE_END
