// Python's str.lower() on exts (golden data: tests/golden/gen_unicode.py, run
// with Debian's Python 3.11; tables: tools/gen_unicode_tables.py).
#include "catch.hpp"
#include "support.hpp"

#include <wds/sample.hpp>
#include <wds/unicode.hpp>

#include <fstream>
#include <map>
#include <sstream>

using wds_test::bytes;
using wds_test::from_hex;

namespace {
std::string utf8(std::uint32_t cp) {
  std::string s;
  wds::unicode::append_utf8(s, cp);
  return s;
}
}  // namespace

TEST_CASE("lower() matches Python's str.lower() on every code point", "[unicode][golden]") {
  std::ifstream in(wds_test::data_path("unicode/lower_all.txt"));
  std::map<std::uint32_t, std::string> changed;
  std::string cp_hex, out_hex;
  while (in >> cp_hex >> out_hex) changed[static_cast<std::uint32_t>(std::stoul(cp_hex, nullptr, 16))] = from_hex(out_hex);
  REQUIRE(changed.size() > 1400);
  std::size_t mismatches = 0;
  for (std::uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const std::string s = utf8(cp);
    auto it = changed.find(cp);
    const std::string& want = it == changed.end() ? s : it->second;
    if (wds::unicode::lower(s) != want) {
      if (++mismatches < 10) FAIL_CHECK("U+" << std::hex << cp);
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("lower() handles final sigma, specials and invalid UTF-8 like Python", "[unicode][golden]") {
  std::ifstream in(wds_test::data_path("unicode/strings.txt"));
  std::string a, b;
  std::size_t n = 0;
  while (in >> a >> b) {
    ++n;
    INFO("input hex " << a);
    CHECK(wds::unicode::lower(from_hex(a)) == from_hex(b));
  }
  CHECK(n > 4000);
  CHECK(wds::unicode::lower("αβγ") == "αβγ");
  CHECK(wds::unicode::lower("ŁÓDŹ") == "łódź");
  CHECK(wds::unicode::lower("İmg") == "i\xcc\x87mg");
  CHECK(wds::unicode::lower("ß") == "ß");
  CHECK(wds::unicode::lower("ǅ") == "ǆ");
  CHECK(wds::unicode::lower("ΌΣΟΣ") == "όσος");
  CHECK(wds::unicode::lower("a'Σ") == "a'ς");
  CHECK(wds::unicode::lower("\xffΣ") == "\xffσ");
}

TEST_CASE("grouping lower-cases exts with Python's str.lower()", "[unicode][sample]") {
  wds::tar_writer w(wds::memory_sink{});
  const std::vector<std::pair<std::string, std::string>> exts = {
      {"ΑΒΓ", "αβγ"}, {"ŁÓDŹ", "łódź"}, {"İMG", "i\xcc\x87mg"}, {"ß", "ß"}, {"Ǆ", "ǆ"}, {"ΌΣΟΣ.JPG", "όσοσ.jpg"}, {"ΌΣΟΣ.1", "όσος.1"}};
  for (const auto& e : exts) w.write("k." + e.first, bytes("x"));
  w.finish();
  auto archive = w.sink().take();
  wds::sample_reader r{wds::memory_source(archive)};
  auto s = r.next();
  REQUIRE(s);
  REQUIRE(s->size() == exts.size());
  for (std::size_t i = 0; i < exts.size(); ++i) CHECK(s->fields()[i].ext == exts[i].second);
}
