// SPDX-License-Identifier: MIT
// wds::python_random against CPython's random.Random (golden: tests/golden/gen_loader.py).
#include "catch.hpp"
#include "support.hpp"

#include <wds/json.hpp>
#include <wds/md5.hpp>
#include <wds/python_random.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {
wds::json load_json(const std::string& rel) {
  auto b = wds_test::read_file(wds_test::data_path(rel));
  return wds::json::parse(b.data(), b.size());
}
std::string repr(double d) {
  // Python's repr(float): shortest round-trip form.
  char buf[64];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, d);
    if (std::stod(buf) == d) break;
  }
  return buf;
}
}  // namespace

TEST_CASE("python_random reproduces random.Random for int seeds", "[python_random]") {
  const wds::json g = load_json("loader/python_random.json");
  REQUIRE(g.size() == 7);
  for (const auto& c : g.as_array()) {
    const std::int64_t seed = c["seed"].is_integer() ? c["seed"].as_int() : 0;
    INFO("seed " << seed);
    wds::python_random r(seed);
    for (const auto& v : c["u32"].as_array()) CHECK(r.getrandbits(32) == static_cast<std::uint64_t>(v.as_int()));
    const unsigned ks[] = {1, 7, 31, 33, 64};
    for (std::size_t i = 0; i < 5; ++i) {
      const auto& v = c["bits"][i];
      // 64-bit values above int64 arrive as doubles; compare those through the decimal text.
      if (v.is_integer()) CHECK(r.getrandbits(ks[i]) == static_cast<std::uint64_t>(v.as_int()));
      else CHECK(static_cast<double>(r.getrandbits(ks[i])) == v.as_double());
    }
    for (const auto& v : c["randint9"].as_array()) CHECK(r.randint(0, 9) == v.as_int());
    for (const auto& v : c["randint999"].as_array()) CHECK(r.randint(0, 999) == v.as_int());
    std::vector<int> x(20);
    for (int i = 0; i < 20; ++i) x[std::size_t(i)] = i;
    r.shuffle(x);
    for (std::size_t i = 0; i < 20; ++i) CHECK(x[i] == c["shuffle20"][i].as_int());
    for (const auto& v : c["random"].as_array()) CHECK(repr(r.random()) == v.as_string());
  }
}

TEST_CASE("md5 matches RFC 1321 test vectors", "[md5]") {
  auto h = [](const std::string& s) {
    wds::md5 m;
    m.update(s);
    return m.hex();
  };
  CHECK(h("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(h("a") == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(h("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(h("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(h("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(h("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == "d174ab98d277d9f5a5611c2c9f419d9f");
  CHECK(h("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "57edf4a22be3c955ac49da2e2107b67a");
  // Fed in odd pieces, the digest is the same.
  wds::md5 m;
  const std::string s(1000, 'q');
  for (std::size_t i = 0; i < s.size(); i += 37) m.update(s.data() + i, std::min<std::size_t>(37, s.size() - i));
  CHECK(m.hex() == h(s));
}
