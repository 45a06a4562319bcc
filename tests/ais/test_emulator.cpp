// SPDX-License-Identifier: MIT
// The emulator checked against AIStore's own words before it checks the
// server: Go's escaping (Go's documented examples and the wire forms the
// protocol reference quotes), HRW against the xxHash C library, and the
// emulated target's route handling as ais/tgtetl.go parses it.
#include "catch.hpp"

#include "ais/harness.hpp"
#include "ais/target_emulator.hpp"

#include <sys/stat.h>

using namespace wds_ais;

TEST_CASE("ais emulator: Go net/url escaping", "[ais-emulator]") {
  // Go's ExamplePathEscape / ExampleQueryEscape outputs.
  CHECK(go::path_escape("my/cool+blog&about,stuff") == "my%2Fcool+blog&about%2Cstuff");
  CHECK(go::query_escape("my/cool+blog&about,stuff") == "my%2Fcool%2Bblog%26about%2Cstuff");
  CHECK(go::query_escape("a b") == "a+b");
  CHECK(go::path_escape("a b") == "a%20b");
  CHECK(go::encode({{"uuid", "x"}, {"owt", "3"}}) == "owt=3&uuid=x");
  // ais-etl-protocol.md: the FQN on the wire, encoded twice.
  const std::string fqn = "/mnt/d1/@ais/bck/%ob/a b.tar";
  CHECK(go::path_escape(fqn) == "%2Fmnt%2Fd1%2F@ais%2Fbck%2F%25ob%2Fa%20b.tar");
  CHECK(go::encode({{"etl_fqn", go::path_escape(fqn)}}) ==
        "etl_fqn=%252Fmnt%252Fd1%252F%40ais%252Fbck%252F%2525ob%252Fa%2520b.tar");
  CHECK(go::path_escape(uname("bck", "obj")) == "ais%2F@%23%2Fbck%2Fobj");
  // Decoding the query value once leaves PathEscape's form; a second
  // PathUnescape gives the FQN back (webserver.go:387-393).
  auto q = go::parse_query("etl_fqn=%252Fmnt%252Fd1%252F%40ais%252Fbck%252F%2525ob%252Fa%2520b.tar");
  REQUIRE(go::get(q, "etl_fqn"));
  CHECK(*go::get(q, "etl_fqn") == "%2Fmnt%2Fd1%2F@ais%2Fbck%2F%25ob%2Fa%20b.tar");
  CHECK(go::path_unescape(*go::get(q, "etl_fqn")) == fqn);
  CHECK_FALSE(go::path_unescape("%ob"));  // why decoding once is not enough

  // net/http's path bytes for a raw path (URL.EscapedPath).
  CHECK(go::wire_path("/bck/a b.tar") == "/bck/a%20b.tar");
  CHECK(go::wire_path("/bck/dir/sub/x.tar") == "/bck/dir/sub/x.tar");
  CHECK(go::wire_path("/bck/\xc3\xbc.tar") == "/bck/%C3%BC.tar");
  CHECK(go::wire_path("/bck/x(1).tar") == "/bck/x(1).tar");  // RawPath kept: validEncoded
  CHECK(go::wire_path("/bck/a b(1).tar") == "/bck/a%20b%281%29.tar");
  CHECK_THROWS(go::wire_path("/bck/a#b"));
  CHECK_THROWS(go::wire_path("/bck/100%"));
}

TEST_CASE("ais emulator: requests as the communicator builds them", "[ais-emulator]") {
  object_ref o{"bck", "dir/a b.tar", "/mnt/d1/@ais/bck/%ob/dir/a b.tar", {}, true};
  call_args a;
  CHECK(hpush_target(o, a) == "/bck/dir/a%20b.tar?etl_fqn=%252Fmnt%252Fd1%252F%40ais%252Fbck%252F%2525ob%252Fdir%252Fa%2520b.tar");
  CHECK(hpull_target(o, a) ==
        "/ais%2F@%23%2Fbck%2Fdir%2Fa%20b.tar?etl_fqn=%252Fmnt%252Fd1%252F%40ais%252Fbck%252F%2525ob%252Fdir%252Fa%2520b.tar");
  a.etl_args = R"({"on_error": "skip"})";
  CHECK(hpush_target(o, a).find("?etl_args=%7B%22on_error%22%3A+%22skip%22%7D&etl_fqn=") != std::string::npos);
  o.pass_fqn = false;
  a.etl_args.clear();
  CHECK(hpush_target(o, a) == "/bck/dir/a%20b.tar");
  CHECK(hpull_target(o, a) == "/ais%2F@%23%2Fbck%2Fdir%2Fa%20b.tar");

  ws_control c{"http://p2:8000,http://t2:9/ais%2F@%23%2Fd%2Fo?owt=3&uuid=x", R"({"k": "v"})", "/m/@ais/b/%ob/x y", "x y"};
  CHECK(ws_control_json(c) ==
        R"({"pipeline":"http://p2:8000,http://t2:9/ais%2F@%23%2Fd%2Fo?owt=3&uuid=x","etl_args":"{\"k\": \"v\"}",)"
        R"("fqn":"%2Fm%2F@ais%2Fb%2F%25ob%2Fx%20y","path":"x y"})");
  CHECK(ws_control_json({}) == "{}");
  CHECK(pack({"http://a:1", "http://b:2/x"}) == "http://a:1,http://b:2/x");
}

TEST_CASE("ais emulator: HRW placement hashes (xxHash C library golden)", "[ais-emulator]") {
  // tests/ais/gen_hrw_golden.py
  struct golden {
    const char* s;
    std::uint64_t xxh64, weight;
  };
  const golden cases[] = {
      {"", 0xaaa3575891557d33ull, 0x86eddb5f753ac65aull},
      {"a", 0x5ef78d27d34fdc70ull, 0x5e95bee72f6346ebull},
      {"t1", 0xc5444cb0fa9287adull, 0x23be5db51d33ba8cull},
      {"ais/@#/src/train/shard-000.tar", 0x8f1ad9c27af97953ull, 0x073ac814a24197e5ull},
      {"ais/@#/dst/val/\xc3\xa4 \xc3\xb6/shard 7.tar", 0xfeb172783062c4d9ull, 0xece3aeff7b03d487ull},
      {"0123456789abcdef0123456789abcdef0123456789", 0x96a9926afc2c8572ull, 0x89d5e5350685cdd8ull},
  };
  for (const auto& g : cases) {
    INFO(g.s);
    CHECK(hrw::xxhash64(g.s, hrw::mlcg32) == g.xxh64);
    CHECK(hrw::xoshiro256_hash(g.xxh64) == g.weight);
  }
  // Every target gets some of 300 names, and placement is stable.
  const std::vector<std::string> ids = {"t1", "t2", "t3"};
  int per[3] = {0, 0, 0};
  for (int i = 0; i < 300; ++i) ++per[hrw::owner(ids, uname("b", "o" + std::to_string(i)))];
  for (int n : per) CHECK(n > 50);
  CHECK(hrw::owner(ids, "x") == hrw::owner(ids, "x"));
}

TEST_CASE("ais emulator: the target's ETL object route (tgtetl.go)", "[ais-emulator]") {
  scratch_dir d;
  target t({"t1", "wds-etl", "sec", d.path});
  t.put_object("bck", "dir/a b.tar", "payload");
  struct stat st {};
  REQUIRE(::stat(t.fqn("bck", "dir/a b.tar").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  CHECK(t.fqn("bck", "x") == d.path + "/@ais/bck/%ob/x");

  pod_client c(t.host_port());
  const std::string base = "/v1/etl/_object/wds-etl/sec/";
  // Escaped uname (tgtobj.go's form) and the Go reference's re-escaped form.
  CHECK(c.send(http::verb::get, base + "ais%2F@%23%2Fbck%2Fdir%2Fa%20b.tar", {}, {}).body == "payload");
  CHECK(c.send(http::verb::get, base + "ais/@%23/bck/dir/a%20b.tar", {}, {}).body == "payload");
  CHECK(c.send(http::verb::get, "/v1/etl/_object/wds-etl/wrong/ais%2F@%23%2Fbck%2Fx", {}, {}).status == 400);
  CHECK(c.send(http::verb::get, "/v1/etl/_object/other/sec/ais%2F@%23%2Fbck%2Fx", {}, {}).status == 404);
  CHECK(c.send(http::verb::get, base + "ais%2F@%23%2Fbck%2Fmissing", {}, {}).status == 404);
  CHECK(c.send(http::verb::get, base + "ais/@#/bck/dir/a%20b.tar", {}, {}).status == 400);  // raw '#'
  auto put = c.send(http::verb::put, base + "ais%2F@%23%2Fdst%2Fout%20%231.tar?owt=3&uuid=x", {}, "new");
  CHECK(put.status == 200);
  CHECK(put.body.empty());
  CHECK(t.object("dst", "out #1.tar") == std::string("new"));
  CHECK(t.puts_of("dst", "out #1.tar") == 1);
  CHECK(t.destination_entry("dst", "out #1.tar", "X") == t.intra_url() + "/ais%2F@%23%2Fdst%2Fout%20%231.tar?owt=3&uuid=X");
  CHECK(t.rejected().size() == 4);
  t.fail_puts(1, {507, "out of space", false});
  CHECK(c.send(http::verb::put, base + "ais%2F@%23%2Fdst%2Fy", {}, "z").status == 507);
  CHECK(c.send(http::verb::put, base + "ais%2F@%23%2Fdst%2Fy", {}, "z").status == 200);
}
