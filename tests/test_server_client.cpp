// SPDX-License-Identifier: MIT
// wds::http (include/wds/http.hpp), the client the ETL server and the URL
// sources use, against a loopback Beast server answering with raw bytes.
#include <wds/config.hpp>

#if WDS_HAS_HTTP

#include "catch.hpp"
#include "fake_http.hpp"

#include <wds/http.hpp>

#include <string>
#include <vector>

namespace {

std::string read_all(wds::http::response_stream& r, std::size_t piece = 7) {
  std::string out;
  std::vector<std::byte> buf(piece);
  while (std::size_t n = r.read(buf.data(), buf.size())) out.append(reinterpret_cast<const char*>(buf.data()), n);
  return out;
}

template <class F>
wds::io_error io_error_of(F&& f) {
  try {
    f();
  } catch (const wds::io_error& e) {
    return e;
  }
  FAIL("no wds::io_error thrown");
  throw 0;
}

}  // namespace

TEST_CASE("http: GET streams a Content-Length body; headers are case-insensitive", "[http]") {
  std::string seen_target, seen_host;
  wds_test::fake_http srv([&](const wds_test::fake_request& r) {
    seen_target = std::string(r.target());
    seen_host = wds_test::header_of(r, "Host");
    return wds_test::http_response(200, "hello, world", "X-Thing: Value 1\r\n", "Fine");
  });
  // Sent exactly as given: %23, %2F and a raw '@' stay as they are.
  auto r = wds::http::get(srv.url() + "/ais%2F@%23%2Fbck/a%20b?etl_args=%7B%7D");
  CHECK(r.status() == 200);
  CHECK(r.reason() == "Fine");
  CHECK(r.header("x-thing") == std::optional<std::string>("Value 1"));
  CHECK_FALSE(r.header("X-Missing"));
  CHECK(r.content_length() == std::optional<std::uint64_t>(12));
  CHECK(read_all(r) == "hello, world");
  CHECK(r.read(nullptr, 0) == 0);
  CHECK(seen_target == "/ais%2F@%23%2Fbck/a%20b?etl_args=%7B%7D");
  CHECK(seen_host == "127.0.0.1:" + std::to_string(srv.port()));
}

TEST_CASE("http: chunked bodies and bodies until close", "[http]") {
  SECTION("chunked") {
    wds_test::fake_http srv([](const wds_test::fake_request&) {
      return std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n");
    });
    auto r = wds::http::get(srv.url() + "/x");
    CHECK_FALSE(r.content_length());
    CHECK(read_all(r, 3) == "hello world");
  }
  SECTION("until close") {
    wds_test::fake_http srv([](const wds_test::fake_request&) { return std::string("HTTP/1.1 200 OK\r\n\r\nabcdef"); });
    auto r = wds::http::get(srv.url() + "/x");
    CHECK(read_all(r) == "abcdef");
  }
}

TEST_CASE("http: a truncated body is an error naming the URL, never a short read", "[http]") {
  SECTION("fewer bytes than Content-Length") {
    wds_test::fake_http srv([](const wds_test::fake_request&) {
      return std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    });
    auto r = wds::http::get(srv.url() + "/short");
    auto e = io_error_of([&] { read_all(r); });
    CHECK(e.id() == 132);
    CHECK(e.shard() == srv.url() + "/short");
    CHECK(e.reason().find("got 9 of 100 bytes") != std::string::npos);
  }
  SECTION("a bad chunk") {
    wds_test::fake_http srv([](const wds_test::fake_request&) {
      return std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nxx\r\n0\r\n\r\n");
    });
    auto r = wds::http::get(srv.url() + "/badchunk");
    auto e = io_error_of([&] { read_all(r); });
    CHECK(e.id() == 132);
    CHECK(e.shard() == srv.url() + "/badchunk");
  }
  SECTION("a chunked body without its last chunk") {
    wds_test::fake_http srv([](const wds_test::fake_request&) {
      return std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    });
    auto r = wds::http::get(srv.url() + "/nolast");
    CHECK(io_error_of([&] { read_all(r); }).id() == 132);
  }
}

TEST_CASE("http: connection, URL, header and timeout errors", "[http]") {
  int dead_port;
  {
    wds_test::fake_http srv([](const wds_test::fake_request&) { return std::string(); });
    dead_port = srv.port();
  }
  const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port) + "/obj";
  auto refused = io_error_of([&] { wds::http::get(dead); });
  CHECK(refused.id() == 130);
  CHECK(refused.shard() == dead);

  CHECK(io_error_of([] { wds::http::get("ftp://127.0.0.1/x"); }).id() == 133);
  CHECK(io_error_of([] { wds::http::get("not a url"); }).id() == 133);

  wds_test::fake_http huge([](const wds_test::fake_request&) {
    return "HTTP/1.1 200 OK\r\nX-Big: " + std::string(100000, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  });
  CHECK(io_error_of([&] { wds::http::get(huge.url() + "/h"); }).id() == 134);

  wds_test::fake_http garbage([](const wds_test::fake_request&) { return std::string("SMTP ready\r\n\r\n"); });
  CHECK(io_error_of([&] { wds::http::get(garbage.url() + "/g"); }).id() == 134);

  wds_test::fake_http silent([](const wds_test::fake_request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return std::string();
  });
  wds::http::client_options quick;
  quick.io_timeout = std::chrono::milliseconds(200);
  auto timeout = io_error_of([&] { wds::http::get(silent.url() + "/slow", quick); });
  CHECK(timeout.id() == 131);
  CHECK(timeout.shard() == silent.url() + "/slow");
}

TEST_CASE("http: PUT streams a body of known length with the bearer token and headers", "[http]") {
  std::string body, auth, range, length;
  wds_test::fake_http srv([&](const wds_test::fake_request& r) {
    body = r.body();
    auth = wds_test::header_of(r, "Authorization");
    range = wds_test::header_of(r, "X-Extra");
    length = wds_test::header_of(r, "Content-Length");
    return wds_test::http_response(201, "stored", "", "Created");
  });
  std::string data(1 << 20, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  std::size_t off = 0;
  wds::http::body_reader reader = [&](std::byte* dst, std::size_t n) {
    n = std::min<std::size_t>({n, data.size() - off, 1000});
    std::memcpy(dst, data.data() + off, n);
    off += n;
    return n;
  };
  wds::http::client_options o;
  o.bearer_token = "tok";
  o.headers = {{"X-Extra", "yes"}};
  auto r = wds::http::put(srv.url() + "/dst/obj", data.size(), reader, o);
  CHECK(r.status() == 201);
  CHECK(r.read_text() == "stored");
  CHECK(body == data);
  CHECK(auth == "Bearer tok");
  CHECK(range == "yes");
  CHECK(length == std::to_string(data.size()));

  std::size_t given = 0;
  wds::http::body_reader short_reader = [&](std::byte* dst, std::size_t n) {
    if (given >= 10) return std::size_t{0};
    n = std::min<std::size_t>(n, 10 - given);
    std::fill(dst, dst + n, std::byte{'z'});
    given += n;
    return n;
  };
  CHECK(io_error_of([&] { wds::http::put(srv.url() + "/dst/short", 100, short_reader); }).id() == 136);
}

#endif  // WDS_HAS_HTTP
