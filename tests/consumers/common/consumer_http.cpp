// SPDX-License-Identifier: MIT
// Built against wds::http (CMake) or the wds-http pkg-config module: the server
// part's define, include path and cpp-httplib link line must all reach it.
#include <wds/wds.hpp>
#ifndef WDS_SINGLE_INCLUDE_WDS_HPP_
#include <wds/ais.hpp>  // not in the umbrella: it needs cpp-httplib
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
  check(wds::config::has_httplib, "WDS_HAS_HTTPLIB is set");
  const wds::ais::url_parts u = wds::ais::split_url("http://target:8080/v1/objects/bucket/obj.tar?x=1");
  check(u.origin == "http://target:8080" && u.target == "/v1/objects/bucket/obj.tar?x=1", "split_url");
  // The default branch calls httplib::to_string (the compiled library on Debian).
  check(!wds::ais::describe(httplib::Error::Canceled).empty(), "describe(httplib::Error)");
  bool threw = false;
  try {
    wds::ais::split_url("ftp://x/y");
  } catch (const wds::error& e) {
    threw = e.id() == 914;
  }
  check(threw, "bad scheme throws wds.server.914");
  std::printf("consumer_http: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
