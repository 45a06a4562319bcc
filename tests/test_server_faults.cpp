// SPDX-License-Identifier: MIT
// `wds-etl serve` under load and faults, driven over loopback with raw POSIX
// sockets: many concurrent clients, slow clients, clients that disconnect
// mid-body, oversized bodies, malformed chunked encoding and bad shards mixed
// with good ones. The server must answer every good request with the right
// bytes, keep its peak RSS bounded, and never exit until told to.
#include "catch.hpp"
#include "paths.hpp"

#include <wds/config.hpp>

#if defined(WDS_ETL_BINARY) && WDS_HAS_HTTP && WDS_HAS_JPEG && WDS_HAS_PNG

#include <wds/codec/png.hpp>
#include <wds/etl.hpp>
#include <wds/image.hpp>
#include <wds/io.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A connected loopback socket with send/receive timeouts, or -1.
int connect_to(int port, int timeout_s = 60) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  timeval tv{timeout_s, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return -1;
  }
  return s;
}

bool send_all(int s, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::send(s, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool send_all(int s, const std::string& d) { return send_all(s, d.data(), d.size()); }

std::string receive_all(int s) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t k = ::recv(s, buf, sizeof buf, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    out.append(buf, static_cast<std::size_t>(k));
  }
  return out;
}

struct http_response {
  int status = 0;  // 0: no (parsable) response, the connection was closed
  std::string body;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

http_response parse_response(const std::string& raw) {
  http_response r;
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  const std::string head = lower(raw.substr(0, head_end));
  std::string body = raw.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    std::string out;
    std::size_t pos = 0;
    for (;;) {
      const auto eol = body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const std::size_t n = std::strtoull(body.c_str() + pos, nullptr, 16);
      if (n == 0) break;
      out.append(body, eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    body = out;
  } else if (auto cl = head.find("content-length: "); cl != std::string::npos) {
    const std::size_t n = std::strtoull(head.c_str() + cl + 16, nullptr, 10);
    if (body.size() > n) body.resize(n);
  }
  r.body = std::move(body);
  return r;
}

// One request on its own connection ("Connection: close"), read to EOF.
http_response round_trip(int port, const std::string& request) {
  int s = connect_to(port);
  if (s < 0) return {};
  send_all(s, request);
  std::string raw = receive_all(s);
  ::close(s);
  return parse_response(raw);
}

http_response put_object(int port, const std::string& path, const std::string& body) {
  return round_trip(port, "PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
}

http_response get(int port, const std::string& path) {
  return round_trip(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

long status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, std::strlen(key), key) == 0) return std::atol(line.c_str() + std::strlen(key) + 1);
  return -1;
}

bool alive(pid_t pid) {
  int st = 0;
  return ::waitpid(pid, &st, WNOHANG) == 0;
}

// The server as a child process: stdout/stderr go to a log file.
struct server_process {
  pid_t pid = -1;
  int port = 0;
  std::string log;

  void start(const std::vector<std::string>& extra) {
    // --port 0 and the port read back from the log: a port picked here could be
    // taken by another test's server before the child binds it.
    for (int attempt = 0; attempt < 3 && pid < 0; ++attempt) {
      port = 0;
      log = "/tmp/wds-server-faults-" + std::to_string(::getpid()) + ".log";
      std::vector<std::string> args = {WDS_ETL_BINARY, "serve", "--host", "127.0.0.1", "--port", "0"};
      args.insert(args.end(), extra.begin(), extra.end());
      pid_t p = ::fork();
      REQUIRE(p >= 0);
      if (p == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
          ::dup2(fd, 1);
          ::dup2(fd, 2);
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
      }
      const auto deadline = std::chrono::steady_clock::now() + 60s;
      const std::string marker = "listening on 127.0.0.1:";
      while (std::chrono::steady_clock::now() < deadline && alive(p)) {
        if (port == 0) {
          const std::string text = read_file(log);
          const auto at = text.find(marker);
          if (at == std::string::npos || text.find(' ', at + marker.size()) == std::string::npos) {
            std::this_thread::sleep_for(20ms);
            continue;
          }
          port = std::stoi(text.substr(at + marker.size()));
        }
        if (get(port, "/health").status == 200) {
          pid = p;
          return;
        }
        std::this_thread::sleep_for(50ms);
      }
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    FAIL("wds-etl serve did not come up; log: " << read_file(log));
  }
  // SIGTERM: in-flight requests finish, exit status 0.
  int stop() {
    if (pid < 0) return -1;
    ::kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 600; ++i) {
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(50ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    pid = -1;
    return -2;
  }
  ~server_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (!log.empty()) ::unlink(log.c_str());
  }
};

}  // namespace

TEST_CASE("wds-etl serve under load and faults", "[server][load]") {
  const std::string shard = read_file(std::string(WDS_TEST_DATA_DIR) + "/etl/pets-small.tar");
  REQUIRE(shard.size() > 100000);
  // The expected answer, computed in-process with the same (reference) pipeline.
  std::string expected;
  {
    wds::memory_source in(shard.data(), shard.size(), "pets-small.tar");
    wds::memory_sink out;
    wds::etl::transform_shard(in, out, {});
    expected.assign(reinterpret_cast<const char*>(out.bytes().data()), out.bytes().size());
  }
  const std::string truncated = shard.substr(0, shard.size() / 3 + 100);
  std::string garbage(20000, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919) % 251);
  const std::string bad_gzip = std::string("\x1f\x8b\x08\x00", 4) + std::string(5000, '\xff');

  constexpr std::size_t max_object = 8 << 20;
  server_process srv;
  srv.start({"--threads", "8", "--max-object-size", "8M", "--memory-limit", "1M", "--io-timeout", "5"});
  const int port = srv.port;

  std::atomic<std::size_t> requests{0}, good_ok{0}, bad_rejected{0}, faults_sent{0};
  std::mutex mu;
  std::vector<std::string> problems;
  auto problem = [&](std::string p) {
    std::lock_guard<std::mutex> lock(mu);
    if (problems.size() < 20) problems.push_back(std::move(p));
  };
  std::atomic<bool> stop_faults{false};
  const auto t0 = std::chrono::steady_clock::now();

  // Fault generators run while the good clients work.
  std::vector<std::thread> faults;
  // Slow clients: headers, then the body one byte every 20 ms for ~2 s, then
  // the rest; each must still get the right answer.
  for (int k = 0; k < 3; ++k)
    faults.emplace_back([&, k] {
      int s = connect_to(port);
      if (s < 0) return problem("slow client: cannot connect");
      send_all(s, "PUT /slow/" + std::to_string(k) + ".tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(shard.size()) + "\r\n\r\n");
      for (std::size_t i = 0; i < 100; ++i) {
        send_all(s, shard.data() + i, 1);
        std::this_thread::sleep_for(20ms);
      }
      send_all(s, shard.data() + 100, shard.size() - 100);
      http_response r = parse_response(receive_all(s));
      ::close(s);
      ++requests;
      if (r.status != 200 || r.body != expected) problem("slow client got HTTP " + std::to_string(r.status));
      else ++good_ok;
    });
  // Clients that vanish: mid-headers, mid-body, or right after connecting.
  faults.emplace_back([&] {
    for (int i = 0; i < 30 && !stop_faults; ++i) {
      int s = connect_to(port);
      if (s < 0) continue;
      std::string head = "PUT /gone/" + std::to_string(i) + ".tar HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(shard.size()) + "\r\n\r\n";
      if (i % 3 == 0) send_all(s, head.substr(0, head.size() / 2));
      if (i % 3 == 1) {
        send_all(s, head);
        send_all(s, shard.data(), shard.size() / 2);
      }
      if (i % 2) {  // reset instead of a clean close
        linger l{1, 0};
        ::setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      }
      ::close(s);
      ++faults_sent;
      std::this_thread::sleep_for(30ms);
    }
  });
  // Oversized bodies and malformed framing: each must be refused (4xx) or the
  // connection closed, never crash the server.
  faults.emplace_back([&] {
    struct bad_request {
      const char* what;
      std::string raw;
      int want;  // expected status; 0 = any 4xx or a closed connection
    };
    std::string big_chunked = "PUT /big/chunked.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string mib(1 << 20, 'a');
    for (std::size_t i = 0; i < 10; ++i) big_chunked += "100000\r\n" + mib + "\r\n";
    big_chunked += "0\r\n\r\n";
    const std::vector<bad_request> reqs = {
        {"content-length 100 TB",
         "PUT /big/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 109951162777600\r\n\r\nabc", 413},
        {"content-length 9 MiB", "PUT /big/o9.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 9437184\r\n\r\n" +
                                     std::string(9437184, 'z'), 413},
        {"content-length 2^64", "PUT /big/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 18446744073709551616\r\n\r\n", 0},
        {"negative content-length", "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: -5\r\n\r\n", 0},
        {"chunked 10 MiB", big_chunked, 0},
        {"chunk size not hex", "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n", 0},
        {"chunk size overflow", "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 0},
        {"chunk shorter than its size", "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nabc\r\n", 0},
        {"chunk without CRLF", "PUT /b/o.tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", 0},
        {"garbage request line", "GARBAGE\r\n\r\n", 0},
        {"huge header", "GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(200000, 'h') + "\r\n\r\n", 0},
    };
    // All at once: several of them make the server wait for its read timeout.
    std::vector<std::thread> senders;
    for (const auto& b : reqs)
      senders.emplace_back([&, b] {
        http_response r = round_trip(port, b.raw);
        ++faults_sent;
        const bool ok = b.want ? r.status == b.want : (r.status == 0 || (r.status >= 400 && r.status < 500));
        if (!ok) problem(std::string(b.what) + ": HTTP " + std::to_string(r.status));
      });
    for (auto& t : senders) t.join();
  });

  // Good clients, with bad shards mixed in (every fourth request).
  constexpr int clients = 12, per_client = 5;
  std::vector<std::thread> workers;
  for (int c = 0; c < clients; ++c)
    workers.emplace_back([&, c] {
      for (int i = 0; i < per_client; ++i) {
        const std::string path = "/bucket/c" + std::to_string(c) + "-" + std::to_string(i) + ".tar";
        const int kind = (c + i) % 4;
        if (kind == 3) {
          const std::string& bad = i % 3 == 0 ? truncated : i % 3 == 1 ? garbage : bad_gzip;
          http_response r = put_object(port, path, bad);
          ++requests;
          if (r.status >= 400 && r.body.find("[wds.") != std::string::npos) ++bad_rejected;
          else problem("bad shard answered HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 80));
          continue;
        }
        http_response r = put_object(port, path, shard);
        ++requests;
        if (r.status == 200 && r.body == expected) ++good_ok;
        else problem("good shard answered HTTP " + std::to_string(r.status) + " (" + std::to_string(r.body.size()) + " bytes)");
      }
    });
  for (auto& t : workers) t.join();
  stop_faults = true;
  for (auto& t : faults) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Still up and healthy, and still answers a good request correctly.
  REQUIRE(alive(srv.pid));
  CHECK(get(port, "/health").status == 200);
  http_response last = put_object(port, "/bucket/last.tar", shard);
  CHECK(last.status == 200);
  CHECK(last.body == expected);
  const long hwm_kb = status_kb(srv.pid, "VmHWM:");
  const long rss_kb = status_kb(srv.pid, "VmRSS:");

  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  const std::size_t good_expected = 3 + [] {
    std::size_t n = 0;
    for (int c = 0; c < clients; ++c)
      for (int i = 0; i < per_client; ++i) n += (c + i) % 4 != 3;
    return n;
  }();
  CHECK(good_ok == good_expected);
  CHECK(bad_rejected == clients * per_client - (good_expected - 3));
  // Bounded memory: threads x (in-memory object limit + one decoded sample)
  // plus the binary; far below what buffering every body (and the 100 TB
  // claim) would take.
  CHECK(hwm_kb > 0);
  CHECK(hwm_kb < 768 * 1024);
  (void)max_object;
  WARN("server load test: " << requests.load() << " shard requests (" << clients << " concurrent clients + 3 slow), "
                            << faults_sent.load() << " faulty connections, " << problems.size()
                            << " unexpected answers, " << good_ok.load() << " good shards answered exactly, "
                            << bad_rejected.load() << " bad shards rejected, peak RSS " << hwm_kb / 1024
                            << " MiB (now " << rss_kb / 1024 << " MiB), " << seconds << " s");
  CHECK(srv.stop() == 0);
}

// etl_args comes with each request, so the sizes a request's pipeline asks
// for are untrusted input too: they must be held to --max-image-pixels like a
// decoded header is, or one request can make the server allocate gigabytes.
TEST_CASE("wds-etl serve: request pipelines are held to --max-image-pixels", "[server][load]") {
  wds::image<std::uint8_t> tiny(2, 2, 1, 5);
  const std::vector<std::byte> png = wds::encode_png(tiny.view());
  const std::string body(reinterpret_cast<const char*>(png.data()), png.size());
  server_process srv;
  srv.start({"--threads", "4", "--spec", "decode|png", "--max-image-pixels", "1000000"});
  auto put_with_pipeline = [&](const std::string& encoded_spec) {
    return put_object(srv.port, "/b/tiny.png?etl_args=%7B%22pipeline%22%3A%22" + encoded_spec + "%22%7D", body);
  };
  // Within the limit: answered.
  http_response ok = put_with_pipeline("decode%7Cresize(%5B8%2C8%5D)%7Cpng");
  CHECK(ok.status == 200);
  // 2000 x 2000 = 4 MP and (2 + 6000)^2 = 36 MP from a 4-pixel input: refused as
  // limit errors (HTTP 422), not computed.
  for (const char* spec : {"decode%7Cresize(%5B2000%2C2000%5D)%7Cpng", "decode%7Cpad(3000%2C3000%2C3000%2C3000)%7Cpng",
                           "decode%7Ccenter_crop(5000)%7Cpng"}) {
    INFO("pipeline " << spec);
    http_response r = put_with_pipeline(spec);
    CHECK(r.status == 422);
    CHECK(r.body.find("[wds.limit.") != std::string::npos);
  }
  const long hwm_kb = status_kb(srv.pid, "VmHWM:");
  CHECK(hwm_kb < 256 * 1024);
  CHECK(alive(srv.pid));
  CHECK(srv.stop() == 0);
}

#else

TEST_CASE("wds-etl serve under load and faults", "[server][load]") {
  WARN("skipped: needs the wds-etl binary with the server (Boost.Beast) and the JPEG and PNG codecs");
  SUCCEED();
}

#endif
