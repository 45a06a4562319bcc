// SPDX-License-Identifier: MIT
// The AIStore ETL server contract (include/wds/ais.hpp), exercised in-process
// over loopback (127.0.0.1 only): the tests play AIStore's part (hpush, hpull,
// etl_fqn, direct put) and check statuses, headers and bodies.
#include <wds/config.hpp>

#if defined(WDS_HAS_HTTPLIB) && WDS_HAS_HTTPLIB  // being moved to Beast

#include "catch.hpp"

#include <wds/ais.hpp>
#include <wds/compose.hpp>
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
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
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

// Captures the server's log lines.
struct log_capture {
  std::mutex m;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> fn() {
    return [this](const std::string& l) {
      std::lock_guard<std::mutex> lock(m);
      lines.push_back(l);
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(m);
    return lines.size();
  }
  std::string last() {
    std::lock_guard<std::mutex> lock(m);
    return lines.empty() ? std::string() : lines.back();
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
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    c.set_write_timeout(60, 0);
    return c;
  }
};

// A plain HTTP server standing in for an AIS target (hpull source, direct-put receiver).
struct stand_in {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  explicit stand_in(const std::function<void(httplib::Server&)>& routes) {
    routes(http);
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
    for (int i = 0; i < 500 && !http.is_running(); ++i) std::this_thread::sleep_for(10ms);
  }
  ~stand_in() {
    http.stop();
    thread.join();
  }
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

std::string query_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
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
  CHECK(etl.log.count() == 1);
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
  CHECK(etl.log.count() == 1);
  CHECK(etl.log.last().find("PUT /bck/shard-0001.tar 200") != std::string::npos);
}

TEST_CASE("server: hpush and hpull with etl_fqn read the local file", "[server]") {
  temp_dir dir;
  const std::string shard = make_shard(3, "from disk");
  const std::string path = dir.write("shard 1.tar", shard);
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  const std::string target = "/bck/shard%201.tar?etl_fqn=" + query_escape(path);
  auto put = cli.Put(target.c_str(), "", "application/octet-stream");
  REQUIRE(put);
  CHECK(put->status == 200);
  CHECK(put->body == upper_expected(shard));
  auto get = cli.Get(target.c_str());
  REQUIRE(get);
  CHECK(get->status == 200);
  CHECK(get->body == upper_expected(shard));

  auto missing = cli.Get(("/bck/x.tar?etl_fqn=" + query_escape(dir.path + "/nope.tar")).c_str());
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(is_one_line(missing->body));
  CHECK(missing->body.find("[wds.server.902]") != std::string::npos);
}

TEST_CASE("server: hpull fetches $AIS_TARGET_URL/<path> from a stand-in target", "[server]") {
  const std::string shard = make_shard(4, "pulled");
  std::mutex m;
  std::vector<std::string> seen;
  stand_in target([&](httplib::Server& s) {
    s.Get(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(m);
        seen.push_back(req.target);
      }
      if (req.path == "/v1/objects/bck/dir/a b.tar")
        res.set_content(shard, "application/octet-stream");
      else
        res.status = 404, res.set_content("object not found", "text/plain");
    });
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
  CHECK(missing->status == 404);
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
  stand_in receiver([&](httplib::Server& s) {
    s.Put(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(m);
      got_body = req.body;
      got_length = req.get_header_value("Content-Length");
      got_chain = req.get_header_value("Ais-Node-Url");
      got_target = req.target;
      res.status = 200;  // an AIS target answers 200 without a body
    });
  });
  etl_under_test etl(upper_txt);
  auto cli = etl.client();
  const std::string dest = receiver.url() + "/v1/objects/dst/shard.tar?xid=7&p=a+b";
  httplib::Headers h{{"Ais-Node-Url", dest + ", http://127.0.0.1:9/next-stage"}};
  auto r = cli.Put("/bck/shard.tar", h, shard, "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 204);
  CHECK(r->body.empty());
  const std::string expected = upper_expected(shard);
  CHECK(r->get_header_value("Ais-Direct-Put-Length") == std::to_string(expected.size()));
  std::lock_guard<std::mutex> lock(m);
  CHECK(got_body == expected);
  CHECK(got_length == std::to_string(expected.size()));
  CHECK(got_target == "/v1/objects/dst/shard.tar?xid=7&p=a+b");  // exactly that URL
  CHECK(got_chain == "http://127.0.0.1:9/next-stage");
}

TEST_CASE("server: direct put retries with backoff, then 502", "[server]") {
  const std::string shard = make_shard(2);
  wds::ais::server_options o;
  o.direct_put_retries = 2;
  o.direct_put_backoff = 5ms;

  SECTION("a dead receiver: connection refused") {
    int dead_port = 0;
    {
      stand_in gone([](httplib::Server&) {});
      dead_port = gone.port;
    }
    etl_under_test etl(upper_txt, o);
    httplib::Headers h{{"Ais-Node-Url", "http://127.0.0.1:" + std::to_string(dead_port) + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(is_one_line(r->body));
    CHECK(r->body.find("[wds.server.909]") != std::string::npos);
    CHECK(r->body.find("3 attempts") != std::string::npos);
    // The server keeps serving.
    auto ok = etl.client().Put("/bck/shard.tar", shard, "application/octet-stream");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  SECTION("a receiver failing twice, then accepting") {
    std::atomic<int> calls{0};
    std::string last_body;
    stand_in flaky([&](httplib::Server& s) {
      s.Put(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
        if (++calls <= 2) {
          res.status = 500;
          res.set_content("try later", "text/plain");
          return;
        }
        last_body = req.body;
        res.status = 200;
      });
    });
    etl_under_test etl(upper_txt, o);
    httplib::Headers h{{"Ais-Node-Url", flaky.url() + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 204);
    CHECK(calls == 3);
    CHECK(last_body == upper_expected(shard));
  }
  SECTION("a receiver that always fails") {
    std::atomic<int> calls{0};
    stand_in broken([&](httplib::Server& s) {
      s.Put(R"(/.*)", [&](const httplib::Request&, httplib::Response& res) {
        ++calls;
        res.status = 503;
        res.set_content("overloaded\nsecond line", "text/plain");
      });
    });
    etl_under_test etl(upper_txt, o);
    httplib::Headers h{{"Ais-Node-Url", broken.url() + "/v1/objects/d/o"}};
    auto r = etl.client().Put("/bck/shard.tar", h, shard, "application/octet-stream");
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(calls == 3);
    CHECK(is_one_line(r->body));
    CHECK(r->body.find("HTTP 503: overloaded second line") != std::string::npos);
  }
}

TEST_CASE("server: a bad Ais-Node-Url is rejected before any work", "[server]") {
  std::atomic<int> calls{0};
  etl_under_test etl([&](wds::any_source& in, wds::any_sink& out, wds::ais::object_request& req) {
    ++calls;
    upper_txt(in, out, req);
  });
  for (const char* header : {"http://127.0.0.1:1/a,,http://127.0.0.1:2/b", "ftp://127.0.0.1/x", "no-scheme"}) {
    httplib::Headers h{{"Ais-Node-Url", header}};
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
  CHECK(etl.log.count() == 3);
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
  auto get = [&](const std::string& fqn) { return cli.Get(("/bck/o.tar?etl_fqn=" + query_escape(fqn)).c_str()); };

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
      auto r = cli.Put(("/bck/shard-" + std::to_string(i) + ".tar").c_str(), shards[i], "application/octet-stream");
      if (r) statuses[i] = r->status, results[i] = r->body;
      else results[i] = httplib::to_string(r.error());
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < n; ++i) {
    INFO(i);
    CHECK(statuses[i] == 200);
    CHECK(results[i] == upper_expected(shards[i]));
  }
  CHECK(etl.log.count() == n);
}

TEST_CASE("server: large objects spill to a temporary file both ways", "[server]") {
  wds::ais::server_options o;
  o.memory_limit = 1024;
  const std::string shard = make_shard(400, std::string(300, 'x'));
  REQUIRE(shard.size() > 300000);
  std::string received;
  stand_in receiver([&](httplib::Server& s) {
    s.Put(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
      received = req.body;
      res.status = 204;
      res.set_header("Ais-Direct-Put-Length", std::to_string(req.body.size()));
    });
  });
  etl_under_test etl(upper_txt, o);
  auto r = etl.client().Put("/bck/big.tar", shard, "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
  httplib::Headers h{{"Ais-Node-Url", receiver.url() + "/v1/objects/d/big.tar"}};
  auto d = etl.client().Put("/bck/big.tar", h, shard, "application/octet-stream");
  REQUIRE(d);
  CHECK(d->status == 204);
  CHECK(received == upper_expected(shard));
  CHECK(d->get_header_value("Ais-Direct-Put-Length") == std::to_string(received.size()));
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
  CHECK(etl.log.count() == 2);
}

TEST_CASE("server: a chunked hpush body (no Content-Length)", "[server]") {
  etl_under_test etl(upper_txt);
  const std::string shard = make_shard(9, "chunked");
  auto r = etl.client().Put(
      "/bck/chunked.tar",
      [&](std::size_t offset, httplib::DataSink& sink) {
        if (offset >= shard.size()) {
          sink.done();
          return true;
        }
        std::size_t n = std::min<std::size_t>(1000, shard.size() - offset);
        return sink.write(shard.data() + offset, n);
      },
      "application/x-tar");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == upper_expected(shard));
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
  auto p = wds::ais::split_url("http://10.0.0.1:8080/v1/objects/b/o%20x?xid=1");
  CHECK(p.origin == "http://10.0.0.1:8080");
  CHECK(p.target == "/v1/objects/b/o%20x?xid=1");
  CHECK(wds::ais::split_url("https://host").target == "/");
  CHECK(wds::ais::split_url("http://host?x=1").target == "/?x=1");
  auto urls = wds::ais::parse_node_urls(" http://a:1/x , http://b:2/y,http://c:3/z ");
  REQUIRE(urls.size() == 3);
  CHECK(urls[0] == "http://a:1/x");
  CHECK(urls[2] == "http://c:3/z");
  CHECK(wds::ais::parse_node_urls("").empty());
  CHECK(wds::ais::lexically_normal("/a/./b/../../../c//d/") == "/c/d");
  CHECK(wds::ais::lexically_normal("rel/x") == "/rel/x");
  CHECK(wds::ais::path_within("/r/a", "/r"));
  CHECK_FALSE(wds::ais::path_within("/rx/a", "/r"));
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
  const std::string input = read_file(WDS_TEST_DATA_DIR "/server/rocket-crop.jpg");
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
  const std::string dir = WDS_TEST_DATA_DIR "/server/";
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
  auto webp = etl.client().Put(("/images/x.jpg?etl_args=" + query_escape(R"({"format": "WEBP"})")).c_str(), input,
                               "image/jpeg");
  REQUIRE(webp);
  CHECK(webp->status == 400);
  auto ok = etl.client().Put("/images/x.jpg?etl_args=garbage", input, "image/jpeg");  // ignored, as in Python
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("server: spec_objects with an etl_args pipeline override", "[server]") {
  const std::string input = read_file(WDS_TEST_DATA_DIR "/server/rocket-crop.jpg");
  etl_under_test etl(wds::ais::spec_objects("decode|center_crop(10)|png", compile_spec));
  auto r = etl.client().Put("/b/x.jpg", input, "image/jpeg");
  REQUIRE(r);
  CHECK(r->status == 200);
  auto img = wds::decode_image(reinterpret_cast<const std::byte*>(r->body.data()), r->body.size());
  CHECK(std::get<wds::image<std::uint8_t>>(img).width() == 10);
  auto o = etl.client().Put(("/b/x.jpg?etl_args=" + query_escape(R"({"pipeline": "decode|center_crop(7x5)|png"})")).c_str(),
                            input, "image/jpeg");
  REQUIRE(o);
  CHECK(o->status == 200);
  auto img2 = wds::decode_image(reinterpret_cast<const std::byte*>(o->body.data()), o->body.size());
  CHECK(std::get<wds::image<std::uint8_t>>(img2).width() == 5);
  auto bad = etl.client().Put(("/b/x.jpg?etl_args=" + query_escape(R"({"pipeline": "decode|resize(0)|png"})")).c_str(),
                              input, "image/jpeg");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body.find("[wds.spec.") == 0);
  CHECK(is_one_line(bad->body));
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
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  const std::string dir = WDS_TEST_DATA_DIR "/etl/";
  auto r = cli.Put("/bck/pets-small.tar", read_file(dir + "pets-small.tar"), "application/x-tar");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == read_file(dir + "pets-small.expected.tar"));  // the Python reference, byte for byte
  auto bad = cli.Put("/bck/bad.tar", read_file(dir + "bad-missing-trimap.tar"), "application/x-tar");
  REQUIRE(bad);
  CHECK(bad->status == 422);
  CHECK(is_one_line(bad->body));
  auto skip = cli.Put(("/bck/bad.tar?etl_args=" + query_escape(R"({"on_error": "skip"})")).c_str(),
                      read_file(dir + "bad-missing-trimap.tar"), "application/x-tar");
  REQUIRE(skip);
  CHECK(skip->status == 200);
  CHECK(skip->body == read_file(dir + "bad-missing-trimap.skip.expected.tar"));
  // SIGTERM: a clean exit with status 0.
  REQUIRE(::kill(pid, SIGTERM) == 0);
  int status = -1;
  for (int i = 0; i < 400; ++i) {  // idle keep-alive connections close within keep_alive_timeout (5 s)
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
#endif

#endif  // WDS_HAS_HTTPLIB
