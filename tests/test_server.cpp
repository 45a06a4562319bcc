// SPDX-License-Identifier: MIT
// The AIStore ETL server contract (include/wds/ais.hpp), exercised in-process
// over loopback (127.0.0.1 only): the tests play AIStore's part (hpush, hpull,
// etl_fqn, direct put, pipelines, WebSocket), building each request as the Go
// target does (ext/etl/communicator.go, websocket_comm.go, ais/tgtobj.go of
// AIStore 5.0; see shared reference ais-etl-protocol.md), and check statuses,
// headers and bodies. Targets are stand-ins on Beast (fake_http.hpp).
#include <wds/config.hpp>

#if WDS_HAS_HTTP

#include "catch.hpp"
#include "paths.hpp"
#include "fake_http.hpp"

#include <wds/ais.hpp>
#include <wds/compose.hpp>
#include <wds/http.hpp>
#include <wds/io.hpp>
#include <wds/json.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/websocket.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}
std::string string_of(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A shard of n samples: KEY.txt (text) and KEY.cls.
std::string make_shard(int n, const std::string& tag = "hello") {
  wds::tar_writer w{wds::memory_sink{}};
  for (int i = 0; i < n; ++i) {
    std::string key = "sample" + std::to_string(i);
    w.write(key + ".cls", bytes_of(std::to_string(i)));
    w.write(key + ".txt", bytes_of(tag + " " + std::to_string(i)));
  }
  w.finish();
  return string_of(w.sink().bytes());
}

void upper_fields(wds::sample& s) {
  if (auto* f = s.find("txt"))
    for (auto& b : f->data) b = static_cast<std::byte>(std::toupper(static_cast<int>(b)));
}

// The test's shard-to-shard function: upper-cases every txt field.
void upper_txt(wds::any_source& in, wds::any_sink& out, wds::ais::object_request& req) {
  wds::sample_reader samples(std::move(in), req.path);
  wds::tar_writer w(std::move(out));
  while (auto s = samples.next()) {
    upper_fields(*s);
    w.write_sample(*s);
  }
  w.finish();
}

// Captures the server's log lines. A line is written after its reply was
// sent (an access log), so a client may see the reply first: wait_for(n)
// waits (5 s at most) until n lines are there, then gives the count.
struct log_capture {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> fn() {
    return [this](const std::string& l) {
      {
        std::lock_guard<std::mutex> lock(m);
        lines.push_back(l);
      }
      cv.notify_all();
    };
  }
  bool wait_for_text(const std::string& text) {
    std::unique_lock<std::mutex> lock(m);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] {
      for (const auto& l : lines)
        if (l.find(text) != std::string::npos) return true;
      return false;
    });
  }
  std::size_t wait_for(std::size_t n) {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return lines.size() >= n; });
    return lines.size();
  }
  std::string last() {
    std::lock_guard<std::mutex> lock(m);
    return lines.empty() ? std::string() : lines.back();
  }
};

using headers_t = std::vector<std::pair<std::string, std::string>>;

// What a test reads back from the server.
struct test_response {
  int status = 0;
  std::string body;
  headers_t headers;
  std::string get_header_value(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return v;
    return {};
  }
  bool has_header(const std::string& name) const { return !get_header_value(name).empty(); }
};

// Requests to a server on 127.0.0.1 (wds::http underneath); nullopt when
// the request failed on the wire.
struct test_client {
  int port;
  std::optional<test_response> send(const std::string& method, const std::string& target, const std::string* body,
                                    headers_t headers) const {
    wds::http::client_options o;
    o.headers = std::move(headers);
    o.io_timeout = 60s;
    std::size_t off = 0;
    wds::http::body_reader reader = [&](std::byte* dst, std::size_t n) {
      n = std::min(n, body->size() - off);
      std::memcpy(dst, body->data() + off, n);
      off += n;
      return n;
    };
    try {
      auto r = wds::http::request(method, "http://127.0.0.1:" + std::to_string(port) + target,
                                  body ? body->size() : 0, body ? &reader : nullptr, o);
      test_response out;
      out.status = static_cast<int>(r.status());
      out.headers = r.headers();
      out.body = r.read_text(std::size_t{1} << 30);
      return out;
    } catch (const wds::io_error& e) {
      UNSCOPED_INFO("request failed: " << e.what());
      return std::nullopt;
    }
  }
  std::optional<test_response> Get(const std::string& target, headers_t h = {}) const {
    return send("GET", target, nullptr, std::move(h));
  }
  std::optional<test_response> Put(const std::string& target, const headers_t& h, const std::string& body,
                                   const std::string& type) const {
    headers_t all = h;
    all.emplace_back("Content-Type", type);
    return send("PUT", target, &body, all);
  }
  std::optional<test_response> Put(const std::string& target, const std::string& body, const std::string& type) const {
    return Put(target, {}, body, type);
  }
  std::optional<test_response> Post(const std::string& target, const std::string& body, const std::string& type) const {
    return send("POST", target, &body, {{"Content-Type", type}});
  }
};

// The ETL server under test, listening on 127.0.0.1:<any port>.
struct etl_under_test {
  log_capture log;
  std::unique_ptr<wds::ais::server> srv;
  std::thread thread;
  int port = 0;

  explicit etl_under_test(wds::ais::transform_function fn, wds::ais::server_options o = {}) {
    std::signal(SIGPIPE, SIG_IGN);
    o.host = "127.0.0.1";
    o.port = 0;
    if (o.threads == 0) o.threads = 4;
    o.log = log.fn();
    srv = std::make_unique<wds::ais::server>(std::move(fn), std::move(o));
    port = srv->bind();
    thread = std::thread([this] { srv->listen(); });
    for (int i = 0; i < 500 && !srv->is_running(); ++i) std::this_thread::sleep_for(10ms);
  }
  ~etl_under_test() {
    srv->stop();
    thread.join();
  }
  test_client client() const { return test_client{port}; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

std::string upper_expected(const std::string& shard) {
  wds::sample_reader samples(wds::memory_source(shard.data(), shard.size()), "expected");
  wds::tar_writer w{wds::memory_sink{}};
  while (auto s = samples.next()) {
    upper_fields(*s);
    w.write_sample(*s);
  }
  w.finish();
  return string_of(w.sink().bytes());
}

struct temp_dir {
  std::string path;
  temp_dir() {
    std::string pattern = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + std::string("/wds-server-XXXXXX");
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string& name, const std::string& data) const {
    std::string p = path + "/" + name;
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }
};

// Go's url.QueryEscape (what url.Values.Encode does to a value): unreserved
// characters kept, space as '+', everything else %XX.
std::string query_escape(const std::string& s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars, boost::urls::encoding_opts(true));
}
// Go's url.PathEscape (encodePathSegment): also keeps $ & + = : @, escapes '/'.
std::string go_path_escape(const std::string& s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars + "$&+=:@");
}
// The query the Go target sends for an object file (communicator.go:309-322):
// PathEscape, then url.Values{"etl_fqn": ...}.Encode().
std::string fqn_query(const std::string& fqn) { return "etl_fqn=" + query_escape(go_path_escape(fqn)); }

// One raw request on its own connection; `half_close`: shut down our sending
// side right after it. Reads to EOF (bounded by a 60 s receive timeout).
struct raw_reply {
  int status = 0;
  std::string head, body;
};
raw_reply raw_exchange(int port, const std::string& request, bool half_close) {
  raw_reply r;
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  timeval tv{60, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  REQUIRE(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  for (std::size_t off = 0; off < request.size();) {
    ssize_t k = ::send(s, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (k <= 0) break;
    off += static_cast<std::size_t>(k);
  }
  if (half_close) ::shutdown(s, SHUT_WR);
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t k = ::recv(s, buf, sizeof buf, 0);
    if (k <= 0) break;
    raw.append(buf, static_cast<std::size_t>(k));
  }
  ::close(s);
  auto end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  return r;
}

bool is_one_line(const std::string& body) {
  return !body.empty() && body.back() == '\n' && body.find('\n') == body.size() - 1;
}

}  // namespace

TEST_CASE("server: GET /health answers 200 Running", "[server]") {
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  auto r = cli.Get("/health");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "Running");
  CHECK(etl.log.wait_for(1) == 1);
}

TEST_CASE("server: hpush with the shard as the body", "[server]") {
  etl_under_test etl(upper_txt);
  const std::string shard = make_shard(5);
  auto cli = etl.client();
  auto r = cli.Put("/bck/shard-0001.tar", shard, "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
  CHECK(r->body.find("HELLO 3") != std::string::npos);
  CHECK(etl.log.wait_for(1) == 1);
  CHECK(etl.log.last().find("PUT /bck/shard-0001.tar 200") != std::string::npos);
}

TEST_CASE("server: hpush and hpull with etl_fqn read the local file", "[server]") {
  temp_dir dir;
  const std::string shard = make_shard(3, "from disk");
  const std::string path = dir.write("shard 1.tar", shard);
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  const std::string target = "/bck/shard%201.tar?" + fqn_query(path);
  auto put = cli.Put(target.c_str(), "", "application/octet-stream");
  REQUIRE(put);
  CHECK(put->status == 200);
  CHECK(put->body == upper_expected(shard));
  auto get = cli.Get(target);
  REQUIRE(get);
  CHECK(get->status == 200);
  CHECK(get->body == upper_expected(shard));

  auto missing = cli.Get("/bck/x.tar?" + fqn_query(dir.path + "/nope.tar"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(is_one_line(missing->body));
  CHECK(missing->body.find("[wds.server.902]") != std::string::npos);
}

TEST_CASE("server: hpull fetches $AIS_TARGET_URL/<path> from a stand-in target", "[server]") {
  const std::string shard = make_shard(4, "pulled");
  std::mutex m;
  std::vector<std::string> seen;
  wds_test::fake_http target([&](const wds_test::fake_request& req) {
    {
      std::lock_guard<std::mutex> lock(m);
      seen.push_back(std::string(req.target()));
    }
    if (req.target() == "/v1/objects/bck/dir/a%20b.tar") return wds_test::http_response(200, shard);
    return wds_test::http_response(404, "object not found", "", "Not Found");
  });
  wds::ais::server_options o;
  o.target_url = target.url() + "/v1/objects/";
  etl_under_test etl(upper_txt, o);
  auto cli = etl.client();
  auto r = cli.Get("/bck/dir/a%20b.tar?etl_args=x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
  {
    std::lock_guard<std::mutex> lock(m);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == "/v1/objects/bck/dir/a%20b.tar");  // the path goes on still encoded, no query
  }
  auto missing = cli.Get("/bck/missing.tar");
  REQUIRE(missing);
  CHECK(missing->status == 404);  // the target's own status
  CHECK(is_one_line(missing->body));
  CHECK(missing->body.find("object not found") != std::string::npos);

  // Without AIS_TARGET_URL an hpull without etl_fqn cannot work: a clear 500.
  etl_under_test no_target(upper_txt);
  auto r2 = no_target.client().Get("/bck/x.tar");
  REQUIRE(r2);
  CHECK(r2->status == 500);
  CHECK(r2->body.find("AIS_TARGET_URL") != std::string::npos);
}

TEST_CASE("server: direct put to Ais-Node-Url answers 204 with Ais-Direct-Put-Length", "[server]") {
  const std::string shard = make_shard(6, "direct");
  std::mutex m;
  std::string got_body, got_length, got_chain, got_target;
  wds_test::fake_http receiver([&](const wds_test::fake_request& req) {
    std::lock_guard<std::mutex> lock(m);
    got_body = req.body();
    got_length = wds_test::header_of(req, "Content-Length");
    got_chain = wds_test::header_of(req, "Ais-Node-Url");
    got_target = std::string(req.target());
    return wds_test::http_response(200, "");  // an AIS target answers 200 without a body
  });
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  // Without AIS_TARGET_URL: the entry's own scheme and path, the query kept.
  const std::string dest = receiver.url() + "/v1/objects/dst/shard.tar?xid=7&p=a+b";
  headers_t h{{"Ais-Node-Url", "http://127.0.0.1:9, " + dest}};
  // The first entry is a pod (no path): that is where the result goes.
  headers_t direct{{"Ais-Node-Url", dest}};
  auto r = cli.Put("/bck/shard.tar", direct, shard, "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 204);
  CHECK(r->body.empty());
  const std::string expected = upper_expected(shard);
  CHECK(r->get_header_value("Ais-Direct-Put-Length") == std::to_string(expected.size()));
  std::lock_guard<std::mutex> lock(m);
  CHECK(got_body == expected);
  CHECK(got_length == std::to_string(expected.size()));
  CHECK(got_target == "/v1/objects/dst/shard.tar?xid=7&p=a+b");  // exactly that URL
  CHECK(got_chain.empty());  // the last hop gets no Ais-Node-Url
}

TEST_CASE("server: direct put retries with backoff; a receiver's status is passed back", "[server]") {
  const std::string shard = make_shard(2);
  wds::ais::server_options o;
  o.direct_put_retries = 2;
  o.direct_put_backoff = 5ms;

  SECTION("a dead receiver: transient (503 + retry reason) with a body, 502 with etl_fqn") {
    int dead_port = 0;
    {
      wds_test::fake_http gone([](const wds_test::fake_request&) { return std::string(); });
      dead_port = gone.port();
    }
    etl_under_test etl(upper_txt, o);
    headers_t h{{"Ais-Node-Url", "http://127.0.0.1:" + std::to_string(dead_port) + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->get_header_value("Ais-Etl-Retry-Reason") == "direct-put-transient");
    CHECK(is_one_line(r->body));
    CHECK(r->body.find("[wds.server.910]") != std::string::npos);
    CHECK(r->body.find("3 attempts") != std::string::npos);
    // With etl_fqn the target sent no body: a replay would not help, so no retry reason.
    temp_dir dir;
    const std::string path = dir.write("s.tar", shard);
    auto f = etl.client().Put("/bck/shard.tar?" + fqn_query(path), h, "", "application/octet-stream");
    REQUIRE(f);
    CHECK(f->status == 502);
    CHECK_FALSE(f->has_header("Ais-Etl-Retry-Reason"));
    CHECK(f->body.find("[wds.server.909]") != std::string::npos);
    // The server keeps serving.
    auto ok = etl.client().Put("/bck/shard.tar", shard, "application/octet-stream");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  SECTION("a receiver failing twice, then accepting") {
    std::atomic<int> calls{0};
    std::string last_body;
    wds_test::fake_http flaky([&](const wds_test::fake_request& req) {
      if (++calls <= 2) return wds_test::http_response(500, "try later", "", "Internal Server Error");
      last_body = req.body();
      return wds_test::http_response(200, "");
    });
    etl_under_test etl(upper_txt, o);
    headers_t h{{"Ais-Node-Url", flaky.url() + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 204);
    CHECK(calls == 3);
    CHECK(last_body == upper_expected(shard));
  }
  SECTION("a receiver that always fails with 500: its status and reason come back") {
    std::atomic<int> calls{0};
    wds_test::fake_http broken([&](const wds_test::fake_request&) {
      ++calls;
      return wds_test::http_response(500, "disk full\nsecond line", "", "Internal Server Error");
    });
    etl_under_test etl(upper_txt, o);
    headers_t h{{"Ais-Node-Url", broken.url() + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(calls == 3);
    CHECK_FALSE(r->has_header("Ais-Etl-Retry-Reason"));
    CHECK(is_one_line(r->body));
    CHECK(r->body.find("HTTP 500 Internal Server Error: disk full second line") != std::string::npos);
  }
  SECTION("a receiver refusing with 4xx: not retried, its status passed back") {
    std::atomic<int> calls{0};
    wds_test::fake_http refusing([&](const wds_test::fake_request&) {
      ++calls;
      return wds_test::http_response(404, "bucket dst does not exist", "", "Not Found");
    });
    etl_under_test etl(upper_txt, o);
    headers_t h{{"Ais-Node-Url", refusing.url() + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(calls == 1);
    CHECK_FALSE(r->has_header("Ais-Etl-Retry-Reason"));
    CHECK(r->body.find("bucket dst does not exist") != std::string::npos);
  }
  SECTION("a next pod asking for a replay: passed back when the target sent a body") {
    wds_test::fake_http pod([&](const wds_test::fake_request&) {
      return wds_test::http_response(503, "lost the destination", "Ais-Etl-Retry-Reason: direct-put-transient\r\n",
                                     "Service Unavailable");
    });
    etl_under_test etl(upper_txt, o);
    headers_t h{{"Ais-Node-Url", pod.url() + ",http://127.0.0.1:9/ais%2F@%23%2Fdst%2Fo"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->get_header_value("Ais-Etl-Retry-Reason") == "direct-put-transient");
  }
}

TEST_CASE("server: a bad Ais-Node-Url is rejected before any work", "[server]") {
  std::atomic<int> calls{0};
  etl_under_test etl([&](wds::any_source& in, wds::any_sink& out, wds::ais::object_request& req) {
    ++calls;
    upper_txt(in, out, req);
  });
  for (const char* header : {"http://127.0.0.1:1/a,,http://127.0.0.1:2/b", "ftp://127.0.0.1/x", "no-scheme",
                             "http://127.0.0.1:1/ais/@#/dst/raw-hash"}) {
    headers_t h{{"Ais-Node-Url", header}};
    auto r = etl.client().Put("/bck/shard.tar", h, make_shard(1), "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(is_one_line(r->body));
  }
  CHECK(calls == 0);
}

TEST_CASE("server: a corrupt shard gets a one-line 4xx and the next request succeeds", "[server]") {
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  std::string shard = make_shard(3);
  std::string corrupt = shard;
  corrupt[148] = static_cast<char>(corrupt[148] ^ 0x55);  // header checksum field
  auto bad = cli.Put("/bck/bad.tar", corrupt, "application/octet-stream");
  REQUIRE(bad);
  CHECK(bad->status == 422);
  CHECK(is_one_line(bad->body));
  CHECK(bad->body.find("[wds.tar.") == 0);

  std::string truncated = shard.substr(0, 700);
  auto trunc = cli.Put("/bck/trunc.tar", truncated, "application/octet-stream");
  REQUIRE(trunc);
  CHECK(trunc->status >= 400);
  CHECK(is_one_line(trunc->body));

  // A function throwing something that is not a wds::error: 500, still one line.
  etl_under_test thrower([](wds::any_source&, wds::any_sink&, wds::ais::object_request&) {
    throw std::runtime_error("boom\nwith a second line");
  });
  auto boom = thrower.client().Put("/bck/x", "abc", "application/octet-stream");
  REQUIRE(boom);
  CHECK(boom->status == 500);
  CHECK(is_one_line(boom->body));
  CHECK(boom->body.find("boom with a second line") != std::string::npos);

  auto good = cli.Put("/bck/good.tar", shard, "application/octet-stream");
  REQUIRE(good);
  CHECK(good->status == 200);
  CHECK(good->body == upper_expected(shard));
  CHECK(etl.log.wait_for(3) == 3);
  CHECK(etl.log.lines[0].find("error: [wds.tar.") != std::string::npos);
}

TEST_CASE("server: --fqn-root rejects paths outside it, after .. and symlinks", "[server]") {
  temp_dir dir;
  ::mkdir((dir.path + "/root").c_str(), 0755);
  ::mkdir((dir.path + "/root/sub").c_str(), 0755);
  const std::string shard = make_shard(2);
  dir.write("root/sub/ok.tar", shard);
  dir.write("secret.tar", shard);
  REQUIRE(::symlink((dir.path + "/secret.tar").c_str(), (dir.path + "/root/link.tar").c_str()) == 0);
  REQUIRE(::symlink("ok.tar", (dir.path + "/root/sub/inner-link.tar").c_str()) == 0);

  wds::ais::server_options o;
  o.fqn_root = dir.path + "/root";
  etl_under_test etl(upper_txt, o);
  auto cli = etl.client();
  auto get = [&](const std::string& fqn) { return cli.Get("/bck/o.tar?" + fqn_query(fqn)); };

  auto ok = get(dir.path + "/root/sub/ok.tar");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  auto inner = get(dir.path + "/root/sub/inner-link.tar");
  REQUIRE(inner);
  CHECK(inner->status == 200);
  auto dotdot_inside = get(dir.path + "/root/sub/../sub/ok.tar");
  REQUIRE(dotdot_inside);
  CHECK(dotdot_inside->status == 200);

  for (const std::string& bad : {dir.path + "/root/../secret.tar", dir.path + "/root/sub/../../secret.tar",
                                 dir.path + "/root/link.tar", dir.path + "/rootx/secret.tar", std::string("/etc/passwd"),
                                 std::string("etc/passwd"), dir.path + "/root/../root/../secret.tar"}) {
    auto r = get(bad);
    REQUIRE(r);
    INFO(bad);
    CHECK(r->status == 403);
    CHECK(is_one_line(r->body));
    CHECK(r->body.find("[wds.server.901]") != std::string::npos);
  }
  auto missing = get(dir.path + "/root/sub/none.tar");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto directory = get(dir.path + "/root/sub");
  REQUIRE(directory);
  CHECK(directory->status == 403);
}

TEST_CASE("server: 50 concurrent requests all get their own result", "[server]") {
  wds::ais::server_options o;
  o.threads = 4;
  o.memory_limit = 4096;  // some go through the temporary file
  etl_under_test etl(upper_txt, o);
  constexpr int n = 50;
  std::vector<std::string> shards(n), results(n);
  std::vector<int> statuses(n, 0);
  for (int i = 0; i < n; ++i) shards[i] = make_shard(1 + i % 7, "request " + std::to_string(i));
  std::vector<std::thread> clients;
  for (int i = 0; i < n; ++i)
    clients.emplace_back([&, i] {
      auto cli = etl.client();
      auto r = cli.Put("/bck/shard-" + std::to_string(i) + ".tar", shards[i], "application/octet-stream");
      if (r) statuses[i] = r->status, results[i] = r->body;
      else results[i] = "request failed";
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < n; ++i) {
    INFO(i);
    CHECK(statuses[i] == 200);
    CHECK(results[i] == upper_expected(shards[i]));
  }
  CHECK(etl.log.wait_for(n) == n);
}

TEST_CASE("server: large objects spill to a temporary file both ways", "[server]") {
  wds::ais::server_options o;
  o.memory_limit = 1024;
  const std::string shard = make_shard(400, std::string(300, 'x'));
  REQUIRE(shard.size() > 300000);
  std::string received;
  wds_test::fake_http receiver([&](const wds_test::fake_request& req) {
    received = req.body();
    return wds_test::http_response(204, "", "Ais-Direct-Put-Length: " + std::to_string(req.body().size()) + "\r\n");
  });
  etl_under_test etl(upper_txt, o);
  auto r = etl.client().Put("/bck/big.tar", shard, "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
  headers_t h{{"Ais-Node-Url", receiver.url() + "/v1/objects/d/big.tar"}};
  auto d = etl.client().Put("/bck/big.tar", h, shard, "application/octet-stream");
  REQUIRE(d);
  CHECK(d->status == 204);
  CHECK(received == upper_expected(shard));
  CHECK(d->get_header_value("Ais-Direct-Put-Length") == std::to_string(received.size()));
}

TEST_CASE("server: a spool gives its memory back when it moves to its file", "[server]") {
  const std::size_t limit = std::size_t{4} << 20;
  wds::ais::spool sp("obj", limit, std::uint64_t{1} << 30, "");
  std::vector<std::byte> chunk(std::size_t{3} << 18);  // 768 KiB
  std::uint64_t written = 0;
  std::uint64_t first = 0;  // chunks kept in memory
  for (int i = 0; written + chunk.size() <= limit; ++i, ++first) {
    for (std::size_t k = 0; k < chunk.size(); ++k) chunk[k] = std::byte(std::uint8_t(k * 7 + std::size_t(i)));
    sp.write(chunk.data(), chunk.size());
    written += chunk.size();
  }
  CHECK(sp.in_memory());
  CHECK(sp.memory_held() >= written);
  for (int i = 0; i < 12; ++i) {  // 9 MiB more: the rest goes to the file
    for (std::size_t k = 0; k < chunk.size(); ++k) chunk[k] = std::byte(std::uint8_t(k * 7 + 100 + std::size_t(i)));
    sp.write(chunk.data(), chunk.size());
    written += chunk.size();
    CHECK_FALSE(sp.in_memory());
    CHECK(sp.memory_held() <= (std::size_t{2} << 20));  // a write buffer, not the 4 MiB
  }
  sp.close();
  REQUIRE(sp.size() == written);
  // Every byte reads back where it was written.
  std::vector<std::byte> back(chunk.size());
  for (std::uint64_t off = 0, i = 0; off < written; off += chunk.size(), ++i) {
    REQUIRE(sp.read_at(off, back.data(), back.size()) == back.size());
    const std::size_t salt = std::size_t(i < first ? i : 100 + (i - first));
    bool same = true;
    for (std::size_t k = 0; k < back.size(); ++k) same = same && back[k] == std::byte(std::uint8_t(k * 7 + salt));
    CHECK(same);
  }
}

TEST_CASE("server: objects above max_object_size get 413", "[server]") {
  wds::ais::server_options o;
  o.max_object_size = 2048;
  o.memory_limit = 512;
  etl_under_test etl(upper_txt, o);
  auto r = etl.client().Put("/bck/big.tar", make_shard(20), "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 413);
  auto ok = etl.client().Put("/bck/small", "abc", "application/octet-stream");
  REQUIRE(ok);
  CHECK(ok->status != 413);
}

TEST_CASE("server: whole_object functions, etl_args and the reply content type", "[server]") {
  etl_under_test etl(wds::ais::whole_object([](const std::vector<std::byte>& in, wds::ais::object_request& req) {
    std::string s = req.method + " " + req.path + " [" + req.etl_args + "] " + string_of(in);
    req.content_type = "text/plain";
    return bytes_of(s);
  }));
  auto r = etl.client().Put("/bck/a%2Fb.txt?etl_args=%7B%22format%22%3A%22PNG%22%7D", "data", "text/plain");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "PUT bck/a/b.txt [{\"format\":\"PNG\"}] data");
  CHECK(r->get_header_value("Content-Type") == "text/plain");
  auto other = etl.client().Post("/bck/a", "x", "text/plain");
  REQUIRE(other);
  CHECK(other->status >= 400);
  CHECK(etl.log.wait_for(2) == 2);
}

TEST_CASE("server: a chunked hpush body (no Content-Length), and a client that half-closes", "[server]") {
  etl_under_test etl(upper_txt);
  const std::string shard = make_shard(9, "chunked");
  std::string body;
  for (std::size_t off = 0; off < shard.size(); off += 1000) {
    std::size_t n = std::min<std::size_t>(1000, shard.size() - off);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zx\r\n", n);
    body += hex + shard.substr(off, n) + "\r\n";
  }
  body += "0\r\n\r\n";
  // The client shuts down its sending side after the request (half-close):
  // the answer must still come.
  raw_reply r = raw_exchange(etl.port, "PUT /bck/chunked.tar HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
                             true);
  CHECK(r.status == 200);
  CHECK(r.body == upper_expected(shard));
}

TEST_CASE("server: instance_pool reuses instances and drops those that threw", "[server]") {
  int made = 0;
  wds::ais::instance_pool<int> pool([&] { return std::make_unique<int>(++made); });
  CHECK(pool.with([](int& v) { return v; }) == 1);
  CHECK(pool.with([](int& v) { return v; }) == 1);  // reused
  CHECK_THROWS(pool.with([](int&) -> int { throw std::runtime_error("x"); }));
  CHECK(pool.with([](int& v) { return v; }) == 2);  // the one that threw is gone
  CHECK(made == 2);
}

TEST_CASE("server: URL and header helpers", "[server]") {
  auto urls = wds::ais::parse_node_urls(" http://a:1/x , http://b:2/y,http://c:3/z ");
  REQUIRE(urls.size() == 3);
  CHECK(urls[0] == "http://a:1/x");
  CHECK(urls[2] == "http://c:3/z");
  CHECK(wds::ais::parse_node_urls("").empty());
  CHECK(wds::ais::is_pod_entry("http://10.0.0.5:31000"));
  CHECK_FALSE(wds::ais::is_pod_entry("http://10.0.0.6:8081/ais%2F@%23%2Fdst%2Fo"));
  CHECK(wds::ais::lexically_normal("/a/./b/../../../c//d/") == "/c/d");
  CHECK(wds::ais::lexically_normal("rel/x") == "/rel/x");
  CHECK(wds::ais::path_within("/r/a", "/r"));
  CHECK_FALSE(wds::ais::path_within("/rx/a", "/r"));
  CHECK(wds::ais::path_escape("/bck/a b#c?d/é") == "/bck/a%20b%23c%3Fd/%C3%A9");
  CHECK(wds::ais::path_unescape("%2Fmnt%2F%25ob") == "/mnt/%ob");
  CHECK_THROWS_AS(wds::ais::path_unescape("/mnt/%ob"), wds::server_error);  // decoded only once: refused

  // The direct-put URL, as webserver.go:396-431 composes it.
  const std::string target = "http://t1:8081/v1/etl/_object/wds-etl/s3cr3t";
  // A target entry: AIS_TARGET_URL's scheme and prefix, the entry's host, escaped path and query.
  CHECK(wds::ais::direct_put_url("http://t2:8082/ais%2F@%23%2Fdst%2Fa%20b.tar?owt=2&uuid=x1", target, "/bck/a%20b.tar",
                                 "") == "http://t2:8082/v1/etl/_object/wds-etl/s3cr3t/ais%2F@%23%2Fdst%2Fa%20b.tar?owt=2&uuid=x1");
  // A pod entry: the object path this pod was asked for; etl_args set in the query, fully escaped.
  CHECK(wds::ais::direct_put_url("http://10.0.0.5:31000", target, "/bck/a%20b.tar", "{\"k\": \"a+b\"}") ==
        "http://10.0.0.5:31000/bck/a%20b.tar?etl_args=%7B%22k%22%3A%20%22a%2Bb%22%7D");
  // https targets: the scheme comes from AIS_TARGET_URL.
  CHECK(wds::ais::direct_put_url("http://t2:8082/ais%2F@%23%2Fd%2Fo?owt=1", "https://t1/v1/etl/_object/e/s/", "/x", "") ==
        "https://t2:8082/v1/etl/_object/e/s/ais%2F@%23%2Fd%2Fo?owt=1");
  CHECK(wds::ais::target_object_url(target + "/", "/ais%2F@%23%2Fbck%2Fo") ==
        "http://t1:8081/v1/etl/_object/wds-etl/s3cr3t/ais%2F@%23%2Fbck%2Fo");
}

namespace {
std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
wds::compiled_pipeline compile_spec(const std::string& spec) { return wds::compose(spec); }
}  // namespace

TEST_CASE("server: TRANSFORM to compose spec (torchvision_preprocess contract)", "[server]") {
  using wds::ais::torchvision_ops;
  using wds::ais::torchvision_spec;
  CHECK(torchvision_spec(R"({"Resize": {"size": [224, 224]}, "CenterCrop": {"size": 200}})", "JPEG") ==
        "decode(native)|resize(224x224,bilinear)|center_crop(200)|jpeg");
  CHECK(torchvision_spec("{}", "png") == "decode(native)|png");
  CHECK(torchvision_ops(R"({"Resize": {"size": [256], "interpolation": 3, "max_size": 300}})") ==
        "resize(256,bicubic,300)");
  CHECK(torchvision_ops(R"({"Resize": {"size": 8, "interpolation": "LANCZOS", "antialias": true}})") ==
        "resize(8,lanczos)");
  CHECK(torchvision_ops(R"({"Grayscale": {}, "Pad": {"padding": [1, 2], "fill": [7, 7, 7]}})") ==
        "grayscale(1)|pad(1,2,1,2,7)");
  CHECK(torchvision_ops(R"({"Pad": {"padding": [1, 2, 3, 4], "padding_mode": "symmetric"}})") ==
        "pad(1,2,3,4,symmetric)");
  CHECK(torchvision_ops(R"({"RandomHorizontalFlip": {"p": 1}, "RandomVerticalFlip": {"p": 0}})") == "hflip");
  CHECK(torchvision_ops(R"({"ToTensor": {}, "Normalize": {"mean": [0.5], "std": [0.25]}, "ToPILImage": {}})") ==
        "to_tensor|normalize(0.5,0.25)|to_pil_image");
  // Python's dict semantics: a repeated key keeps its first place and its last value.
  CHECK(torchvision_ops(R"({"CenterCrop": {"size": 5}, "Grayscale": {}, "CenterCrop": {"size": 3}})") ==
        "center_crop(3)|grayscale(1)");
  struct bad_case {
    const char* json;
    int id;
  };
  for (const bad_case& b : {bad_case{"{", 920}, bad_case{"[1]", 920}, bad_case{R"({"ColorJitter": {}})", 921},
                            bad_case{R"({"RandomHorizontalFlip": {}})", 921},
                            bad_case{R"({"Resize": {"size": [1, 2, 3]}})", 922},
                            bad_case{R"({"Resize": {"sz": 3}})", 922}, bad_case{R"({"Resize": 3})", 922},
                            bad_case{R"({"Resize": {"size": 3, "interpolation": 9}})", 922},
                            bad_case{R"({"Normalize": {"mean": [0.5], "std": [0.5]}})", 922},
                            bad_case{R"({"ToTensor": {}})", 922},
                            bad_case{R"({"Pad": {"padding": 1, "fill": [1, 2, 3]}})", 922}}) {
    INFO(b.json);
    try {
      torchvision_ops(b.json);
      FAIL("accepted");
    } catch (const wds::server_error& e) {
      CHECK(e.id() == b.id);
      CHECK(e.http_status() == 400);
    }
  }
  try {
    wds::ais::parse_image_format("WEBP");
    FAIL("accepted");
  } catch (const wds::server_error& e) {
    CHECK(e.id() == 923);
  }
  CHECK(wds::ais::etl_args_format(R"({"format": "PNG"})") == "PNG");
  CHECK(wds::ais::etl_args_format("not json").empty());
  CHECK(wds::ais::etl_args_format("").empty());
  // Every translated spec compiles with wds::compose.
  for (const char* t : {R"({"Resize": {"size": [224, 224]}, "CenterCrop": {"size": 200}})",
                        R"({"Pad": {"padding": [1, 2, 3, 4], "padding_mode": "reflect"}, "Grayscale": {"num_output_channels": 3}})",
                        R"({"ToTensor": {}, "Normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, "ToPILImage": {}})"}) {
    INFO(t);
    CHECK_NOTHROW(wds::compose(torchvision_spec(t, "PNG")));
    if constexpr (wds::config::has_jpeg) CHECK_NOTHROW(wds::compose(torchvision_spec(t, "JPEG")));
  }
}

TEST_CASE("server: JPEG comment segments found and placed like Pillow", "[server]") {
  const std::string input = read_file(std::string(WDS_TEST_DATA_DIR) + "/server/rocket-crop.jpg");
  auto in = bytes_of(input);
  auto comment = wds::ais::jpeg_comment(in.data(), in.size());
  REQUIRE(comment);
  CHECK(!comment->empty());
  std::vector<std::byte> jfif = bytes_of(std::string("\xFF\xD8\xFF\xE0\x00\x04" "ab\xFF\xDB", 10));
  wds::ais::insert_jpeg_comment(jfif, "hi");
  CHECK(string_of(jfif) == std::string("\xFF\xD8\xFF\xE0\x00\x04" "ab\xFF\xFE\x00\x04" "hi\xFF\xDB", 16));
  // Truncated or hostile headers: no comment, no out-of-bounds read.
  for (std::size_t n = 0; n < std::min<std::size_t>(input.size(), 200); ++n) (void)wds::ais::jpeg_comment(in.data(), n);
  auto lying = bytes_of(std::string("\xFF\xD8\xFF\xFE\xFF\xFF", 6));
  CHECK_FALSE(wds::ais::jpeg_comment(lying.data(), lying.size()));
  CHECK(wds::ais::torchvision_keeps_jpeg_comment(R"({"Resize": {"size": 3}, "Grayscale": {}})"));
  CHECK_FALSE(wds::ais::torchvision_keeps_jpeg_comment(R"({"Grayscale": {"num_output_channels": 3}})"));
  CHECK_FALSE(wds::ais::torchvision_keeps_jpeg_comment(R"({"Pad": {"padding": 1}})"));
}

#if WDS_HAS_JPEG && WDS_HAS_PNG
TEST_CASE("server: torchvision_preprocess TRANSFORM on a plain JPEG object matches the Python transformer",
          "[server]") {
  const std::string dir = std::string(WDS_TEST_DATA_DIR) + "/server/";
  const std::string input = read_file(dir + "rocket-crop.jpg");
  const wds::json cases = wds::json::parse(read_file(dir + "cases.json"));
  for (const auto& [name, c] : cases.as_object()) {
    INFO(name);
    const std::string transform = c.at("TRANSFORM").as_string();
    const std::string format = c.at("FORMAT").as_string();
    // The server runs with FORMAT=JPEG; the PNG case asks for PNG per request, through etl_args.
    etl_under_test etl(wds::ais::torchvision_preprocess(transform, "JPEG", compile_spec));
    std::string target = "/images/rocket-crop.jpg";
    if (format == "PNG") target += "?etl_args=" + query_escape(R"({"format": "PNG"})");
    auto r = etl.client().Put(target.c_str(), input, "image/jpeg");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    if (format == "JPEG") {
      CHECK(r->get_header_value("Content-Type") == "image/jpeg");
      CHECK(r->body == read_file(dir + name + ".jpg"));  // byte for byte, Pillow's comment included
    } else {
      CHECK(r->get_header_value("Content-Type") == "image/png");
      // PNG: the same pixels (zlib streams differ from Pillow's).
      const std::string ref = read_file(dir + name + ".png");
      auto ours = wds::decode_image(reinterpret_cast<const std::byte*>(r->body.data()), r->body.size());
      auto theirs = wds::decode_image(reinterpret_cast<const std::byte*>(ref.data()), ref.size());
      const auto& a = std::get<wds::image<std::uint8_t>>(ours);
      const auto& b = std::get<wds::image<std::uint8_t>>(theirs);
      REQUIRE(a.width() == b.width());
      REQUIRE(a.height() == b.height());
      REQUIRE(a.channels() == b.channels());
      CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));
    }
  }
  // Not an image: a one-line 4xx; a bad etl_args format: 400; the server keeps going.
  etl_under_test etl(wds::ais::torchvision_preprocess(R"({"Resize": {"size": 16}})", "JPEG", compile_spec));
  auto bad = etl.client().Put("/images/x.jpg", "not an image", "image/jpeg");
  REQUIRE(bad);
  CHECK(bad->status == 422);
  CHECK(is_one_line(bad->body));
  auto webp = etl.client().Put("/images/x.jpg?etl_args=" + query_escape(R"({"format": "WEBP"})"), input,
                               "image/jpeg");
  REQUIRE(webp);
  CHECK(webp->status == 400);
  auto ok = etl.client().Put("/images/x.jpg?etl_args=garbage", input, "image/jpeg");  // ignored, as in Python
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("server: spec_objects with an etl_args pipeline override", "[server]") {
  const std::string input = read_file(std::string(WDS_TEST_DATA_DIR) + "/server/rocket-crop.jpg");
  etl_under_test etl(wds::ais::spec_objects("decode|center_crop(10)|png", compile_spec));
  auto r = etl.client().Put("/b/x.jpg", input, "image/jpeg");
  REQUIRE(r);
  CHECK(r->status == 200);
  auto img = wds::decode_image(reinterpret_cast<const std::byte*>(r->body.data()), r->body.size());
  CHECK(std::get<wds::image<std::uint8_t>>(img).width() == 10);
  auto o = etl.client().Put("/b/x.jpg?etl_args=" + query_escape(R"({"pipeline": "decode|center_crop(7x5)|png"})"),
                            input, "image/jpeg");
  REQUIRE(o);
  CHECK(o->status == 200);
  auto img2 = wds::decode_image(reinterpret_cast<const std::byte*>(o->body.data()), o->body.size());
  CHECK(std::get<wds::image<std::uint8_t>>(img2).width() == 5);
  auto bad = etl.client().Put("/b/x.jpg?etl_args=" + query_escape(R"({"pipeline": "decode|resize(0)|png"})"),
                              input, "image/jpeg");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body.find("[wds.spec.") == 0);
  CHECK(is_one_line(bad->body));
}
#endif


// ---- AIStore's wire format: replaying the Go target's requests ---------------

namespace {

// A transform that records what it was asked (for pipeline checks) and
// appends "!" to every txt field.
struct recording_suffix {
  std::mutex m;
  std::vector<std::string> etl_args, fqns, paths;
  wds::ais::transform_function fn() {
    return [this](wds::any_source& in, wds::any_sink& out, wds::ais::object_request& req) {
      {
        std::lock_guard<std::mutex> lock(m);
        etl_args.push_back(req.etl_args);
        fqns.push_back(req.fqn);
        paths.push_back(req.path);
      }
      wds::sample_reader samples(std::move(in), req.path);
      wds::tar_writer w(std::move(out));
      while (auto s = samples.next()) {
        if (auto* f = s->find("txt")) f->data.push_back(std::byte{'!'});
        w.write_sample(*s);
      }
      w.finish();
    };
  }
};

std::string suffix_expected(const std::string& shard) {
  wds::sample_reader samples(wds::memory_source(shard.data(), shard.size()), "expected");
  wds::tar_writer w{wds::memory_sink{}};
  while (auto s = samples.next()) {
    if (auto* f = s->find("txt")) f->data.push_back(std::byte{'!'});
    w.write_sample(*s);
  }
  w.finish();
  return string_of(w.sink().bytes());
}

// A stand-in AIS target playing the per-ETL object route
// /v1/etl/_object/<etl>/<secret>/<uname> (ais/tgtetl.go:231-300) for GET and
// PUT, with secret checking: GETs serve `objects` by uname, PUTs store there.
struct fake_target {
  std::string etl = "wds-etl", secret = "s3cr3t";
  std::mutex m;
  std::map<std::string, std::string> objects;  // uname -> bytes
  std::map<std::string, int> puts;             // uname -> PUT count
  std::vector<std::string> targets;            // raw request targets, in order
  std::vector<std::string> auth;
  wds_test::fake_http http;
  fake_target() : http([this](const wds_test::fake_request& r) { return handle(r); }) {}
  std::string prefix() const { return "/v1/etl/_object/" + etl + "/" + secret; }
  std::string url() const { return http.url() + prefix(); }  // what AIS_TARGET_URL holds
  std::string handle(const wds_test::fake_request& r) {
    std::lock_guard<std::mutex> lock(m);
    const std::string t(r.target());
    targets.push_back(t);
    auth.push_back(wds_test::header_of(r, "Authorization"));
    const std::string route = prefix() + "/";
    if (t.compare(0, route.size(), route) != 0) return wds_test::http_response(401, "bad secret", "", "Unauthorized");
    std::string rest = t.substr(route.size());
    rest = rest.substr(0, rest.find('?'));
    const std::string uname = wds::ais::path_unescape(rest, "uname");  // url.PathUnescape, as the target does
    if (r.method() == boost::beast::http::verb::put) {
      objects[uname] = r.body();
      ++puts[uname];
      return wds_test::http_response(200, "");
    }
    auto it = objects.find(uname);
    if (it == objects.end()) return wds_test::http_response(404, "no such object " + uname, "", "Not Found");
    return wds_test::http_response(200, it->second);
  }
};

// A WebSocket connection to the pod, as the target keeps one (websocket_comm.go).
struct ws_client {
  boost::asio::io_context ioc;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws{ioc};
  explicit ws_client(int port, const std::string& path = "/ws") {
    boost::beast::get_lowest_layer(ws).connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    ws.handshake("127.0.0.1:" + std::to_string(port), path);
  }
  void send(const std::string& data) {
    ws.binary(true);
    ws.write(boost::asio::buffer(data));
  }
  // {"fqn": ..., "path": ..., "etl_args": ..., "pipeline": ...}, empty fields omitted (api.go:140-145).
  void send_control(const std::string& path, const std::string& fqn = "", const std::string& pipeline = "",
                    const std::string& etl_args = "") {
    wds::json::object_type msg;
    if (!pipeline.empty()) msg.emplace_back("pipeline", wds::json(pipeline));
    if (!etl_args.empty()) msg.emplace_back("etl_args", wds::json(etl_args));
    if (!fqn.empty()) msg.emplace_back("fqn", wds::json(go_path_escape(fqn)));  // escaped once
    msg.emplace_back("path", wds::json(path));
    send(wds::json(std::move(msg)).dump());
  }
  struct frame {
    bool ok = false, text = false;
    std::string data;
    int close_code = 0;
  };
  // One message, or the close; bounded to 60 s.
  frame read() {
    boost::beast::flat_buffer b;
    boost::system::error_code ec = boost::asio::error::would_block;
    ws.async_read(b, [&](boost::system::error_code e, std::size_t) { ec = e; });
    ioc.restart();
    ioc.run_for(std::chrono::seconds(60));
    frame f;
    if (ec == boost::asio::error::would_block) {
      boost::beast::get_lowest_layer(ws).close();
      FAIL("no WebSocket message within 60 s");
    }
    if (ec) {
      f.close_code = ws.reason().code;
      return f;
    }
    f.ok = true;
    f.text = ws.got_text();
    f.data = boost::beast::buffers_to_string(b.data());
    return f;
  }
};

}  // namespace

TEST_CASE("server: etl_fqn encoded twice, as the Go target sends it (hpush and hpull)", "[server][ais]") {
  // The reference's own example: /mnt/d1/@ais/bck/%ob/a b.tar on the wire.
  CHECK(fqn_query("/mnt/d1/@ais/bck/%ob/a b.tar") ==
        "etl_fqn=%252Fmnt%252Fd1%252F%40ais%252Fbck%252F%2525ob%252Fa%2520b.tar");
  temp_dir dir;
  ::mkdir((dir.path + "/@ais").c_str(), 0755);
  ::mkdir((dir.path + "/@ais/bck").c_str(), 0755);
  ::mkdir((dir.path + "/@ais/bck/%ob").c_str(), 0755);
  ::mkdir((dir.path + "/@ais/bck/%ob/dir").c_str(), 0755);
  const std::string shard = make_shard(3, "fqn");
  const std::string expected = upper_expected(shard);
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  for (const std::string name : {"a b.tar", "dir/x+y=z.tar", "caf\xC3\xA9 \xE6\x97\xA5.tar", "50%25 #1?.tar"}) {
    INFO(name);
    const std::string fqn = dir.write("@ais/bck/%ob/" + name, shard);
    // hpush: PUT /<bucket>/<object> (communicator.go:304,324-330), empty body.
    auto push = cli.Put(wds::ais::path_escape("/bck/" + name) + "?" + fqn_query(fqn), "", "application/octet-stream");
    REQUIRE(push);
    CHECK(push->status == 200);
    CHECK(push->body == expected);
    // hpull: GET /<PathEscape("ais/@#/bck/<object>")> (communicator.go:389-463).
    auto pull = cli.Get("/" + go_path_escape("ais/@#/bck/" + name) + "?" + fqn_query(fqn));
    REQUIRE(pull);
    CHECK(pull->status == 200);
    CHECK(pull->body == expected);
  }
  CHECK(etl.log.last().find("GET ais/@#/bck/") == std::string::npos);  // logged decoded, with the leading '/'
  // Decoded only once, "%ob" is not an escape: a clear 400, not a 404 on a wrong path.
  const std::string fqn = dir.path + "/@ais/bck/%ob/a b.tar";
  auto once = cli.Put("/bck/a%20b.tar?etl_fqn=" + query_escape(fqn), "", "application/octet-stream");
  REQUIRE(once);
  CHECK(once->status == 400);
  CHECK(once->body.find("[wds.server.916]") != std::string::npos);
}

TEST_CASE("server: hpull without etl_fqn GETs $AIS_TARGET_URL/<escaped path as received>", "[server][ais]") {
  fake_target target;
  const std::string shard = make_shard(2, "remote");
  target.objects["ais/@#/bck/dir/a b#1.tar"] = shard;
  wds::ais::server_options o;
  o.target_url = target.url();
  o.auth_token = "tok3n";
  etl_under_test etl(upper_txt, o);
  const std::string wire = "/" + go_path_escape("ais/@#/bck/dir/a b#1.tar");
  CHECK(wire == "/ais%2F@%23%2Fbck%2Fdir%2Fa%20b%231.tar");
  auto r = etl.client().Get(wire + "?etl_args=x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
  std::lock_guard<std::mutex> lock(target.m);
  REQUIRE(target.targets.size() == 1);
  CHECK(target.targets[0] == target.prefix() + wire);  // no query
  CHECK(target.auth[0] == "Bearer tok3n");              // AIS_AUTHN_TOKEN
}

TEST_CASE("server: direct put composes the URL as the Go reference (prefix, host, escaped path, query, etl_args)",
          "[server][ais]") {
  fake_target dst;
  wds::ais::server_options o;
  o.target_url = "http://127.0.0.1:1/v1/etl/_object/wds-etl/s3cr3t";  // this pod's own target (never called)
  o.auth_token = "tok3n";
  etl_under_test etl(upper_txt, o);
  const std::string shard = make_shard(4, "dp");
  temp_dir dir;
  const std::string fqn = dir.write("src %ob.tar", shard);
  // ais/tgtobj.go:1758-1783: http://<dst host>/<PathEscape(dst uname)>?owt=<n>&uuid=<xid>; '#' is %23.
  const std::string uname = "ais/@#/dst/a b#c.tar";
  const std::string entry = dst.http.url() + "/" + go_path_escape(uname) + "?owt=2&uuid=x1";
  const std::string etl_args = "{\"k\": \"a+b & c\"}";
  auto r = etl.client().Put("/bck/a%20b.tar?" + fqn_query(fqn) + "&etl_args=" + query_escape(etl_args),
                            {{"Ais-Node-Url", entry}}, "", "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 204);
  const std::string expected = upper_expected(shard);
  CHECK(r->get_header_value("Ais-Direct-Put-Length") == std::to_string(expected.size()));
  std::lock_guard<std::mutex> lock(dst.m);
  REQUIRE(dst.targets.size() == 1);
  CHECK(dst.targets[0] == dst.prefix() + "/ais%2F@%23%2Fdst%2Fa%20b%23c.tar?owt=2&uuid=x1&etl_args=" +
                              "%7B%22k%22%3A%20%22a%2Bb%20%26%20c%22%7D");
  CHECK(dst.objects[uname] == expected);
  CHECK(dst.puts[uname] == 1);
  CHECK(dst.auth[0] == "Bearer tok3n");
  // What Go's url.ParseQuery gives the target back ('+' would have become a space).
  auto q = boost::urls::parse_origin_form(dst.targets[0]);
  REQUIRE(q);
  auto it = q->params(boost::urls::encoding_opts(true)).find("etl_args");
  REQUIRE(it != q->params(boost::urls::encoding_opts(true)).end());
  CHECK((*it).value == etl_args);
}

TEST_CASE("server: a pipeline of two pods, the destination on another target", "[server][ais]") {
  fake_target dst;
  recording_suffix second;
  wds::ais::server_options o;
  o.target_url = dst.url();  // both pods' AIS_TARGET_URL
  etl_under_test pod2(second.fn(), o);
  etl_under_test pod1(upper_txt, o);
  const std::string shard = make_shard(5, "piped");
  const std::string expected = suffix_expected(upper_expected(shard));
  temp_dir dir;
  const std::string fqn = dir.write("in.tar", shard);

  SECTION("offline: pod1 -> pod2 -> destination target, 204 all the way") {
    // transform.go:261-268: pods as http://hostIP:nodePort (no path), the destination last.
    const std::string uname = "ais/@#/dst/obj 1.tar";
    const std::string header = pod2.url() + "," + dst.http.url() + "/" + go_path_escape(uname) + "?owt=1&uuid=u";
    auto r = pod1.client().Put("/bck/obj%201.tar?" + fqn_query(fqn) + "&etl_args=E", {{"Ais-Node-Url", header}}, "",
                               "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 204);
    std::lock_guard<std::mutex> lock(dst.m);
    CHECK(dst.objects[uname] == expected);
    CHECK(dst.puts[uname] == 1);
    std::lock_guard<std::mutex> lock2(second.m);
    REQUIRE(second.paths.size() == 1);
    CHECK(second.paths[0] == "bck/obj 1.tar");  // PUT to the object path pod1 was asked for
    CHECK(second.fqns[0].empty());              // the transformed bytes, never etl_fqn
    CHECK(second.etl_args[0] == "E");           // etl_args travels
    REQUIRE(pod2.log.wait_for(1) >= 1);
    CHECK(pod2.log.last().find("PUT /bck/obj 1.tar 204") != std::string::npos);
  }
  SECTION("inline: pod1 -> pod2, pod2's 200 body is forwarded") {
    auto r = pod1.client().Put("/bck/o.tar", {{"Ais-Node-Url", pod2.url()}}, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == expected);
  }
}

TEST_CASE("server: WebSocket at /ws: three objects in flight, answered in order", "[server][ais][ws]") {
  fake_target dst;
  wds::ais::server_options o;
  o.target_url = dst.url();
  etl_under_test etl(upper_txt, o);
  temp_dir dir;
  const std::string s1 = make_shard(2, "one"), s2 = make_shard(3, "two"), s3 = make_shard(4, "three");
  const std::string f1 = dir.write("o %ob 1.tar", s1), f3 = dir.write("o3.tar", s3);

  SECTION("fqn, bytes, fqn; then a direct put answered with Text") {
    ws_client c(etl.port);
    c.send_control("bck/o 1.tar", f1);
    c.send_control("bck/o2.tar");  // no fqn: the content frame follows
    c.send(s2);
    c.send_control("bck/o3.tar", f3);
    for (const std::string* s : {&s1, &s2, &s3}) {
      auto f = c.read();
      REQUIRE(f.ok);
      CHECK_FALSE(f.text);
      CHECK(f.data == upper_expected(*s));
    }
    const std::string uname = "ais/@#/dst/o 4#.tar";
    c.send_control("bck/o4.tar", f1, dst.http.url() + "/" + go_path_escape(uname) + "?owt=1");
    auto ack = c.read();
    REQUIRE(ack.ok);
    CHECK(ack.text);  // "delivered by direct put"
    std::lock_guard<std::mutex> lock(dst.m);
    CHECK(dst.objects[uname] == upper_expected(s1));
  }
  SECTION("a failing object closes with 1011, never a Text frame") {
    std::string corrupt = s2;
    corrupt[148] = static_cast<char>(corrupt[148] ^ 0x55);
    ws_client c(etl.port);
    c.send_control("bck/o1.tar", f1);
    c.send_control("bck/bad.tar");
    c.send(corrupt);
    c.send_control("bck/o3.tar", f3);
    auto first = c.read();
    REQUIRE(first.ok);
    CHECK_FALSE(first.text);
    CHECK(first.data == upper_expected(s1));
    auto next = c.read();
    CHECK_FALSE(next.ok);  // no Text, no Binary: the close
    CHECK(next.close_code == 1011);
    CHECK(etl.log.wait_for_text("error: [wds.tar."));
  }
  SECTION("a failed direct put closes with 1011 too") {
    int dead_port;
    {
      wds_test::fake_http gone([](const wds_test::fake_request&) { return std::string(); });
      dead_port = gone.port();
    }
    etl_under_test quick(upper_txt, [&] {
      wds::ais::server_options q = o;
      q.direct_put_retries = 0;
      return q;
    }());
    ws_client c(quick.port);
    c.send_control("bck/o1.tar", f1, "http://127.0.0.1:" + std::to_string(dead_port) + "/ais%2F@%23%2Fdst%2Fo");
    auto f = c.read();
    CHECK_FALSE(f.ok);
    CHECK(f.close_code == 1011);
  }
  SECTION("a bad control message closes with 1011") {
    ws_client c(etl.port);
    c.send("{not json");
    auto f = c.read();
    CHECK_FALSE(f.ok);
    CHECK(f.close_code == 1011);
  }
  SECTION("several connections in parallel, each in order") {
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int k = 0; k < 4; ++k)
      threads.emplace_back([&, k] {
        ws_client c(etl.port);
        std::vector<std::string> sent;
        for (int i = 0; i < 3; ++i) {
          sent.push_back(make_shard(1 + i, "conn" + std::to_string(k) + "-" + std::to_string(i)));
          c.send_control("bck/c" + std::to_string(k) + "-" + std::to_string(i) + ".tar");
          c.send(sent.back());
        }
        for (const auto& s : sent) {
          auto f = c.read();
          if (f.ok && !f.text && f.data == upper_expected(s)) ++good;
        }
      });
    for (auto& t : threads) t.join();
    CHECK(good == 12);
  }
  SECTION("only /ws upgrades") {
    CHECK_THROWS(ws_client(etl.port, "/other"));
  }
}

TEST_CASE("server: POST /download fetches, transforms and answers", "[server][ais]") {
  const std::string shard = make_shard(2, "dl");
  wds_test::fake_http origin([&](const wds_test::fake_request& r) {
    if (r.target() == "/files/s.tar") return wds_test::http_response(200, shard);
    return wds_test::http_response(404, "nope", "", "Not Found");
  });
  etl_under_test etl(upper_txt);
  auto r = etl.client().Post("/download?original_url=" + query_escape(origin.url() + "/files/s.tar") +
                                 "&object_to=dst%2Fs.tar",
                             "", "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
  auto missing = etl.client().Post("/download?original_url=" + query_escape(origin.url() + "/files/x.tar"), "",
                                   "application/octet-stream");
  REQUIRE(missing);
  CHECK(missing->status == 502);
  CHECK(missing->body.find("[wds.server.918]") != std::string::npos);
}

TEST_CASE("server: bad HTTP requests get a one-line 4xx (huge headers, bad chunks, bad targets)", "[server]") {
  wds::ais::server_options o;
  o.io_timeout = std::chrono::seconds(5);
  etl_under_test etl(upper_txt, o);
  raw_reply huge = raw_exchange(etl.port, "GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(200000, 'h') + "\r\n\r\n", false);
  CHECK(huge.status == 431);
  raw_reply chunk = raw_exchange(etl.port, "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n", false);
  CHECK(chunk.status == 400);
  CHECK(chunk.body.find("[wds.server.919]") != std::string::npos);
  raw_reply garbage = raw_exchange(etl.port, "GARBAGE\r\n\r\n", false);
  CHECK(garbage.status == 400);
  raw_reply big = raw_exchange(etl.port, "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nContent-Length: 109951162777600000\r\n\r\nabc", true);
  CHECK(big.status == 413);
  raw_reply root = raw_exchange(etl.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
  CHECK(root.status == 404);
  CHECK(is_one_line(root.body));
  auto health = etl.client().Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
}

#if WDS_HAS_JPEG
TEST_CASE("server: torchvision_preprocess answers image/jpeg on hpush, hpull and ws", "[server][ais][ws]") {
  const std::string input = read_file(std::string(WDS_TEST_DATA_DIR) + "/server/rocket-crop.jpg");
  temp_dir dir;
  const std::string fqn = dir.write("rocket %ob.jpg", input);
  etl_under_test etl(wds::ais::torchvision_preprocess(R"({"Resize": {"size": 16}})", "JPEG", compile_spec));
  auto push = etl.client().Put("/images/rocket.jpg", input, "image/jpeg");
  REQUIRE(push);
  REQUIRE(push->status == 200);
  CHECK(push->get_header_value("Content-Type") == "image/jpeg");
  auto pull = etl.client().Get("/" + go_path_escape("ais/@#/images/rocket.jpg") + "?" + fqn_query(fqn));
  REQUIRE(pull);
  CHECK(pull->status == 200);
  CHECK(pull->get_header_value("Content-Type") == "image/jpeg");
  CHECK(pull->body == push->body);
  ws_client c(etl.port);
  c.send_control("images/rocket.jpg", fqn);
  auto f = c.read();
  REQUIRE(f.ok);
  CHECK(f.data == push->body);
}
#endif

#ifdef WDS_ETL_BINARY
TEST_CASE("server: wds-etl serve end to end (reference pipeline, gzip, SIGTERM)", "[server]") {
  std::signal(SIGPIPE, SIG_IGN);
  int err[2];
  REQUIRE(::pipe(err) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addclose(&actions, err[0]);
  std::vector<std::string> args{WDS_ETL_BINARY, "serve", "--host", "127.0.0.1", "--port", "0", "--threads", "2"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, WDS_ETL_BINARY, &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err[1]);
  // The first stderr line names the port.
  std::string text;
  int port = 0;
  for (int waited = 0; port == 0 && waited < 200; ++waited) {
    pollfd p{err[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    auto at = text.find("listening on 127.0.0.1:");
    if (at != std::string::npos && text.find(' ', at + 23) != std::string::npos)
      port = std::atoi(text.c_str() + at + 23);
  }
  INFO(text);
  REQUIRE(port > 0);
  test_client cli{port};
  const std::string dir = std::string(WDS_TEST_DATA_DIR) + "/etl/";
  auto r = cli.Put("/bck/pets-small.tar", read_file(dir + "pets-small.tar"), "application/x-tar");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == read_file(dir + "pets-small.expected.tar"));  // the Python reference, byte for byte
  auto bad = cli.Put("/bck/bad.tar", read_file(dir + "bad-missing-trimap.tar"), "application/x-tar");
  REQUIRE(bad);
  CHECK(bad->status == 422);
  CHECK(is_one_line(bad->body));
  auto skip = cli.Put("/bck/bad.tar?etl_args=" + query_escape(R"({"on_error": "skip"})"),
                      read_file(dir + "bad-missing-trimap.tar"), "application/x-tar");
  REQUIRE(skip);
  CHECK(skip->status == 200);
  CHECK(skip->body == read_file(dir + "bad-missing-trimap.skip.expected.tar"));
  // SIGTERM: a clean exit with status 0.
  REQUIRE(::kill(pid, SIGTERM) == 0);
  int status = -1;
  for (int i = 0; i < 400; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    char buf[512];
    pollfd p{err[0], POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) (void)::read(err[0], buf, sizeof buf);  // keep the pipe drained
    std::this_thread::sleep_for(50ms);
  }
  ::close(err[0]);
  if (!(WIFEXITED(status) || WIFSIGNALED(status))) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("wds-etl serve did not exit after SIGTERM");
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

namespace {
// Runs `wds-etl serve ARGS` through the shell (stderr folded into the output).
std::pair<int, std::string> run_serve(const std::string& args) {
  std::string cmd = "env -u TRANSFORM -u FORMAT '" + std::string(WDS_ETL_BINARY) + "' serve " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
}  // namespace

TEST_CASE("server: wds-etl serve usage errors (unknown option, --torchvision without TRANSFORM)", "[server]") {
  auto [rc, out] = run_serve("--bogus");
  CHECK(rc == 2);
  CHECK(out == "wds-etl serve: unknown option --bogus\nsee wds-etl serve --help\n");
  auto [rc2, out2] = run_serve("--port 0 --nope=1");
  CHECK(rc2 == 2);
  CHECK(out2 == "wds-etl serve: unknown option --nope\nsee wds-etl serve --help\n");
  auto [rc3, out3] = run_serve("--torchvision --port 0");
  CHECK(rc3 == 2);
  CHECK(out3.find("TRANSFORM") != std::string::npos);
}
#endif

#endif  // WDS_HAS_HTTP
