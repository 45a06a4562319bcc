// SPDX-License-Identifier: MIT
// `wds-etl serve` on the wire, as AIStore 5.0's Go target talks to it: every
// request below is built by tests/ais/target_emulator.hpp the way
// ext/etl/communicator.go and websocket_comm.go build it, and every request the
// pod makes back (hpull GET, direct put) lands on an emulated target that
// parses it as ais/tgtetl.go does. Expected payloads are the CLI's output
// (`wds-etl transform`) for the same object and options, byte for byte.
// Items refer to issue 10, "What must work". Tag [ais]: needs the Beast
// server (the cpp-httplib server fails many of these, by design).
#include "catch.hpp"

#include "ais/harness.hpp"
#include "ais/target_emulator.hpp"

#include <wds/config.hpp>

#include <dirent.h>

#include <map>
#include <set>

using namespace wds_ais;

namespace {

const std::string secret = "s3cr3tXY";
const std::string xid = "tco-Kj3vQ8Xm";

struct test_object {
  std::string name;
  std::string data;
  bool hpush_ok;  // a '#' in the name: Go's url.Parse cuts the hpush path there (communicator.go:324 + url.Parse)
};

// Names with a space, '/', non-ASCII, parentheses and (hpull/ws only) '#'.
const std::vector<test_object>& objects() {
  static const std::vector<test_object> o = {
      {"plain.tar", make_shard(1), true},
      {"dir/sub/a b.tar", make_shard(2), true},
      {"\xc3\xbcn\xc3\xaf c\xc3\xb6" "d\xc3\xa9/\xc3\x9f.tar", make_shard(3), true},
      {"x (1).tar", make_shard(4), true},
      {"h#sh 2.tar", make_shard(5), false},
  };
  return o;
}

// CLI outputs for objects() under `args`, computed once per argument list.
const std::vector<std::string>& expected(const std::vector<std::string>& args = test_map_args()) {
  static std::mutex m;
  static std::map<std::vector<std::string>, std::vector<std::string>> cache;
  std::lock_guard<std::mutex> lock(m);
  auto it = cache.find(args);
  if (it != cache.end()) return it->second;
  std::vector<std::string> in;
  for (const auto& o : objects()) in.push_back(o.data);
  return cache[args] = cli_transform(in, args);
}

bool one_line(const std::string& s) {
  const auto nl = s.find('\n');
  return !s.empty() && (nl == std::string::npos || nl == s.size() - 1);
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += "\n  " + e;
  return s;
}

std::string shown(const exchange& x) {
  return x.method + " " + x.target + " -> " + std::to_string(x.status) + " " + x.body.substr(0, 300);
}

// Two targets (source t1 and destination t2, same ETL and secret, as one
// cluster) and the source target's pod.
struct cluster {
  scratch_dir dir;
  target src{{"t1", "wds-etl", secret, dir / "t1"}};
  target dst{{"t2", "wds-etl", secret, dir / "t2"}};
  std::unique_ptr<pod> p;

  explicit cluster(std::vector<std::string> args = test_map_args(), fields env = {{"direct_put", "true"}}) {
    env.emplace_back("AIS_TARGET_URL", src.ais_target_url());
    p = std::make_unique<pod>(pod::options{std::move(args), std::move(env)});
    for (const auto& o : objects()) src.put_object("src", o.name, o.data);
  }
  object_ref ref(std::size_t i, bool pass_fqn) const {
    const auto& o = objects().at(i);
    return {"src", o.name, src.fqn("src", o.name), pass_fqn ? std::string() : o.data, pass_fqn};
  }
  pod_client client() const { return pod_client(p->host_port()); }
};

}  // namespace

#if WDS_HAS_JPEG

TEST_CASE("ais wire 6: GET /health answers 200 Running", "[ais]") {
  cluster c;
  auto cl = c.client();
  auto x = cl.send(http::verb::get, "/health", {}, {});
  CHECK(x.status == 200);
  CHECK(x.body == "Running");
}

TEST_CASE("ais wire 1: hpush with etl_fqn encoded twice (PathEscape, then query encoding)", "[ais]") {
  cluster c;
  auto cl = c.client();
  for (std::size_t i = 0; i < objects().size(); ++i) {
    if (!objects()[i].hpush_ok) continue;
    auto x = hpush(cl, c.ref(i, true));
    INFO(shown(x));
    CHECK(x.request_body_size == 0);
    CHECK(x.target.find("%2525ob%252F") != std::string::npos);  // "%ob/" escaped twice
    REQUIRE(x.status == 200);
    CHECK(x.body == expected()[i]);
  }
  CHECK(c.src.requests().empty());  // read from the FQN, not fetched
}

TEST_CASE("ais wire 1: hpush without etl_fqn reads the object from the body", "[ais]") {
  cluster c;
  auto cl = c.client();
  for (std::size_t i = 0; i < objects().size(); ++i) {
    if (!objects()[i].hpush_ok) continue;
    auto x = hpush(cl, c.ref(i, false));
    INFO(shown(x));
    CHECK(x.target.find('?') == std::string::npos);
    REQUIRE(x.status == 200);
    CHECK(x.body == expected()[i]);
  }
}

TEST_CASE("ais wire 1: hpull GET /<PathEscape(uname)> with etl_fqn", "[ais]") {
  cluster c;
  auto cl = c.client();
  for (std::size_t i = 0; i < objects().size(); ++i) {
    auto x = hpull(cl, c.ref(i, true));
    INFO(shown(x));
    CHECK(x.target.rfind("/ais%2F@%23%2Fsrc%2F", 0) == 0);
    REQUIRE(x.status == 200);
    CHECK(x.body == expected()[i]);
  }
  CHECK(c.src.requests().empty());
}

TEST_CASE("ais wire 1: hpull without etl_fqn GETs $AIS_TARGET_URL/<the escaped path as received>", "[ais]") {
  cluster c;
  auto cl = c.client();
  for (std::size_t i = 0; i < objects().size(); ++i) {
    c.src.clear_log();
    auto x = hpull(cl, c.ref(i, false));
    INFO(shown(x));
    REQUIRE(x.status == 200);
    CHECK(x.body == expected()[i]);
    const auto got = c.src.requests();
    REQUIRE(got.size() == 1);
    CHECK(got[0].method == "GET");
    CHECK(got[0].target == "/v1/etl/_object/wds-etl/" + secret + x.target);
    CHECK(c.src.rejected().empty());
  }
  // The target's own error is passed back: status and reason.
  object_ref missing{"src", "no such.tar", {}, {}, false};
  auto x = hpull(cl, missing);
  INFO(shown(x));
  CHECK(x.status == 404);
  CHECK(x.body.find("does not exist") != std::string::npos);
  CHECK(one_line(x.body));
}

TEST_CASE("ais wire: etl_args per request (hpush, hpull, ws)", "[ais]") {
  cluster c;
  auto cl = c.client();
  call_args a;
  a.etl_args = R"j({"map": {"jpg": "decode|resize(12)|jpeg(70)"}, "on_error": "skip"})j";
  const auto& want = expected({"--map", "jpg=decode|resize(12)|jpeg(70)", "--rename", "cls=label", "--on-error", "skip"});
  auto x = hpush(cl, c.ref(1, true), a);
  INFO(shown(x));
  CHECK(x.status == 200);
  CHECK(x.body == want[1]);
  auto y = hpull(cl, c.ref(2, true), a);
  INFO(shown(y));
  CHECK(y.status == 200);
  CHECK(y.body == want[2]);
  ws_connection ws(c.p->host_port());
  ws.send({"", a.etl_args, c.src.fqn("src", objects()[3].name), objects()[3].name});
  auto r = ws.receive();
  INFO(r.what);
  REQUIRE(r.kind == ws_answer::binary);
  CHECK(r.data == want[3]);
  ws.close();

  call_args bad;
  bad.etl_args = "{not json";
  auto z = hpush(cl, c.ref(0, true), bad);
  INFO(shown(z));
  CHECK(z.status == 400);
  CHECK(one_line(z.body));
}

TEST_CASE("ais wire 2: direct put to the destination target (hpush, hpull; fqn and body)", "[ais]") {
  cluster c;
  auto cl = c.client();
  int n = 0;
  for (bool pull : {false, true})
    for (bool fqn : {true, false})
      for (std::size_t i = 0; i < objects().size(); ++i) {
        if (!pull && !objects()[i].hpush_ok) continue;
        // A destination name with '#', a space and non-ASCII: PathEscape'd in the entry.
        const std::string to = "out #" + std::to_string(n++) + "/\xc3\xa4 " + objects()[i].name;
        call_args a;
        a.pipeline = {c.dst.destination_entry("dst", to, xid)};
        if (i == 1) a.etl_args = R"({"on_error": "fail"})";
        c.dst.clear_log();
        auto x = pull ? hpull(cl, c.ref(i, fqn), a) : hpush(cl, c.ref(i, fqn), a);
        INFO(shown(x) << "\nAis-Node-Url: " << a.pipeline[0] << "\nrejected by the destination:" << joined(c.dst.rejected()));
        CHECK(c.dst.rejected().empty());
        REQUIRE(x.status == 204);
        CHECK(x.body.empty());
        CHECK(x.header("Ais-Direct-Put-Length") == std::to_string(expected()[i].size()));
        CHECK(c.dst.object("dst", to) == expected()[i]);
        CHECK(c.dst.puts_of("dst", to) == 1);
        const auto got = c.dst.requests();
        REQUIRE(got.size() == 1);
        CHECK(got[0].method == "PUT");
        CHECK(got[0].target.rfind("/v1/etl/_object/wds-etl/" + secret + "/", 0) == 0);
        const auto q = go::parse_query(got[0].target.substr(std::min(got[0].target.find('?'), got[0].target.size())).substr(1));
        CHECK(go::get(q, "owt") == std::string("3"));
        CHECK(go::get(q, "uuid") == xid);
        if (!a.etl_args.empty()) CHECK(go::get(q, "etl_args") == a.etl_args);  // merged into the entry's query
        CHECK_FALSE(go::get(q, "etl_fqn"));
      }
  CHECK(c.src.object_names("dst").empty());
}

TEST_CASE("ais wire 6: Ais-Node-Url is honoured whatever the direct_put env says", "[ais]") {
  cluster c(test_map_args(), {{"direct_put", "false"}});
  auto cl = c.client();
  call_args a;
  a.pipeline = {c.dst.destination_entry("dst", "d.tar", xid)};
  auto x = hpush(cl, c.ref(0, true), a);
  INFO(shown(x));
  CHECK(x.status == 204);
  CHECK(c.dst.object("dst", "d.tar") == expected()[0]);
}

TEST_CASE("ais wire 3: pipelines of two pods, the destination on another target", "[ais]") {
  cluster c;  // pod 1: test_map_args()
  const std::vector<std::string> map2 = {"--map", "jpg=decode|resize(12)|jpeg(70)"};
  pod p2({map2, {{"AIS_TARGET_URL", c.src.ais_target_url()}, {"direct_put", "true"}}});
  recording_proxy next(p2.host_port());  // sees what pod 1 sends to pod 2
  const auto& stage1 = expected();
  const auto twice = cli_transform(stage1, map2);
  auto cl = c.client();

  SECTION("offline: pod1 -> pod2 -> destination target, hpush and hpull") {
    for (bool pull : {false, true})
      for (std::size_t i : {1u, 2u}) {
        const std::string to = "p #" + std::to_string(i) + (pull ? "l" : "s") + ".tar";
        call_args a;
        a.pipeline = {next.url(), c.dst.destination_entry("dst", to, xid)};
        const auto before = next.requests().size();
        auto x = pull ? hpull(cl, c.ref(i, true), a) : hpush(cl, c.ref(i, true), a);
        INFO(shown(x) << "\nAis-Node-Url: " << pack(a.pipeline) << "\nrejected by the destination:" << joined(c.dst.rejected()));
        REQUIRE(x.status == 204);
        CHECK(c.dst.object("dst", to) == twice[i]);
        CHECK(c.dst.puts_of("dst", to) == 1);
        const auto seen = next.requests();
        REQUIRE(seen.size() == before + 1);
        const auto& r = seen.back();
        INFO(r.method << " " << r.target);
        CHECK(r.method == "PUT");
        // A pod entry has no path: the object path this pod was asked for.
        const auto path = r.target.substr(0, r.target.find('?'));
        CHECK(go::path_unescape(path) == go::path_unescape(x.target.substr(0, x.target.find('?'))));
        CHECK(r.target.find("etl_fqn") == std::string::npos);  // never forwarded: the bytes are sent
        CHECK(r.body_size == stage1[i].size());
        CHECK(r.header("Ais-Node-Url") == a.pipeline[1]);  // the rest of the list
      }
  }
  SECTION("inline: the next pod's 200 body is forwarded as this pod's 200") {
    call_args a;
    a.pipeline = {next.url()};
    auto x = hpush(cl, c.ref(0, true), a);
    INFO(shown(x));
    REQUIRE(x.status == 200);
    CHECK(x.body == twice[0]);
    REQUIRE(next.requests().size() == 1);
    CHECK_FALSE(next.requests()[0].header("Ais-Node-Url"));
  }
  SECTION("etl_args travels with the request to the next pod and the last hop") {
    call_args a;
    a.etl_args = R"({"on_error": "skip"})";
    a.pipeline = {next.url(), c.dst.destination_entry("dst", "args.tar", xid)};
    auto x = hpush(cl, c.ref(3, true), a);
    INFO(shown(x));
    REQUIRE(x.status == 204);
    CHECK(c.dst.object("dst", "args.tar") == twice[3]);
    REQUIRE(next.requests().size() == 1);
    const auto r = next.requests()[0];
    INFO("pod 1 sent pod 2: " << r.method << " " << r.target);
    CHECK(go::get(go::parse_query(r.target.substr(r.target.find('?') + 1)), "etl_args") == a.etl_args);
    const auto got = c.dst.requests();
    REQUIRE(got.size() == 1);
    CHECK(go::get(go::parse_query(got[0].target.substr(got[0].target.find('?') + 1)), "etl_args") == a.etl_args);
  }
  SECTION("ws: pipeline in the control message, Text ack after the last hop") {
    ws_connection ws(c.p->host_port());
    const std::string to = "ws pipe #1.tar";
    ws.send({pack({next.url(), c.dst.destination_entry("dst", to, xid)}), "", c.src.fqn("src", objects()[4].name),
             objects()[4].name});
    auto r = ws.receive();
    INFO(r.what);
    CHECK(r.kind == ws_answer::text);
    CHECK(c.dst.object("dst", to) == twice[4]);
    ws.close();
  }
}

TEST_CASE("ais wire 4: WebSocket /ws, three objects in flight, answers in order", "[ais]") {
  cluster c;
  ws_connection ws(c.p->host_port());
  const std::string to = "w #3/\xc3\xa4.tar";
  // fqn (escaped once), content frame (no fqn), fqn + direct put.
  ws.send({"", "", c.src.fqn("src", objects()[0].name), objects()[0].name});
  ws.send({"", "", "", objects()[1].name}, objects()[1].data);
  ws.send({c.dst.destination_entry("dst", to, xid), "", c.src.fqn("src", objects()[4].name), objects()[4].name});
  auto a0 = ws.receive(), a1 = ws.receive(), a2 = ws.receive();
  INFO(a0.what << " | " << a1.what << " | " << a2.what << "\npod log:\n" << c.p->log());
  REQUIRE(a0.kind == ws_answer::binary);
  CHECK(a0.data == expected()[0]);
  REQUIRE(a1.kind == ws_answer::binary);
  CHECK(a1.data == expected()[1]);
  REQUIRE(a2.kind == ws_answer::text);
  CHECK(c.dst.object("dst", to) == expected()[4]);
  CHECK(c.dst.puts_of("dst", to) == 1);
  ws.close();
}

TEST_CASE("ais wire 4: WebSocket, several connections at once, each in order", "[ais]") {
  cluster c;
  std::vector<std::unique_ptr<ws_connection>> conns;
  for (int k = 0; k < 3; ++k) conns.push_back(std::make_unique<ws_connection>(c.p->host_port()));
  for (std::size_t k = 0; k < 3; ++k)
    for (std::size_t j = 0; j < 2; ++j) {
      const std::size_t i = (k + j) % objects().size();
      conns[k]->send({"", "", c.src.fqn("src", objects()[i].name), objects()[i].name});
    }
  for (std::size_t k = 3; k-- > 0;)  // read the last connection first
    for (std::size_t j = 0; j < 2; ++j) {
      auto a = conns[k]->receive();
      INFO("connection " << k << " answer " << j << ": " << a.what);
      REQUIRE(a.kind == ws_answer::binary);
      CHECK(a.data == expected()[(k + j) % objects().size()]);
    }
  for (auto& w : conns) w->close();
}

TEST_CASE("ais wire 4: WebSocket, a bad object closes with 1011, never a Text frame", "[ais]") {
  cluster c;
  const std::string bad = make_bad_shard();
  c.src.put_object("src", "bad one.tar", bad);

  SECTION("a transform failure among three in flight") {
    ws_connection ws(c.p->host_port());
    ws.send({"", "", c.src.fqn("src", objects()[0].name), objects()[0].name});
    ws.send({"", "", c.src.fqn("src", "bad one.tar"), "bad one.tar"});
    ws.send({"", "", c.src.fqn("src", objects()[1].name), objects()[1].name});
    auto a0 = ws.receive();
    INFO(a0.what);
    REQUIRE(a0.kind == ws_answer::binary);
    CHECK(a0.data == expected()[0]);
    auto a1 = ws.receive();
    INFO("after the bad object: " << to_string(a1.kind) << " " << a1.what << " " << a1.data.substr(0, 200));
    CHECK(a1.kind == ws_answer::error);  // the target records the failure (websocket_comm.go:409-412)
    if (a1.close_frame) CHECK(a1.close_code == 1011);
  }
  SECTION("a failed direct put") {
    ws_connection ws(c.p->host_port());
    c.dst.fail_puts(100, {400, "unrecognized request source", false});
    ws.send({c.dst.destination_entry("dst", "never.tar", xid), "", c.src.fqn("src", objects()[0].name), objects()[0].name});
    auto a = ws.receive();
    INFO(to_string(a.kind) << " " << a.what << " " << a.data.substr(0, 200));
    CHECK(a.kind == ws_answer::error);
    if (a.close_frame) CHECK(a.close_code == 1011);
    CHECK_FALSE(c.dst.object("dst", "never.tar"));
  }
  SECTION("a missing FQN") {
    ws_connection ws(c.p->host_port());
    ws.send({"", "", c.src.fqn("src", "nope.tar"), "nope.tar"});
    auto a = ws.receive();
    INFO(to_string(a.kind) << " " << a.what);
    CHECK(a.kind == ws_answer::error);
    if (a.close_frame) CHECK(a.close_code == 1011);
  }
}

TEST_CASE("ais wire 5: errors: one-line 4xx for a bad object, the receiver's status passed back", "[ais]") {
  cluster c;
  auto cl = c.client();
  c.src.put_object("src", "bad one.tar", make_bad_shard());
  std::string cli_said;
  {
    scratch_dir d;
    spit(d / "bad.tar", make_bad_shard());
    std::vector<std::string> argv = {etl_binary(), "transform", d / "bad.tar", "-o", d / "out.tar", "-q"};
    for (const auto& x : test_map_args()) argv.push_back(x);
    REQUIRE(run_command(argv, &cli_said) != 0);  // the CLI refuses it too
  }
  object_ref bad{"src", "bad one.tar", c.src.fqn("src", "bad one.tar"), {}, true};
  for (bool pull : {false, true}) {
    auto x = pull ? hpull(cl, bad) : hpush(cl, bad);
    INFO(shown(x));
    CHECK(x.status >= 400);
    CHECK(x.status < 500);
    CHECK(one_line(x.body));
    CHECK_FALSE(x.header("Ais-Etl-Retry-Reason"));
  }
  object_ref gone{"src", "gone.tar", c.src.fqn("src", "gone.tar"), {}, true};
  auto g = hpush(cl, gone);
  INFO(shown(g));
  CHECK(g.status >= 400);
  CHECK(one_line(g.body));

  // The destination's own answer comes back, status and reason; no retry hint.
  for (const auto& f : {put_fault{400, "unrecognized request source", false}, put_fault{507, "out of space: mpath /m1", false},
                        put_fault{404, "bucket ais://dst does not exist", false}}) {
    for (bool fqn : {true, false}) {
      c.dst.fail_puts(100, f);
      call_args a;
      a.pipeline = {c.dst.destination_entry("dst", "rejected.tar", xid)};
      auto x = hpush(cl, c.ref(0, fqn), a);
      INFO(shown(x));
      CHECK(x.status == f.status);
      CHECK(x.body.find(f.reason) != std::string::npos);
      CHECK(one_line(x.body));
      CHECK_FALSE(x.header("Ais-Etl-Retry-Reason"));
    }
  }
  c.dst.fail_puts(0, {});
  CHECK_FALSE(c.dst.object("dst", "rejected.tar"));
}

TEST_CASE("ais wire 5: 503 + Ais-Etl-Retry-Reason only for a transient direct-put failure", "[ais]") {
  cluster c(test_map_args(), {{"direct_put", "true"}, {"AIS_DIRECT_PUT_RETRIES", "0"}});
  auto cl = c.client();
  // Nothing listens there: connection refused, a replay may well succeed.
  const std::string dead = "http://127.0.0.1:" + std::to_string(free_port()) + "/" + go::path_escape(uname("dst", "x.tar")) + "?owt=3&uuid=" + xid;
  call_args a;
  a.pipeline = {dead};
  auto x = hpush(cl, c.ref(0, false), a);  // body case: the target can replay
  INFO(shown(x));
  CHECK(x.status == 503);
  CHECK(x.header("Ais-Etl-Retry-Reason") == std::string("direct-put-transient"));
  auto y = hpush(cl, c.ref(0, true), a);  // fqn case: an error either way
  INFO(shown(y));
  CHECK(y.status >= 400);

  // The destination drops the first two PUTs: between the pod's own retries
  // and the target's replays the object arrives, exactly once.
  cluster d;
  auto dl = d.client();
  d.dst.fail_puts(2, {0, {}, true});
  call_args r;
  r.pipeline = {d.dst.destination_entry("dst", "flaky.tar", xid)};
  r.max_attempts = 5;
  auto z = hpush(dl, d.ref(1, false), r);
  INFO(shown(z) << " after " << z.attempts << " attempt(s)");
  CHECK(z.status == 204);
  CHECK(d.dst.object("dst", "flaky.tar") == expected()[1]);
  CHECK(d.dst.puts_of("dst", "flaky.tar") == 1);
}

TEST_CASE("ais wire 6: AIS_AUTHN_TOKEN goes to the targets as a bearer token", "[ais]") {
  cluster c(test_map_args(), {{"direct_put", "true"}, {"AIS_AUTHN_TOKEN", "tok-123"}});
  auto cl = c.client();
  call_args a;
  a.pipeline = {c.dst.destination_entry("dst", "authn.tar", xid)};
  auto x = hpull(cl, c.ref(0, false), a);  // a GET to the source target and a PUT to the destination
  INFO(shown(x));
  REQUIRE(x.status == 204);
  REQUIRE(c.src.requests().size() == 1);
  CHECK(c.src.requests()[0].header("Authorization") == std::string("Bearer tok-123"));
  REQUIRE(c.dst.requests().size() == 1);
  CHECK(c.dst.requests()[0].header("Authorization") == std::string("Bearer tok-123"));
}

TEST_CASE("ais wire 8: the torchvision_preprocess drop-in refuses to start without TRANSFORM", "[ais]") {
  std::string said;
  const int rc = run_command({etl_binary(), "serve", "--torchvision", "--host", "127.0.0.1", "--port", std::to_string(free_port())},
                             &said, {}, std::chrono::seconds(5));
  INFO(said);
  CHECK(rc > 0);  // -1: still serving after 5 s
  CHECK(said.find("TRANSFORM") != std::string::npos);
}

TEST_CASE("ais wire 8: torchvision_preprocess drop-in over hpush, hpull and ws (Pillow golden)", "[ais]") {
  // tests/data/server/cases.json "resize-crop": Pillow 9.4 + torchvision 0.14 bytes.
  const std::string transform = R"({"Resize": {"size": [64, 64]}, "CenterCrop": {"size": 48}})";
  const std::string input = slurp(data_dir() + "/server/rocket-crop.jpg");
  const std::string want = slurp(data_dir() + "/server/resize-crop.jpg");
  scratch_dir d;
  target t({"t1", "wds-etl", secret, d / "t1"});
  t.put_object("images", "rocket crop.jpg", input);
  pod p({{"--torchvision"}, {{"AIS_TARGET_URL", t.ais_target_url()}, {"TRANSFORM", transform}, {"FORMAT", "JPEG"}}});
  pod_client cl(p.host_port());
  const object_ref by_fqn{"images", "rocket crop.jpg", t.fqn("images", "rocket crop.jpg"), {}, true};
  const object_ref by_body{"images", "rocket crop.jpg", {}, input, false};
  for (const auto& x : {hpush(cl, by_fqn), hpush(cl, by_body), hpull(cl, by_fqn), hpull(cl, by_body)}) {
    INFO(shown(x));
    REQUIRE(x.status == 200);
    CHECK(x.header("Content-Type") == std::string("image/jpeg"));
    CHECK(x.body == want);
  }
  ws_connection ws(p.host_port());
  ws.send({"", "", by_fqn.fqn, by_fqn.name});
  ws.send({"", "", "", by_fqn.name}, input);
  for (int k = 0; k < 2; ++k) {
    auto a = ws.receive();
    INFO(a.what);
    REQUIRE(a.kind == ws_answer::binary);
    CHECK(a.data == want);
  }
  ws.close();
}

#else
TEST_CASE("ais wire: skipped (no JPEG codec)", "[ais]") { WARN("the wire tests need WDS_HAS_JPEG"); }
#endif

TEST_CASE("ais wire 7: deploy specs are ETLSpecMsg YAMLs for hpush, hpull and ws", "[ais]") {
  const std::string deploy = source_dir() + "/examples/etl/deploy";
  // ext/etl/api.go:109-138: the fields AIStore reads; anything else is ignored silently.
  const std::set<std::string> top = {"name", "communication", "init_timeout", "obj_timeout", "support_direct_put",
                                     "env", "runtime", "resources"};
  const std::set<std::string> runtime = {"image", "command", "env"};
  std::set<std::string> comms;
  DIR* dir = ::opendir(deploy.c_str());
  REQUIRE(dir);
  std::vector<std::string> names;
  while (auto* e = ::readdir(dir)) names.emplace_back(e->d_name);
  ::closedir(dir);
  for (const auto& n : names) {
    if (n.size() < 5 || n.substr(n.size() - 5) != ".yaml") continue;
    const std::string text = slurp(deploy + "/" + n);
    if (text.find("\nkind: Pod") != std::string::npos || text.rfind("kind: Pod", 0) == 0 ||
        text.find("apiVersion:") != std::string::npos) {
      CHECK(text.find("eprecated") != std::string::npos);  // the Pod-spec form only as the deprecated one
      continue;
    }
    INFO(n);
    CHECK(text.find("ais etl init -f") != std::string::npos);
    std::istringstream lines(text);
    std::string line, section, comm;
    bool direct_put = false;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#' || line.find_first_not_of(' ') == std::string::npos) continue;
      const auto indent = line.find_first_not_of(' ');
      if (line[indent] == '#' || line[indent] == '-') continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = line.substr(indent, colon - indent);
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      value = value.substr(0, value.find(" #"));
      INFO("key " << key);
      if (indent == 0) {
        section = key;
        CHECK(top.count(key) == 1);
        if (key == "communication") comm = value;
        if (key == "support_direct_put") direct_put = value == "true";
      } else if (indent == 2 && section == "runtime") {
        CHECK(runtime.count(key) == 1);
      }
    }
    CHECK(text.find("argument:") == std::string::npos);
    if (comm == "ws://") CHECK(direct_put);  // required for ws://
    comms.insert(comm);
  }
  CHECK(comms.count("hpush://") == 1);
  CHECK(comms.count("hpull://") == 1);
  CHECK(comms.count("ws://") == 1);
}
