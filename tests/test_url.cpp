// SPDX-License-Identifier: MIT
// URL opening: file:, pipe: (exit status checked), cache_dir (never a partial
// file), http(s):// and ais:// against a loopback server (404, timeout,
// truncated body, Range reads), all errors naming the URL.
#include "catch.hpp"
#include "support.hpp"

#include <wds/config.hpp>
#include <wds/dataset.hpp>
#include <wds/random_access.hpp>
#include <wds/shard_writer.hpp>
#include <wds/url.hpp>

#if WDS_HAS_HTTP
#include "fake_http.hpp"

#include <wds/http.hpp>  // installs the URL client (the suite builds with WDS_HTTP_SEPARATE=1)
#endif

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <stdlib.h>

namespace {
std::string slurp(wds::any_source src) {
  std::string s;
  std::byte buf[4096];
  while (std::size_t n = src.read(buf, sizeof buf)) s.append(reinterpret_cast<const char*>(buf), n);
  wds::verify_end(src);
  return s;
}

std::string one_shard(const wds_test::temp_dir& dir, int n = 3) {
  wds::shard_writer w(dir / "s-%d.tar");
  for (int i = 0; i < n; ++i) {
    wds::sample s("k" + std::to_string(i));
    s.set("txt", "v" + std::to_string(i));
    w.write(s);
  }
  w.close();
  return dir / "s-0.tar";
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const wds::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("url kinds", "[url]") {
  CHECK(wds::url_kind_of("a/b.tar") == wds::url_kind::local);
  CHECK(wds::url_kind_of("file:a.tar") == wds::url_kind::local);
  CHECK(wds::url_kind_of("-") == wds::url_kind::stdio);
  CHECK(wds::url_kind_of("pipe:cat x") == wds::url_kind::pipe);
  CHECK(wds::url_kind_of("https://h/x") == wds::url_kind::http);
  CHECK(wds::url_kind_of("ais://b/o") == wds::url_kind::ais);
  CHECK(wds::url_kind_of("s3://b/o") == wds::url_kind::unknown);
  CHECK(wds::local_path_of("file:///tmp/x") == "/tmp/x");
  CHECK_THROWS_AS(wds::open_url("s3://b/o"), wds::io_error);
}

TEST_CASE("pipe: reads a command's output; a failed command is an error naming it", "[url]") {
  wds_test::temp_dir dir;
  const std::string shard = one_shard(dir);
  CHECK(slurp(wds::open_url("pipe:cat '" + shard + "'")).size() == wds_test::read_file(shard).size());
  CHECK(slurp(wds::open_url("file:" + shard)).size() == wds_test::read_file(shard).size());
  // A dataset over a pipe reads the samples and then checks the exit status.
  {
    wds::dataset ok("pipe:cat '" + shard + "'");
    std::size_t n = 0;
    for (auto& s : ok) n += s.size();
    CHECK(n == 3);
  }
  const std::string bad = "pipe:cat '" + shard + "'; exit 7";
  wds::dataset failing(bad);
  const std::string what = error_of([&] {
    for (auto& s : failing) (void)s;
  });
  CHECK(what.find("[wds.io.150]") != std::string::npos);
  CHECK(what.find("exit status 7") != std::string::npos);
  CHECK(what.find("cat '" + shard + "'; exit 7") != std::string::npos);
  CHECK(error_of([&] { slurp(wds::open_url("pipe:exit 3")); }).find("exit status 3") != std::string::npos);
  // Writing: through a command's stdin; its failure surfaces at close().
  {
    wds::any_sink out = wds::open_url_output("pipe:cat > '" + dir.path + "/piped.bin'");
    out.write(reinterpret_cast<const std::byte*>("hello"), 5);
    out.close();
    CHECK(wds_test::text(wds_test::read_file(dir / "piped.bin")) == "hello");
  }
  {
    wds::any_sink out = wds::open_url_output("pipe:cat > /dev/null; exit 4");
    out.write(reinterpret_cast<const std::byte*>("x"), 1);
    CHECK_THROWS_AS(out.close(), wds::io_error);
  }
  // shard_writer into pipes.
  {
    wds::shard_writer w("pipe:cat > '" + dir.path + "/p-%d.tar'");
    wds::sample s("a");
    s.set("txt", std::string("b"));
    w.write(s);
    w.close();
    CHECK(wds_test::read_file(dir / "p-0.tar").size() == 10240);
  }
}

TEST_CASE("cache_dir: downloaded once, checked, never a partial file", "[url]") {
  wds_test::temp_dir dir, cache;
  const std::string shard = one_shard(dir);
  const std::string url = "pipe:cat '" + shard + "'";
  wds::url_options o;
  o.cache_dir = cache.path;
  CHECK(slurp(wds::open_url(url, o)).size() == 10240);
  const std::string listing = wds_test::run("ls -A " + cache.path);
  CHECK(listing.find("pipe") != std::string::npos);
  // Second time from the cache: the command is not run (it would fail now).
  wds_test::run("rm '" + shard + "'");
  CHECK(slurp(wds::open_url(url, o)).size() == 10240);
  // Not a shard: not cached. A failing download: not cached either.
  CHECK_THROWS_AS(wds::open_url("pipe:echo hello", o), wds::io_error);
  CHECK_THROWS_AS(wds::open_url("pipe:head -c 3000 /dev/zero; exit 1", o), wds::io_error);
  CHECK(wds_test::run("ls -A " + cache.path) == listing);
  o.cache_dir = cache.path + "/missing";
  CHECK_THROWS_AS(wds::open_url(url, o), wds::io_error);
}

#if WDS_HAS_HTTP
TEST_CASE("http(s) and ais sources against a loopback server", "[url][http]") {
  wds_test::temp_dir dir;
  const std::string shard = one_shard(dir, 5);
  const std::string body = wds_test::text(wds_test::read_file(shard));
  wds::shard_writer_options wo;
  wo.dali_index = true;
  {
    wds::shard_writer w(dir / "i-%d.tar", wo);
    for (int i = 0; i < 5; ++i) {
      wds::sample s("k" + std::to_string(i));
      s.set("txt", std::string(std::size_t(100 + i * 300), char('a' + i)));
      w.write(s);
    }
    w.close();
  }
  const std::string ibody = wds_test::text(wds_test::read_file(dir / "i-0.tar"));
  const std::string iidx = wds_test::text(wds_test::read_file(dir / "i-0.idx"));
  std::vector<std::string> ranges, targets;
  std::mutex m;
  wds_test::fake_http srv([&](const wds_test::fake_request& r) -> std::string {
    const std::string t(r.target());
    {
      std::lock_guard<std::mutex> lk(m);
      targets.push_back(t);
    }
    if (t == "/s.tar" || t == "/v1/objects/bkt/s.tar?etl_name=x") return wds_test::http_response(200, body);
    if (t == "/i.idx") return wds_test::http_response(200, iidx);
    if (t == "/i.tar") {
      const std::string range = wds_test::header_of(r, "Range");
      {
        std::lock_guard<std::mutex> lk(m);
        ranges.push_back(range);
      }
      const auto eq = range.find('='), dash = range.find('-');
      const std::size_t a = std::stoul(range.substr(eq + 1)), b = std::stoul(range.substr(dash + 1));
      return wds_test::http_response(206, ibody.substr(a, b - a + 1), "Content-Range: bytes " + range.substr(eq + 1) + "/" + std::to_string(ibody.size()) + "\r\n");
    }
    if (t == "/short.tar") return "HTTP/1.1 200 OK\r\nContent-Length: 10240\r\nConnection: close\r\n\r\n" + body.substr(0, 3000);
    if (t == "/slow.tar") {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      return wds_test::http_response(200, body);
    }
    return wds_test::http_response(404, "no such object", "", "Not Found");
  });
  CHECK(slurp(wds::open_url(srv.url() + "/s.tar")) == body);
  // ais:// through AIS_ENDPOINT, query (etl_name) kept.
  ::setenv("AIS_ENDPOINT", srv.url().c_str(), 1);
  CHECK(slurp(wds::open_url("ais://bkt/s.tar?etl_name=x")) == body);
  {
    wds::dataset ds(srv.url() + "/s.tar");
    std::size_t n = 0;
    for (auto& s : ds) n += !s.key().empty();
    CHECK(n == 5);
  }
  const std::string e404 = error_of([&] { wds::open_url(srv.url() + "/nope.tar"); });
  CHECK(e404.find("[wds.io.155]") != std::string::npos);
  CHECK(e404.find("404") != std::string::npos);
  CHECK(e404.find(srv.url() + "/nope.tar") != std::string::npos);
  const std::string eais = error_of([&] { wds::open_url("ais://bkt/missing"); });
  CHECK(eais.find("ais://bkt/missing") != std::string::npos);
  const std::string eshort = error_of([&] { slurp(wds::open_url(srv.url() + "/short.tar")); });
  CHECK(eshort.find("[wds.io.132]") != std::string::npos);
  CHECK(eshort.find("/short.tar") != std::string::npos);
  wds::url_options fast;
  fast.timeout_seconds = 0.3;
  const std::string eslow = error_of([&] { slurp(wds::open_url(srv.url() + "/slow.tar", fast)); });
  CHECK(eslow.find("[wds.io.131]") != std::string::npos);
  CHECK(eslow.find("/slow.tar") != std::string::npos);
  // The cache keeps neither a truncated download nor a 404 body.
  wds_test::temp_dir cache;
  wds::url_options c;
  c.cache_dir = cache.path;
  CHECK_THROWS_AS(slurp(wds::open_url(srv.url() + "/short.tar", c)), wds::io_error);
  CHECK_THROWS_AS(slurp(wds::open_url(srv.url() + "/nope.tar", c)), wds::io_error);
  CHECK(wds_test::run("ls -A " + cache.path) == "");
  CHECK(slurp(wds::open_url(srv.url() + "/s.tar", c)) == body);
  CHECK(wds_test::run("ls -A " + cache.path) == "s.tar\n");
  // Random access over HTTP: one Range request per sample, only its bytes.
  wds::shard_list l;
  l.urls = {srv.url() + "/i.tar"};
  l.counts = {std::nullopt};
  wds::indexed_dataset ds(l);
  REQUIRE(ds.size() == 5);
  CHECK(ds[3].at("txt").size() == 1000);
  CHECK(wds_test::text(ds[1].at("txt")) == std::string(400, 'b'));
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].rfind("bytes=", 0) == 0);
  CHECK(ds.bytes_read() == 1400);
  ::unsetenv("AIS_ENDPOINT");
}
#endif

#if WDS_HAS_HTTP && WDS_HAS_OPENSSL
namespace {
// Sets an environment variable for one scope.
struct scoped_env {
  scoped_env(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  const char* name_;
  std::optional<std::string> old_;
};

// `openssl s_server -WWW` on a loopback port with a fresh self-signed
// certificate for "localhost" only: serves the files of `dir`.
struct tls_file_server {
  explicit tls_file_server(const wds_test::temp_dir& d) : dir(d.path) {
    int st = 1;
    wds_test::run("cd '" + dir + "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2"
                  " -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1", &st);
    if (st != 0) return;
    wds_test::run("cd '" + dir + "' && { openssl s_server -accept 127.0.0.1:0 -cert cert.pem -key key.pem -WWW"
                  " >server.log 2>&1 </dev/null & echo $! >server.pid; }", &st);
    for (int i = 0; i < 100 && port.empty(); ++i) {
      const std::string log = wds_test::run("cat '" + dir + "/server.log'");
      const auto at = log.find("ACCEPT 127.0.0.1:");
      if (at != std::string::npos && log.find('\n', at) != std::string::npos)
        port = log.substr(at + 17, log.find('\n', at) - at - 17);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  tls_file_server(const tls_file_server&) = delete;
  tls_file_server& operator=(const tls_file_server&) = delete;
  ~tls_file_server() { wds_test::run("kill $(cat '" + dir + "/server.pid') 2>/dev/null"); }
  std::string dir, port;
};
}  // namespace

TEST_CASE("https:// with AIStore's TLS variables, against openssl s_server", "[url][http][tls]") {
  if (!wds_test::have_command("openssl")) {
    WARN("no openssl command: the TLS test needs it for a certificate and a server");
    return;
  }
  wds_test::temp_dir dir;
  const std::string shard = one_shard(dir, 4);
  tls_file_server server(dir);
  REQUIRE(!server.port.empty());
  const std::string want = wds_test::text(wds_test::read_file(shard));
  {
    const std::string url = "https://localhost:" + server.port + "/s-0.tar";
    INFO(url);
    {
      // The certificate is not in the system's store: refused, naming the URL.
      const std::string what = error_of([&] { slurp(wds::open_url(url)); });
      CHECK(what.find("[wds.io.13") != std::string::npos);
      CHECK(what.find(url) != std::string::npos);
    }
    {
      scoped_env ca("AIS_CLIENT_CA", dir / "cert.pem");
      CHECK(slurp(wds::open_url(url)) == want);
      wds::dataset ds(url);
      std::size_t n = 0;
      for (auto& s : ds) n += s.size();
      CHECK(n == 4);
    }
    {
      scoped_env skip("AIS_SKIP_VERIFY_CRT", "true");
      CHECK(slurp(wds::open_url(url)) == want);
    }
  }
  {
    // Signed by the trusted CA but for another name: the host check fails.
    scoped_env ca("AIS_CLIENT_CA", dir / "cert.pem");
    const std::string url = "https://127.0.0.1:" + server.port + "/s-0.tar";
    CHECK(error_of([&] { slurp(wds::open_url(url)); }).find("[wds.io.13") != std::string::npos);
  }
  {
    scoped_env ca("AIS_CLIENT_CA", dir / "missing.pem");
    const std::string what = error_of([&] { slurp(wds::open_url("https://127.0.0.1:" + server.port + "/s-0.tar")); });
    CHECK(what.find("AIS_CLIENT_CA") != std::string::npos);
  }
}
#endif
