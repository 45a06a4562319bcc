// SPDX-License-Identifier: MIT
// An emulated AIStore target, for replaying against `wds-etl serve` exactly the
// requests AIStore's Go target sends to an ETL pod, and for serving the pod's
// own requests back to the target (hpull GET, direct put).
//
// Read from NVIDIA/aistore at commit 583e772 (VersionAIStore 5.0); file:line
// references below are to that commit (see shared/reference/ais-etl-protocol.md):
//   ext/etl/communicator.go   hpush/hpull request building, retryer (503 replay)
//   ext/etl/websocket_comm.go ws:// writeLoop/readLoop
//   ais/tgtetl.go             /v1/etl/_object/<etl>/<secret>/<uname> route
//   ais/tgtobj.go             Ais-Node-Url destination entry
//   core/meta/hrw.go          rendezvous placement
// Go's own net/url rules (shouldEscape, EscapedPath) are what turn the Go
// target's strings into bytes on the wire, so they are reproduced here too.
// Encoding and decoding go through Boost.URL with Go's character sets; HTTP and
// WebSocket through Boost.Beast. Everything listens on and dials 127.0.0.1 only.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>

namespace wds_ais {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;

// Header fields in the order they were sent or received.
using fields = std::vector<std::pair<std::string, std::string>>;

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

inline std::optional<std::string> find_field(const fields& f, std::string_view name) {
  for (const auto& [k, v] : f)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Go's net/url, as the Go target uses it (Go src/net/url/url.go).
namespace go {

// shouldEscape(c, encodePathSegment) is false for these: url.PathEscape.
constexpr urls::grammar::lut_chars path_segment_chars = urls::unreserved_chars + "$&+:=@";
// shouldEscape(c, encodePath) is false for these: URL.EscapedPath().
constexpr urls::grammar::lut_chars path_chars = urls::unreserved_chars + "$&+,/:;=@";
// validEncoded(s, encodePath) also lets these through unescaped.
constexpr urls::grammar::lut_chars valid_encoded_path_chars = path_chars + "!$&'()*+,;=:@[]%";

// url.PathEscape: what the target applies to FQNs (communicator.go:321) and
// unames (communicator.go:420, tgtobj.go:1763).
inline std::string path_escape(std::string_view s) { return urls::encode(s, path_segment_chars); }

// url.QueryEscape, as url.Values.Encode applies it to keys and values.
inline std::string query_escape(std::string_view s) {
  urls::encoding_opts opt;
  opt.space_as_plus = true;
  return urls::encode(s, urls::unreserved_chars, opt);
}

// url.Values with one value per key (as the target always Set()s them).
using values = std::vector<std::pair<std::string, std::string>>;

// url.Values.Encode: keys sorted, key=value joined by '&'.
inline std::string encode(values v) {
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [k, val] : v) {
    if (!out.empty()) out += '&';
    out += query_escape(k) + "=" + query_escape(val);
  }
  return out;
}

inline std::optional<std::string> unescape(std::string_view s, bool plus_is_space) {
  auto pv = urls::make_pct_string_view(s);
  if (pv.has_error()) return std::nullopt;
  urls::encoding_opts opt;
  opt.space_as_plus = plus_is_space;
  return pv->decode(opt);
}

// url.PathUnescape (the target's parse of the uname, tgtetl.go:240; the Go
// reference pod's second decode of etl_fqn, webserver.go:388).
inline std::optional<std::string> path_unescape(std::string_view s) { return unescape(s, false); }
inline std::optional<std::string> query_unescape(std::string_view s) { return unescape(s, true); }

// url.ParseQuery: pairs in order; a pair that fails to decode is dropped, as Go drops it.
inline values parse_query(std::string_view raw) {
  values out;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    auto eq = pair.find('=');
    auto k = query_unescape(pair.substr(0, eq));
    auto v = query_unescape(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (k && v) out.emplace_back(*k, *v);
  }
  return out;
}

inline std::optional<std::string> get(const values& q, std::string_view key) {
  for (const auto& [k, v] : q)
    if (k == key) return v;
  return std::nullopt;
}

// The path bytes net/http writes for a path handed to url.Parse raw: url.go
// setPath keeps the raw form as RawPath when it differs from escape(path,
// encodePath), and EscapedPath() returns it only if validEncoded; else it
// re-escapes. Throws where Go's url.Parse would not keep the path whole.
inline std::string wire_path(std::string_view raw) {
  if (raw.find_first_of("#?") != std::string_view::npos)
    throw std::invalid_argument("url.Parse would cut this path at '#' or '?': " + std::string(raw));
  if (!path_unescape(raw)) throw std::invalid_argument("url.Parse rejects this path (bad %-escape): " + std::string(raw));
  const std::string escaped = urls::encode(raw, path_chars);
  if (escaped == raw) return escaped;
  const bool valid = std::all_of(raw.begin(), raw.end(), [](char c) { return valid_encoded_path_chars(c); });
  return valid ? std::string(raw) : escaped;
}

// jsoniter with EscapeHTML=false (cmn/cos/json.go:23-28), what cos.MustMarshal
// writes: '"', '\\' and control bytes escaped, everything else raw.
inline std::string json_string(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace go

// ---------------------------------------------------------------------------
// Rendezvous (HRW) placement, core/meta/hrw.go:23-55: digest =
// xxhash64(uname, seed MLCG32 = 1103515245, cmn/cos/unsafe.go:16); each target's
// weight is xoshiro256.Hash(targetDigest ^ digest) (cmn/xoshiro256/xoshiro.go),
// targetDigest = xxhash64(targetID, MLCG32) (core/meta/smap.go:108); the
// highest weight wins. tests/ais/gen_hrw_golden.py checks both hashes.
namespace hrw {

constexpr std::uint64_t mlcg32 = 1103515245;

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// XXH64, written from the xxHash specification (what OneOfOne/xxhash Checksum64S computes).
inline std::uint64_t xxhash64(std::string_view s, std::uint64_t seed) {
  constexpr std::uint64_t p1 = 11400714785074694791ull, p2 = 14029467366897019727ull, p3 = 1609587929392839161ull,
                          p4 = 9650029242287828579ull, p5 = 2870177450012600261ull;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* const end = p + s.size();
  auto read64 = [](const unsigned char* q) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | q[i];
    return v;
  };
  auto read32 = [](const unsigned char* q) {
    return std::uint64_t(q[0]) | std::uint64_t(q[1]) << 8 | std::uint64_t(q[2]) << 16 | std::uint64_t(q[3]) << 24;
  };
  auto round = [](std::uint64_t acc, std::uint64_t in) { return rotl(acc + in * p2, 31) * p1; };
  std::uint64_t h;
  if (s.size() >= 32) {
    std::uint64_t v1 = seed + p1 + p2, v2 = seed + p2, v3 = seed, v4 = seed - p1;
    for (; end - p >= 32; p += 32) {
      v1 = round(v1, read64(p));
      v2 = round(v2, read64(p + 8));
      v3 = round(v3, read64(p + 16));
      v4 = round(v4, read64(p + 24));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    for (std::uint64_t v : {v1, v2, v3, v4}) h = (h ^ round(0, v)) * p1 + p4;
  } else {
    h = seed + p5;
  }
  h += s.size();
  for (; end - p >= 8; p += 8) h = rotl(h ^ round(0, read64(p)), 27) * p1 + p4;
  if (end - p >= 4) {
    h = rotl(h ^ (read32(p) * p1), 23) * p2 + p3;
    p += 4;
  }
  for (; p < end; ++p) h = rotl(h ^ (*p * p5), 11) * p1;
  h ^= h >> 33;
  h *= p2;
  h ^= h >> 29;
  h *= p3;
  h ^= h >> 32;
  return h;
}

inline std::uint64_t xoshiro256_hash(std::uint64_t seed) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z = (z ^ (z >> 31)) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z = (z ^ (z >> 31)) * 5;
  return rotl(z, 7) * 9;
}

// Index of the target (by ID) that owns `uname` (Smap.HrwName2T).
inline std::size_t owner(const std::vector<std::string>& target_ids, std::string_view uname) {
  const std::uint64_t digest = xxhash64(uname, mlcg32);
  std::size_t best = 0;
  std::uint64_t max_h = 0;
  for (std::size_t i = 0; i < target_ids.size(); ++i) {
    const std::uint64_t cs = xoshiro256_hash(xxhash64(target_ids[i], mlcg32) ^ digest);
    if (cs >= max_h) {
      max_h = cs;
      best = i;
    }
  }
  return best;
}

}  // namespace hrw

// Bck.MakeUname for a bucket of the global namespace: "ais/@#/<bucket>/<object>" (cmn/bck.go:334-355).
inline std::string uname(std::string_view bucket, std::string_view object) {
  return "ais/@#/" + std::string(bucket) + "/" + std::string(object);
}

// ---------------------------------------------------------------------------
// Client side: blocking calls over async Beast operations on a shared
// io_context, each stream on its own strand, so a WebSocket connection can be
// read and written from two threads as the target's readLoop/writeLoop do.
namespace detail {

class client_io {
 public:
  static client_io& get() {
    static client_io io;
    return io;
  }
  asio::io_context& context() { return ioc_; }
  ~client_io() {
    guard_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

 private:
  client_io() : guard_(asio::make_work_guard(ioc_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

struct op_result {
  beast::error_code ec;
  std::size_t bytes = 0;
};

// Runs `initiate(handler)` on `ex` (the stream's strand) and waits for the handler.
template <class Executor, class Initiate>
op_result await_op(const Executor& ex, Initiate initiate) {
  auto done = std::make_shared<std::promise<op_result>>();
  auto f = done->get_future();
  struct handler {
    std::shared_ptr<std::promise<op_result>> p;
    void operator()(beast::error_code ec) const { p->set_value({ec, 0}); }
    void operator()(beast::error_code ec, std::size_t n) const { p->set_value({ec, n}); }
  };
  asio::post(ex, [initiate, h = handler{done}]() mutable { initiate(h); });
  return f.get();
}

inline void check(const op_result& r, const std::string& what) {
  if (r.ec) throw std::runtime_error(what + ": " + r.ec.message());
}

}  // namespace detail

// "127.0.0.1:PORT" -> endpoint.
inline tcp::endpoint endpoint_of(std::string_view host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("no port in " + std::string(host_port));
  return {asio::ip::make_address(std::string(host_port.substr(0, colon))),
          static_cast<unsigned short>(std::stoi(std::string(host_port.substr(colon + 1))))};
}

// One request as the target sent it and what came back.
struct exchange {
  std::string method, target;  // target = the request-target bytes on the wire
  fields request_headers;
  std::size_t request_body_size = 0;
  int status = 0;
  fields headers;
  std::string body;
  int attempts = 1;  // > 1 when the retryer replayed it (communicator.go:542-552)
  std::optional<std::string> header(std::string_view name) const { return find_field(headers, name); }
};

// A keep-alive HTTP/1.1 client connection (Go's http.Transport reuses them too).
class http_connection {
 public:
  explicit http_connection(const tcp::endpoint& ep) : stream_(asio::make_strand(detail::client_io::get().context())) {
    stream_.expires_after(std::chrono::seconds(10));
    detail::check(detail::await_op(stream_.get_executor(), [&](auto h) { stream_.async_connect(ep, h); }),
                  "connect " + ep.address().to_string() + ":" + std::to_string(ep.port()));
  }
  ~http_connection() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  http::response<http::string_body> round_trip(http::request<http::string_body>& req, std::chrono::seconds timeout) {
    stream_.expires_after(timeout);
    detail::check(detail::await_op(stream_.get_executor(), [&](auto h) { http::async_write(stream_, req, h); }),
                  "write request");
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 32);
    parser.header_limit(1 << 20);
    detail::check(detail::await_op(stream_.get_executor(), [&](auto h) { http::async_read(stream_, buffer_, parser, h); }),
                  "read response");
    return parser.release();
  }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// Where a request comes from in ext/etl: one pod address (podURI is "http://" + addr).
class pod_client {
 public:
  explicit pod_client(std::string host_port) : host_port_(std::move(host_port)), ep_(endpoint_of(host_port_)) {}
  const std::string& host_port() const { return host_port_; }

  // Sends one request the way net/http writes it: Host, User-Agent,
  // Content-Length (always for PUT, even 0; never for a bodiless GET:
  // transfer.go shouldSendContentLength), the caller's headers. No
  // Accept-Encoding: the target's transports set DisableCompression
  // (cmn/client.go:91, cloned for ETL at communicator.go:146), so a gzip
  // Content-Encoding would reach the object as is.
  exchange send(http::verb method, const std::string& target, const fields& extra, const std::string& body,
                std::chrono::seconds timeout = std::chrono::seconds(20), bool as_go = true) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_port_);
    if (as_go) req.set(http::field::user_agent, "Go-http-client/1.1");
    if (method == http::verb::put || method == http::verb::post || !body.empty())
      req.set(http::field::content_length, std::to_string(body.size()));
    for (const auto& [k, v] : extra) req.insert(k, v);
    req.body() = body;
    exchange x;
    x.method = std::string(req.method_string());
    x.target = target;
    for (const auto& f : req) x.request_headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    x.request_body_size = body.size();
    http::response<http::string_body> res;
    // A reused idle connection the server has closed fails before anything
    // was answered: net/http retries those on a fresh connection, so do we.
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<http_connection> c = take_idle();
      const bool reused = c != nullptr;
      if (!c) c = std::make_unique<http_connection>(ep_);
      try {
        res = c->round_trip(req, timeout);
      } catch (const std::exception&) {
        if (reused && attempt == 0) continue;
        throw;
      }
      if (res.keep_alive()) put_idle(std::move(c));
      break;
    }
    x.status = static_cast<int>(res.result_int());
    for (const auto& f : res) x.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    x.body = std::move(res.body());
    return x;
  }

 private:
  std::unique_ptr<http_connection> take_idle() {
    std::lock_guard<std::mutex> lock(m_);
    if (idle_.empty()) return nullptr;
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  void put_idle(std::unique_ptr<http_connection> c) {
    std::lock_guard<std::mutex> lock(m_);
    idle_.push_back(std::move(c));
  }
  std::string host_port_;
  tcp::endpoint ep_;
  std::mutex m_;
  std::vector<std::unique_ptr<http_connection>> idle_;
};

// An object as the communicator sees it (core.LOM): where it is and what it holds.
struct object_ref {
  std::string bucket, name;
  std::string fqn;   // its file on the target's mountpath
  std::string body;  // sent instead of etl_fqn when `pass_fqn` is false
  // false: feature DontAllowPassingFQNtoETL / latest-version / sync GET: the
  // object travels in the body (communicator.go:305-312).
  bool pass_fqn = true;
};

struct call_args {
  std::string etl_args;                // core.ETLArgs.TransformArgs
  std::vector<std::string> pipeline;   // core.ETLArgs.Pipeline (next pods..., destination)
  int max_attempts = 1;                // retryer: replays on 503 + direct-put-transient (body case only)
  std::chrono::milliseconds replay_pause{50};  // RetryArgs.Sleep is 1 s with backoff; shortened here
};

// apc.ETLPipeline.Pack (api/apc/etl.go:17): entries joined by ','.
inline std::string pack(const std::vector<std::string>& pipeline) {
  std::string s;
  for (const auto& e : pipeline) s += (s.empty() ? "" : ",") + e;
  return s;
}

// pushComm.doRequest (communicator.go:295-342): PUT /<bucket>/<object>, with
// etl_fqn = url.PathEscape(FQN) inside url.Values (so encoded twice on the
// wire), etl_args, and Ais-Node-Url = the packed pipeline.
inline std::string hpush_target(const object_ref& o, const call_args& a) {
  go::values q;
  if (o.pass_fqn) q.emplace_back("etl_fqn", go::path_escape(o.fqn));
  if (!a.etl_args.empty()) q.emplace_back("etl_args", a.etl_args);
  // HreqArgs.URL (cmn/hreq.go:36-45): JoinPath(base, path) + "?" + Encode(),
  // then net/http writes URL.EscapedPath() of the raw "bucket/object".
  std::string t = go::wire_path("/" + o.bucket + "/" + o.name);
  if (auto rq = go::encode(q); !rq.empty()) t += "?" + rq;
  return t;
}

// redirectComm.OfflineTransform (communicator.go:427-463) with redirectArgs
// (communicator.go:414-425): GET /<url.PathEscape(uname)>?etl_fqn=...
inline std::string hpull_target(const object_ref& o, const call_args& a) {
  go::values q;
  if (o.pass_fqn) q.emplace_back("etl_fqn", go::path_escape(o.fqn));
  if (!a.etl_args.empty()) q.emplace_back("etl_args", a.etl_args);
  std::string t = "/" + go::path_escape(uname(o.bucket, o.name));  // already escaped: EscapedPath keeps it
  if (auto rq = go::encode(q); !rq.empty()) t += "?" + rq;
  return t;
}

inline fields pipeline_header(const call_args& a) {
  if (a.pipeline.empty()) return {};
  return {{"Ais-Node-Url", pack(a.pipeline)}};
}

inline exchange hpush(pod_client& pod, const object_ref& o, const call_args& a = {}) {
  const std::string target = hpush_target(o, a);
  const std::string body = o.pass_fqn ? std::string() : o.body;
  for (int attempt = 1;; ++attempt) {
    exchange x = pod.send(http::verb::put, target, pipeline_header(a), body);
    x.attempts = attempt;
    // retryer.isReplayable (communicator.go:560-565): only with a replayable body source.
    const bool replay = !o.pass_fqn && x.status == 503 && x.header("Ais-Etl-Retry-Reason") == std::string("direct-put-transient");
    if (!replay || attempt >= a.max_attempts) return x;
    std::this_thread::sleep_for(a.replay_pause);
  }
}

inline exchange hpull(pod_client& pod, const object_ref& o, const call_args& a = {}) {
  return pod.send(http::verb::get, hpull_target(o, a), pipeline_header(a), {});
}

// ---------------------------------------------------------------------------
// ws:// as websocket_comm.go speaks it.

// WebsocketCtrlMsg (ext/etl/api.go:140-145), fields in struct order, omitempty.
struct ws_control {
  std::string pipeline, etl_args, fqn /* raw FQN; escaped once on send */, path;
};

inline std::string ws_control_json(const ws_control& c) {
  std::string j;
  auto field = [&](const char* name, const std::string& v) {
    if (v.empty()) return;
    j += (j.empty() ? "{" : ",") + go::json_string(name) + ":" + go::json_string(v);
  };
  field("pipeline", c.pipeline);
  field("etl_args", c.etl_args);
  field("fqn", c.fqn.empty() ? std::string() : go::path_escape(c.fqn));  // websocket_comm.go:289
  field("path", c.path);
  return j.empty() ? "{}" : j + "}";
}

// One answer as readLoop (websocket_comm.go:391-450) classifies it.
struct ws_answer {
  enum kind_t {
    binary,       // transformed bytes
    text,         // ANY text: taken as a successful direct put (websocket_comm.go:413-419)
    clean_close,  // close 1000/1001/1012 or a retriable conn error: readLoop returns nil (:403-407)
    error         // any other close status or read error: the target records an error (:409-412)
  } kind = error;
  std::string data;
  bool close_frame = false;  // the pod sent a close frame (with close_code)
  int close_code = 0;
  std::string what;
};

inline const char* to_string(ws_answer::kind_t k) {
  switch (k) {
    case ws_answer::binary: return "binary";
    case ws_answer::text: return "text";
    case ws_answer::clean_close: return "clean close";
    case ws_answer::error: return "error";
  }
  return "?";
}

// A connection as createSession dials it (websocket_comm.go:178-186): ws://<pod>/ws.
class ws_connection {
 public:
  explicit ws_connection(const std::string& host_port)
      : ws_(asio::make_strand(detail::client_io::get().context())) {
    auto& low = beast::get_lowest_layer(ws_);
    low.expires_after(std::chrono::seconds(10));
    detail::check(detail::await_op(ws_.get_executor(), [&](auto h) { low.async_connect(endpoint_of(host_port), h); }),
                  "connect " + host_port);
    low.expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = std::chrono::seconds(10);
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& r) { r.set(http::field::user_agent, "Go-http-client/1.1"); }));
    // gorilla's NextWriter flushes every 4096 bytes as a frame of one message.
    ws_.auto_fragment(true);
    ws_.write_buffer_bytes(4096);
    ws_.read_message_max(std::uint64_t{1} << 32);
    detail::check(detail::await_op(ws_.get_executor(), [&](auto h) { ws_.async_handshake(host_port, "/ws", h); }),
                  "websocket handshake with " + host_port);
  }
  ~ws_connection() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  // writeLoop (websocket_comm.go:341-389): a Binary control message, then
  // the object's bytes as a Binary message only when there is no fqn.
  void send(const ws_control& c, const std::optional<std::string>& content = std::nullopt) {
    const std::string ctrl = ws_control_json(c);
    ws_.binary(true);
    detail::check(detail::await_op(ws_.get_executor(), [&](auto h) { ws_.async_write(asio::buffer(ctrl), h); }),
                  "write control message");
    if (content) {
      detail::check(detail::await_op(ws_.get_executor(), [&](auto h) { ws_.async_write(asio::buffer(*content), h); }),
                    "write object content");
    }
  }

  ws_answer receive() {
    beast::flat_buffer buf;
    auto r = detail::await_op(ws_.get_executor(), [&](auto h) { ws_.async_read(buf, h); });
    ws_answer a;
    if (r.ec) {
      a.what = r.ec.message();
      if (r.ec == websocket::error::closed) {
        a.close_frame = true;
        a.close_code = ws_.reason().code;
        a.what = "close " + std::to_string(a.close_code) + " " + std::string(ws_.reason().reason.c_str());
        const bool clean = a.close_code == websocket::close_code::normal || a.close_code == websocket::close_code::going_away ||
                           a.close_code == websocket::close_code::service_restart;
        a.kind = clean ? ws_answer::clean_close : ws_answer::error;
      } else {
        // cos.IsErrRetriableConn: a reset or broken pipe is also taken as a
        // benign end (:404); EOF without a close frame is an error (:409-412).
        const bool retriable = r.ec == asio::error::connection_reset || r.ec == asio::error::broken_pipe;
        a.kind = retriable ? ws_answer::clean_close : ws_answer::error;
      }
      return a;
    }
    a.kind = ws_.got_text() ? ws_answer::text : ws_answer::binary;
    a.data = beast::buffers_to_string(buf.data());
    return a;
  }

  // A clean shutdown from the target's side (wsConnCtx.finish closes the conn).
  void close() {
    detail::await_op(ws_.get_executor(), [&](auto h) { ws_.async_close(websocket::close_code::normal, h); });
  }

 private:
  websocket::stream<beast::tcp_stream> ws_;
};

// ---------------------------------------------------------------------------
// Server side: a loopback HTTP server, one thread per connection (handlers
// may block, e.g. a proxy forwarding to a pod). stop() shuts every socket down.

struct received_request {
  std::string method, target;
  fields headers;
  std::size_t body_size = 0;
  std::optional<std::string> header(std::string_view name) const { return find_field(headers, name); }
};

struct reply {
  int status = 200;
  fields headers;
  std::string body;
  bool drop = false;  // close the connection without answering
};

class loopback_server {
 public:
  using handler = std::function<reply(const http::request<http::string_body>&)>;

  explicit loopback_server(handler h) : handler_(std::move(h)), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;
  ~loopback_server() { stop(); }

  unsigned short port() const { return port_; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host_port(); }

  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(m_);
      for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);
      threads = std::move(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  void accept_loop() {
    for (;;) {
      auto sock = std::make_shared<tcp::socket>(ioc_);
      beast::error_code ec;
      acceptor_.accept(*sock, ec);
      if (ec || stopped_) return;
      std::lock_guard<std::mutex> lock(m_);
      sockets_.push_back(sock);
      threads_.emplace_back([this, sock] { serve(*sock); });
    }
  }

  void serve(tcp::socket& sock) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t{1} << 32);
      beast::error_code ec;
      http::read(sock, buf, parser, ec);
      if (ec) return;
      auto req = parser.release();
      reply r = handler_(req);
      if (r.drop) {
        sock.shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
      http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
      for (const auto& [k, v] : r.headers) res.set(k, v);
      res.body() = std::move(r.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec || !req.keep_alive()) {
        sock.shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }

  handler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopped_{false};
  std::thread accept_thread_;
  std::mutex m_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
};

inline received_request record_of(const http::request<http::string_body>& req) {
  received_request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& f : req) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  r.body_size = req.body().size();
  return r;
}

// ---------------------------------------------------------------------------
// The emulated target: its intra-data URL serves only the per-ETL object route.

struct put_fault {
  int status = 0;        // answer this status with `reason` as the body
  std::string reason;
  bool drop = false;     // or close the connection before answering (a transient failure)
};

class target {
 public:
  struct options {
    std::string id = "t1";           // Snode ID (HRW input)
    std::string etl_name = "wds-etl";
    std::string secret = "s3cr3tXY";  // per-ETL secret (ext/etl/boot.go)
    std::string mountpath;           // a directory; objects are files under it
  };

  explicit target(options o) : opt_(std::move(o)), server_([this](const auto& req) { return handle(req); }) {
    ::mkdir(opt_.mountpath.c_str(), 0750);
  }

  const std::string& id() const { return opt_.id; }
  const options& opts() const { return opt_; }
  std::string host_port() const { return server_.host_port(); }
  std::string intra_url() const { return server_.url(); }
  // AIS_TARGET_URL (ext/etl/boot.go:330-346).
  std::string ais_target_url() const { return intra_url() + "/v1/etl/_object/" + opt_.etl_name + "/" + opt_.secret; }

  // Mountpath.MakePathFQN (fs/fs.go:266-336): <mpath>/@ais/<bucket>/%ob/<object>.
  std::string fqn(const std::string& bucket, const std::string& object) const {
    return opt_.mountpath + "/@ais/" + bucket + "/%ob/" + object;
  }

  // Stores an object the way a PUT leaves it: a file of mode 0640 (cmn/cos/io.go:19).
  void put_object(const std::string& bucket, const std::string& object, const std::string& data) {
    const std::string path = fqn(bucket, object);
    for (std::size_t p = opt_.mountpath.size() + 1; (p = path.find('/', p)) != std::string::npos; ++p)
      ::mkdir(path.substr(0, p).c_str(), 0750);
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!out) throw std::runtime_error("cannot write " + path);
    }
    ::chmod(path.c_str(), 0640);
    std::lock_guard<std::mutex> lock(m_);
    objects_[{bucket, object}] = data;
  }

  std::optional<std::string> object(const std::string& bucket, const std::string& object) const {
    std::lock_guard<std::mutex> lock(m_);
    auto it = objects_.find({bucket, object});
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> object_names(const std::string& bucket) const {
    std::lock_guard<std::mutex> lock(m_);
    std::vector<std::string> out;
    for (const auto& [k, v] : objects_)
      if (k.first == bucket) out.push_back(k.second);
    return out;
  }
  // Forgets a bucket's objects and PUT counts (its files stay, to be overwritten).
  void drop_bucket(const std::string& bucket) {
    std::lock_guard<std::mutex> lock(m_);
    for (auto it = objects_.begin(); it != objects_.end();) it = it->first.first == bucket ? objects_.erase(it) : std::next(it);
    for (auto it = put_count_.begin(); it != put_count_.end();)
      it = it->first.first == bucket ? put_count_.erase(it) : std::next(it);
  }
  // How many PUTs on the ETL route stored this object (direct puts received).
  int puts_of(const std::string& bucket, const std::string& object) const {
    std::lock_guard<std::mutex> lock(m_);
    auto it = put_count_.find({bucket, object});
    return it == put_count_.end() ? 0 : it->second;
  }
  std::vector<received_request> requests() const {
    std::lock_guard<std::mutex> lock(m_);
    return requests_;
  }
  // Requests the Go target would answer with an error, and why.
  std::vector<std::string> rejected() const {
    std::lock_guard<std::mutex> lock(m_);
    return rejected_;
  }
  void clear_log() {
    std::lock_guard<std::mutex> lock(m_);
    requests_.clear();
    rejected_.clear();
  }
  // The next `n` PUTs on the ETL route fail with `f` (then PUTs succeed again).
  void fail_puts(int n, put_fault f) {
    std::lock_guard<std::mutex> lock(m_);
    faults_left_ = n;
    fault_ = std::move(f);
  }

  // The last Ais-Node-Url entry naming this target as the destination of
  // `object` in `bucket` (ais/tgtobj.go:1758-1775): intra-data URL joined
  // with url.PathEscape(uname), then ?owt=<OwtTransform=3>&uuid=<xaction ID>
  // re-encoded by Values.Encode; daddr.String() keeps the escaped path.
  std::string destination_entry(const std::string& bucket, const std::string& object,
                                const std::string& xid = "tco-Kj3vQ8Xm") const {
    return intra_url() + "/" + go::path_escape(uname(bucket, object)) + "?" + go::encode({{"uuid", xid}, {"owt", "3"}});
  }

 private:
  reply error(int status, std::string msg, const received_request& rec) {
    std::lock_guard<std::mutex> lock(m_);
    rejected_.push_back(std::to_string(status) + " " + msg + " (" + rec.method + " " + rec.target + ")");
    return {status, {{"Content-Type", "text/plain"}}, msg, false};
  }

  reply handle(const http::request<http::string_body>& req) {
    received_request rec = record_of(req);
    {
      std::lock_guard<std::mutex> lock(m_);
      requests_.push_back(rec);
    }
    const std::string& t = rec.target;
    // A raw '#' starts a fragment for every URL parser on the way; no conforming
    // client puts one on the wire (the contract: "a # must never reach the wire unescaped").
    for (unsigned char c : t)
      if (c == '#' || c <= 0x20 || c >= 0x7f)
        return error(400, "request target has a raw byte 0x" + std::to_string(int(c)) + " that must be %-escaped", rec);
    const auto qpos = t.find('?');
    std::string_view path = std::string_view(t).substr(0, qpos);
    const std::string raw_query = qpos == std::string::npos ? std::string() : t.substr(qpos + 1);
    // cmn.ParseURL(path, ["v1","etl","_object"], 3, false) (cmn/http.go:96-135):
    // SplitN into 6, empty items dropped; the 6th keeps the rest of the path.
    std::vector<std::string_view> items;
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    for (int n = 0; n < 5 && !path.empty(); ++n) {
      auto slash = path.find('/');
      items.push_back(path.substr(0, slash));
      path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    }
    if (!path.empty()) items.push_back(path);
    items.erase(std::remove(items.begin(), items.end(), std::string_view{}), items.end());
    if (items.size() < 3 || items[0] != "v1" || items[1] != "etl" || items[2] != "_object")
      return error(404, "not the ETL object route: " + t, rec);
    if (items.size() != 6) return error(400, "invalid URL: expected 6 items, got " + std::to_string(items.size()), rec);
    // etl.ValidateSecret (ext/etl/comm_manager.go:98-111).
    if (items[3] != opt_.etl_name) return error(404, "etl not found " + std::string(items[3]), rec);
    if (items[4] != opt_.secret) return error(400, "unrecognized request source", rec);
    auto un = go::path_unescape(items[5]);  // tgtetl.go:240
    if (!un) return error(400, "invalid URL escape in " + std::string(items[5]), rec);
    // meta.ParseUname (core/meta/bck.go:385-400, cmn/bck.go:227-250).
    std::vector<std::string> parts;
    std::size_t prev = 0;
    for (std::size_t i = 0; i < un->size() && parts.size() < 3; ++i)
      if ((*un)[i] == '/') {
        parts.push_back(un->substr(prev, i - prev));
        prev = i + 1;
      }
    if (parts.size() < 3 || parts[0] != "ais" || parts[1] != "@#" || parts[2].empty())
      return error(400, "parse-uname \"" + *un + "\": not ais://<bucket>/<object> in the global namespace", rec);
    const std::string bucket = parts[2], object = un->substr(prev);
    if (object.empty()) return error(400, "parse-uname \"" + *un + "\": missing object name", rec);
    (void)go::parse_query(raw_query);  // dpq.parse: owt/uuid are statistics only

    if (req.method() == http::verb::get) {
      auto o = this->object(bucket, object);
      if (!o) return error(404, "ais://" + bucket + "/" + object + " does not exist", rec);
      return {200, {{"Content-Type", "application/octet-stream"}}, *o, false};
    }
    if (req.method() == http::verb::put) {
      {
        std::lock_guard<std::mutex> lock(m_);
        if (faults_left_ > 0) {
          --faults_left_;
          if (fault_.drop) return {0, {}, {}, true};
          rejected_.push_back("injected " + std::to_string(fault_.status) + " " + fault_.reason);
          return {fault_.status, {{"Content-Type", "text/plain"}}, fault_.reason, false};
        }
      }
      put_object(bucket, object, req.body());
      std::lock_guard<std::mutex> lock(m_);
      ++put_count_[{bucket, object}];
      return {200, {}, {}, false};
    }
    return error(405, "method not allowed", rec);
  }

  options opt_;
  mutable std::mutex m_;
  std::map<std::pair<std::string, std::string>, std::string> objects_;
  std::map<std::pair<std::string, std::string>, int> put_count_;
  std::vector<received_request> requests_;
  std::vector<std::string> rejected_;
  int faults_left_ = 0;
  put_fault fault_;
  loopback_server server_;  // last: stops before the state above goes away
};

// A transparent recorder in front of a pod: a pipeline entry pointing here
// lets a test see exactly what the previous stage sent to the next pod.
class recording_proxy {
 public:
  explicit recording_proxy(std::string pod_host_port)
      : pod_(std::move(pod_host_port)), server_([this](const auto& req) { return forward(req); }) {}
  std::string url() const { return server_.url(); }  // a pod entry: http://host:port, no path
  std::vector<received_request> requests() const {
    std::lock_guard<std::mutex> lock(m_);
    return requests_;
  }

 private:
  reply forward(const http::request<http::string_body>& req) {
    {
      std::lock_guard<std::mutex> lock(m_);
      requests_.push_back(record_of(req));
    }
    fields extra;
    for (const auto& f : req)
      if (f.name() != http::field::host && f.name() != http::field::content_length &&
          f.name() != http::field::transfer_encoding && f.name() != http::field::connection)
        extra.emplace_back(std::string(f.name_string()), std::string(f.value()));
    exchange x;
    try {
      x = pod_.send(req.method(), std::string(req.target()), extra, req.body(), std::chrono::seconds(20), false);
    } catch (const std::exception&) {
      return {0, {}, {}, true};
    }
    reply r{x.status, {}, std::move(x.body), false};
    for (auto& [k, v] : x.headers)
      if (!iequals(k, "Content-Length") && !iequals(k, "Connection") && !iequals(k, "Transfer-Encoding"))
        r.headers.emplace_back(k, v);
    return r;
  }
  pod_client pod_;
  mutable std::mutex m_;
  std::vector<received_request> requests_;
  loopback_server server_;
};

}  // namespace wds_ais
