// SPDX-License-Identifier: MIT
// Built against wds::http (CMake) or the wds-http pkg-config module: the HTTP
// part's defines, include path and Boost.URL (+ OpenSSL) link line must all reach it.
#include <wds/wds.hpp>
#ifndef WDS_SINGLE_INCLUDE_WDS_HPP_
#include <wds/ais.hpp>  // not in the umbrella: it needs Boost.Beast and Boost.URL
#include <wds/http.hpp>
#endif

#include <cstdio>

int main() {
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "consumer_http: FAILED: %s\n", what);
      ++failures;
    }
  };
  check(wds::config::has_http, "WDS_HAS_HTTP is set");
  // Boost.URL is a compiled library: these calls need -lboost_url.
  check(wds::ais::path_unescape("%2Fmnt%2F%25ob") == "/mnt/%ob", "path_unescape");
  check(wds::ais::direct_put_url("http://t2:1/ais%2F@%23%2Fd%2Fo?owt=1", "http://t1/v1/etl/_object/e/s", "/b/o", "") ==
            "http://t2:1/v1/etl/_object/e/s/ais%2F@%23%2Fd%2Fo?owt=1",
        "direct_put_url");
  bool threw = false;
  try {
    wds::http::get("ftp://x/y");
  } catch (const wds::io_error& e) {
    threw = e.id() == 133;
  }
  check(threw, "a bad scheme throws wds.io.133");
  std::printf("consumer_http: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
