// GNU sparse members (old GNU 'S', pax 0.0/0.1/1.0) from GNU tar, compared with
// Python tarfile's view of them (tests/golden/gen_sparse.py).
#include "catch.hpp"
#include "support.hpp"

#include <wds/open.hpp>
#include <wds/sample.hpp>

#include <fstream>
#include <sstream>

namespace {

std::uint64_t fnv1a64(const std::byte* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
  return h;
}

std::string hex64(std::uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

std::string hex(const std::string& s) {
  std::string out;
  char b[3];
  for (unsigned char c : s) std::snprintf(b, sizeof b, "%02x", c), out += b;
  return out;
}

// The archive, decompressed.
std::vector<std::byte> plain(const std::string& fmt) {
  auto in = wds::open_input(wds_test::data_path("sparse/" + fmt + ".tar.gz"));
  std::vector<std::byte> out(std::size_t{1} << 16);
  std::size_t n = 0;
  for (;;) {
    if (n == out.size()) out.resize(out.size() * 2);
    std::size_t k = in.read(out.data() + n, out.size() - n);
    if (k == 0) break;
    n += k;
  }
  out.resize(n);
  return out;
}

// "<fmt> <hex name> <size> <fnv>" per regular member, read with payload() or read() in chunks.
std::vector<std::string> listing(const std::string& fmt, const std::vector<std::byte>& tar, bool chunked,
                                 const wds::limits& lim = {}) {
  wds::tar_reader r(wds::memory_source(tar), fmt, lim);
  std::vector<std::string> out;
  while (const wds::tar_member* m = r.next()) {
    std::vector<std::byte> data;
    if (chunked) {
      std::byte buf[1000];
      while (std::size_t k = r.read(buf, sizeof buf)) data.insert(data.end(), buf, buf + k);
    } else {
      auto v = r.payload();
      data.assign(v.begin(), v.end());
    }
    out.push_back(fmt + " " + hex(m->name) + " " + std::to_string(m->size) + " " + hex64(fnv1a64(data.data(), data.size())));
  }
  return out;
}

}  // namespace

TEST_CASE("GNU sparse members read like Python's tarfile, holes as zeros", "[tar][sparse][golden]") {
  if (!wds::config::has_zlib) {
    WARN("the golden archives are gzipped: built without zlib, skipped");
    return;
  }
  std::ifstream in(wds_test::data_path("sparse/expected.txt"));
  std::vector<std::string> expected;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) expected.push_back(l);
  REQUIRE(expected.size() == 12);
  for (const char* fmt : {"gnu", "pax0.0", "pax0.1", "pax1.0"}) {
    INFO(fmt);
    const auto tar = plain(fmt);
    std::vector<std::string> want;
    for (const auto& l : expected)
      if (l.compare(0, std::strlen(fmt) + 1, std::string(fmt) + " ") == 0) want.push_back(l);
    CHECK(listing(fmt, tar, false) == want);
    CHECK(listing(fmt, tar, true) == want);
    // Grouping sees them as ordinary fields; skipping one unread is fine too.
    wds::sample_reader_options opts;
    opts.suffixes = {"txt"};
    wds::sample_reader sr(wds::memory_source(tar), fmt, wds::limits{}, opts);
    std::vector<std::string> keys;
    while (auto s = sr.next()) keys.push_back(s->key());
    CHECK(keys == std::vector<std::string>{"many", "plain", "sparse"});
    // Borrowed samples see the expanded payloads too (not aliased: the
    // expansion buffer is reused by the next sparse member).
    std::vector<std::string> owned, borrowed;
    wds::sample_reader so(wds::memory_source(tar), fmt);
    while (auto s = so.next())
      for (const auto& f : s->fields()) owned.push_back(s->key() + "." + f.ext + "=" + std::string(f.text()));
    wds::sample_reader sb(wds::memory_source(tar), fmt);
    while (const auto* s = sb.next_borrowed())
      for (const auto& f : *s) borrowed.push_back(s->key() + "." + f.ext + "=" + std::string(f.text()));
    CHECK(!owned.empty());
    CHECK(borrowed == owned);
  }
}

TEST_CASE("GNU sparse members: limits and bad input", "[tar][sparse][bad]") {
  if (!wds::config::has_zlib) {
    WARN("the golden archives are gzipped: built without zlib, skipped");
    return;
  }
  auto error_id = [](const std::vector<std::byte>& tar, const wds::limits& lim) {
    try {
      wds::tar_reader r(wds::memory_source(tar), "s.tar", lim);
      while (r.next()) r.payload();
      return 0;
    } catch (const wds::error& e) {
      return e.id();
    }
  };
  for (const char* fmt : {"gnu", "pax0.0", "pax0.1", "pax1.0"}) {
    INFO(fmt);
    const auto tar = plain(fmt);
    wds::limits lim;
    CHECK(error_id(tar, lim) == 0);
    lim.max_member_size = 250000;  // sparse.bin expands to 300000 bytes
    CHECK(error_id(tar, lim) == 502);
    lim = {};
    lim.max_pax_size = 600;  // 25 entries; many.bin has 31
    CHECK(error_id(tar, lim) == 501);
    for (std::size_t cut : {tar.size() / 4, tar.size() / 2, tar.size() * 3 / 4}) {
      INFO("cut at " << cut);
      std::vector<std::byte> t(tar.begin(), tar.begin() + static_cast<std::ptrdiff_t>(cut));
      const int id = error_id(t, wds::limits{});
      CHECK((id == 201 || id == 202));
    }
  }
  // A map entry beyond the real size: patch 0.1's GNU.sparse.map.
  auto tar = plain("pax0.1");
  std::string s(reinterpret_cast<const char*>(tar.data()), tar.size());
  const auto at = s.find("GNU.sparse.map=");
  REQUIRE(at != std::string::npos);
  s[at + 15] = '9';  // first offset 0 -> 9, so its chunk runs past the end
  s[at + 16] = '9';
  std::vector<std::byte> bad(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data()) + s.size());
  CHECK(error_id(bad, wds::limits{}) == 205);
}
