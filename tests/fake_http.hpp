// SPDX-License-Identifier: MIT
// A loopback HTTP server for tests, on Boost.Beast: each connection's request
// is parsed, handed to a function, and the function's raw bytes are written
// back as they are (so tests can answer with bad chunks, short bodies, huge
// headers), then the connection is closed. 127.0.0.1 only; stops with the
// object.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include <poll.h>

namespace wds_test {

using fake_request = boost::beast::http::request<boost::beast::http::string_body>;

// The header value of `name` in a parsed request, "" when absent.
inline std::string header_of(const fake_request& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? std::string() : std::string(it->value());
}

// A full HTTP/1.1 response with Content-Length.
inline std::string http_response(int status, const std::string& body, const std::string& extra_headers = "",
                                 const std::string& reason = "") {
  std::string why = reason.empty() ? (status == 200 ? "OK" : status == 204 ? "No Content" : "Status") : reason;
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + why + "\r\n" + extra_headers;
  if (status != 204) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "Connection: close\r\n\r\n" + (status == 204 ? std::string() : body);
}

class fake_http {
 public:
  // Returns the raw bytes to send back; "" closes without answering.
  using handler = std::function<std::string(const fake_request&)>;

  explicit fake_http(handler h) : handler_(std::move(h)), acceptor_(ioc_) {
    namespace net = boost::asio;
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { accept_loop(); });
  }
  fake_http(const fake_http&) = delete;
  fake_http& operator=(const fake_http&) = delete;
  ~fake_http() {
    stop_ = true;
    thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& t : workers_) t.join();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{acceptor_.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket sock(ioc_);
      acceptor_.accept(sock, ec);
      if (ec) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      workers_.emplace_back([this, s = std::move(sock)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(boost::asio::ip::tcp::socket sock) {
    namespace http = boost::beast::http;
    boost::system::error_code ec;
    // Bounded: a test server never waits forever for a client.
    timeval tv{10, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::beast::flat_buffer buf;
    http::request_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 32);
    http::read(sock, buf, parser, ec);
    if (ec) return;
    ++requests_;
    std::string answer = handler_(parser.get());
    if (!answer.empty()) boost::asio::write(sock, boost::asio::buffer(answer), ec);
    sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  }

  handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mutex_;
  std::list<std::thread> workers_;
};

}  // namespace wds_test
