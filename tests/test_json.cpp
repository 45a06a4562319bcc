// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "paths.hpp"
#include "wds/json.hpp"

namespace {

std::string unhex(const std::string& h) {
  std::string out;
  if (h == "-") return out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

std::string hex(const std::string& s) {
  std::string out;
  char buf[3];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

// The typed dump tests/golden/gen_tensors.py writes for Python's result.
std::string canon(const wds::json& v) {
  switch (v.type()) {
    case wds::json::kind::null: return "n";
    case wds::json::kind::boolean: return v.as_bool() ? "t" : "f";
    case wds::json::kind::integer: return "i" + std::to_string(v.as_int());
    case wds::json::kind::number: {
      const double d = v.as_double();
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      char buf[17];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(bits));
      return std::string("d") + buf;
    }
    case wds::json::kind::string: return "s" + hex(v.as_string());
    case wds::json::kind::array: {
      std::string s = "[";
      for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + canon(v[i]);
      return s + "]";
    }
    case wds::json::kind::object: {
      std::string s = "{";
      bool first = true;
      for (const auto& kv : v.as_object()) {
        s += (first ? "" : ",") + ("s" + hex(kv.first)) + ":" + canon(kv.second);
        first = false;
      }
      return s + "}";
    }
  }
  return "?";
}

}  // namespace

TEST_CASE("json: accepts and rejects what Python's json.loads does", "[json]") {
  std::ifstream f(std::string(WDS_TEST_DATA_DIR) + "/tensors/json_cases.txt");
  REQUIRE(f.good());
  std::string h, verdict, expected, dumped;
  int n = 0, dumps = 0;
  while (f >> h >> verdict >> expected >> dumped) {
    ++n;
    const std::string input = unhex(h);
    INFO("case " << n << ": " << h.substr(0, 120) << " python: " << verdict);
    try {
      const wds::json v = wds::json::parse(input);
      CHECK(verdict == "ok");
      if (verdict == "ok") CHECK(canon(v) == expected);
      if (dumped != "-") {  // json.dumps of Python's value
        CHECK(hex(v.dump()) == dumped);
        ++dumps;
      }
    } catch (const wds::limit_error& e) {
      INFO(e.what());
      // Python accepted it, or failed for the same reason (recursion).
      CHECK(verdict != "ok");
      CHECK((e.id() == 521 || e.id() == 523));
      CHECK(e.offset() <= input.size());
    } catch (const wds::decode_error& e) {
      INFO(e.what());
      CHECK(verdict == "reject");
      CHECK((e.id() >= 495 && e.id() <= 497));
      CHECK(e.offset() <= input.size());
    }
  }
  CHECK(n > 150);
  CHECK(dumps > 80);
}

TEST_CASE("json: DOM access", "[json]") {
  const auto v = wds::json::parse(R"({"a": [1, 2.5, "x", null, true], "b": {"c": -3}, "a": 7})");
  REQUIRE(v.is_object());
  CHECK(v.size() == 2);
  CHECK(v.as_object()[0].first == "a");  // first position, last value
  CHECK(v["a"].as_int() == 7);
  CHECK(v["b"]["c"].as_int() == -3);
  CHECK(v["b"]["c"].as_double() == -3.0);
  CHECK(v.find("zz") == nullptr);
  CHECK(v.contains("b"));
  try {
    (void)v["a"].as_string();
    FAIL("type error expected");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 498);
  }
  const auto w = wds::json::parse("[1, 2.5, \"x\", null, true]");
  CHECK(w[1].as_double() == 2.5);
  CHECK(w[2].as_string() == "x");
  CHECK(w[3].is_null());
  CHECK(w[4].as_bool());
  CHECK(w == wds::json(wds::json::array_type{1, 2.5, "x", nullptr, true}));
  // many keys use the hash index; duplicates still keep the first position
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  big += "\"k5\": 55, \"k99\": 999}";
  const auto b = wds::json::parse(big);
  CHECK(b.size() == 100);
  CHECK(b["k5"].as_int() == 55);
  CHECK(b.as_object()[99].second.as_int() == 999);
}

TEST_CASE("json: depth bombs, NUL bytes and positions", "[json]") {
  const std::string bomb(100000, '[');
  try {
    (void)wds::json::parse(bomb);
    FAIL("depth bomb accepted");
  } catch (const wds::limit_error& e) {
    CHECK(e.id() == 521);
    CHECK(e.offset() == wds::json::default_max_depth);
  }
  std::string deep = std::string(50, '[') + std::string(50, ']');
  CHECK_NOTHROW(wds::json::parse(deep, {}, 50));
  CHECK_THROWS_AS(wds::json::parse(deep, {}, 49), wds::limit_error);
  try {
    (void)wds::json::parse(std::string("{\"a\": \"x\0y\"}", 12));
    FAIL("NUL in a string accepted");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 495);
    CHECK(e.offset() == 8);
  }
  try {
    (void)wds::json::parse("[1, 2,, 3]", wds::location{"s.tar", "k.json", 512});
    FAIL("accepted");
  } catch (const wds::decode_error& e) {
    CHECK(e.offset() == 512 + 6);
    CHECK(std::string(e.what()).find("Expecting value") != std::string::npos);
  }
  try {
    (void)wds::json::parse("[\"ok\", \"\xff\"]");
    FAIL("invalid UTF-8 accepted");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 496);
    CHECK(e.offset() == 8);
  }
  // huge numbers: int64 edges, doubles, and ints beyond double's range
  CHECK(wds::json::parse("-9223372036854775808").as_int() == INT64_MIN);
  CHECK(wds::json::parse("9223372036854775808").as_double() == 9223372036854775808.0);
  CHECK(std::isinf(wds::json::parse("1e999").as_double()));
  CHECK_THROWS_AS(wds::json::parse(std::string(400, '9')), wds::limit_error);
  CHECK_THROWS_AS(wds::json::parse(std::string(4301, '1')), wds::decode_error);
}

TEST_CASE("json: corrupted documents never crash", "[json]") {
  const std::string good =
      "{\"a\": [1, -2.5e3, \"x\\u00e9\\ud83d\\ude00\", null, true, false, NaN], \"b\": {\"c\": \"\xc3\xa9\"}}";
  std::uint64_t state = 99;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(state >> 33);
  };
  static const char alphabet[] = "{}[]\",:\\u0123456789eE.-+ntfNI \x00\xff\xc3\xed\xa0";
  for (int round = 0; round < 5000; ++round) {
    std::string s = good;
    for (int k = 0, n = 1 + static_cast<int>(next() % 3); k < n; ++k)
      s[next() % s.size()] = alphabet[next() % (sizeof alphabet - 1)];
    s.resize(s.size() - next() % 10);
    try {
      (void)wds::json::parse(s);
    } catch (const wds::error& e) {
      CHECK(e.offset() <= s.size());
    }
  }
}

TEST_CASE("json: dump writes what json.dumps writes", "[json]") {
  wds::json::object_type o;
  o.emplace_back("name", "caf\xc3\xa9");
  o.emplace_back("n", wds::json(wds::json::array_type{0, -1.5, 1e16, 1e-5, 0.0001, true, nullptr}));
  const wds::json v(o);
  // json.dumps({"name": "café", "n": [0, -1.5, 1e16, 1e-5, 0.0001, True, None]})
  CHECK(v.dump() == R"({"name": "caf\u00e9", "n": [0, -1.5, 1e+16, 1e-05, 0.0001, true, null]})");
  CHECK(wds::json::parse(v.dump()) == v);
  CHECK(wds::json(std::uint64_t{18446744073709551615u}).as_double() == 18446744073709551616.0);
  CHECK(wds::json(std::uint64_t{42}).as_int() == 42);
  try {
    (void)wds::json(std::string("\xff")).dump();
    FAIL("invalid UTF-8 dumped");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 499);
  }
}
