// Grouping members into samples with webdataset's rules (golden cases from
// tests/golden/gen_tar.py, which runs webdataset's own regular expressions).
#include "catch.hpp"
#include "support.hpp"

#include <wds/sample.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

using wds_test::bytes;
using wds_test::from_hex;
using wds_test::text;

namespace {

std::vector<std::byte> archive_of(const std::vector<std::string>& names) {
  wds::tar_writer w(wds::memory_sink{});
  for (const auto& n : names) w.write(n, bytes("payload of " + n));
  w.finish();
  return w.sink().take();
}

struct golden_case {
  std::string name;
  std::vector<std::string> members;
  std::vector<std::pair<std::string, std::vector<std::string>>> samples;
  bool duplicate_error = false;
};

std::vector<golden_case> load_cases() {
  std::ifstream in(wds_test::data_path("tar/grouping.txt"));
  std::vector<golden_case> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "case") {
      cases.emplace_back();
      ls >> cases.back().name;
    } else if (tag == "in") {
      std::string h;
      ls >> h;
      cases.back().members.push_back(from_hex(h));
    } else if (tag == "sample") {
      std::string key, ext;
      ls >> key;
      std::vector<std::string> exts;
      while (ls >> ext) exts.push_back(from_hex(ext));
      cases.back().samples.emplace_back(from_hex(key), exts);
    } else if (tag == "error") {
      cases.back().duplicate_error = true;
    }
  }
  return cases;
}

}  // namespace

TEST_CASE("grouping matches webdataset on the golden cases", "[sample][golden]") {
  auto cases = load_cases();
  REQUIRE(cases.size() >= 12);
  for (const auto& c : cases) {
    INFO("case " << c.name);
    auto archive = archive_of(c.members);
    wds::sample_reader reader{wds::memory_source(archive), "shard.tar"};
    if (c.duplicate_error) {
      try {
        while (reader.next()) {
        }
        FAIL("expected a duplicate-ext error");
      } catch (const wds::sample_error& e) {
        CHECK(e.id() == 301);
        CHECK(std::string(e.what()).find("duplicate ext") != std::string::npos);
        CHECK(e.shard() == "shard.tar");
      }
      continue;
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> got;
    while (auto s = reader.next()) {
      std::vector<std::string> exts;
      for (const auto& f : s->fields()) {
        exts.push_back(f.ext);
        CHECK(text(f.data) == "payload of " + f.member);
      }
      CHECK(s->url() == "shard.tar");
      got.emplace_back(s->key(), exts);
    }
    CHECK(got == c.samples);
  }
}

TEST_CASE("split_key_ext follows webdataset's regex", "[sample]") {
  struct row {
    const char* path;
    const char* key;
    const char* ext;
  };
  for (const row& r : {row{"a.jpg", "a", "jpg"}, row{"dir/a.b.c", "dir/a", "b.c"}, row{"x.y/z.w", "x.y/z", "w"},
                       row{"p/q/.hid.txt", "p/q/", "hid.txt"}, row{"q/.a.b", "q/", "a.b"}, row{"a.", "a", ""}}) {
    std::string_view k, e;
    INFO(r.path);
    REQUIRE(wds::split_key_ext(r.path, k, e));
    CHECK(k == r.key);
    CHECK(e == r.ext);
  }
  std::string_view k, e;
  CHECK_FALSE(wds::split_key_ext("README", k, e));
  CHECK_FALSE(wds::split_key_ext(".hidden", k, e));
  CHECK_FALSE(wds::split_key_ext("x.y/.z.jpg", k, e));
  CHECK_FALSE(wds::split_key_ext("a/b.c/", k, e));
}

TEST_CASE("grouping options and sample API", "[sample]") {
  auto archive = archive_of({"s1.JPG", "s1.cls", "s1.txt", "s2.JPG"});
  SECTION("lower-casing can be switched off") {
    wds::sample_reader_options opts;
    opts.lowercase_ext = false;
    wds::sample_reader reader{wds::memory_source(archive), "x.tar", wds::limits{}, opts};
    auto s = reader.next();
    REQUIRE(s);
    CHECK(s->fields()[0].ext == "JPG");
  }
  SECTION("suffix filter keeps only the named exts") {
    wds::sample_reader_options opts;
    opts.suffixes = {"jpg", "cls"};
    wds::sample_reader reader{wds::memory_source(archive), "x.tar", wds::limits{}, opts};
    auto s = reader.next();
    REQUIRE(s);
    CHECK(s->size() == 2);
    CHECK_FALSE(s->contains("txt"));
  }
  SECTION("range-for and the field accessors") {
    wds::sample_reader reader{wds::memory_source(archive)};
    int n = 0;
    for (wds::sample& s : reader) {
      ++n;
      CHECK(s.contains("jpg"));
      CHECK(text(s.at("jpg")) == "payload of " + s.key() + ".JPG");
      CHECK_THROWS_AS(s.at("png"), wds::sample_error);
      s.set("png", std::string_view("new"));
      CHECK(text(s.at("png")) == "new");
      CHECK(s.rename("png", "webp"));
      CHECK(s.erase("webp"));
    }
    CHECK(n == 2);
  }
  SECTION("too many fields is a limit error") {
    wds::limits lim;
    lim.max_sample_fields = 2;
    wds::sample_reader reader{wds::memory_source(archive), "x.tar", lim};
    try {
      reader.next();
      FAIL("expected a limit error");
    } catch (const wds::limit_error& e) {
      CHECK(e.id() == 503);
      CHECK(e.member() == "s1.txt");
    }
  }
}

TEST_CASE("write_sample writes like webdataset's TarWriter", "[sample]") {
  wds::sample s("cat_01");
  s.set("image.jpg", std::string_view("J"));
  s.set("trimap.png", std::string_view("P"));
  s.set("cls", std::string_view("1"));
  s.set("json", std::string_view("{}"));
  s.set("__hidden__", std::string_view("meta"));
  wds::tar_writer w(wds::memory_sink{});
  CHECK(w.write_sample(s) == 5);
  w.finish();
  auto archive = w.sink().take();
  wds::tar_reader r{wds::memory_source(archive)};
  std::vector<std::string> names;
  while (const wds::tar_member* m = r.next()) names.push_back(m->name);
  CHECK(names == std::vector<std::string>{"cat_01.cls", "cat_01.image.jpg", "cat_01.json", "cat_01.trimap.png"});
}

TEST_CASE("sample buffers can be recycled", "[sample]") {
  auto archive = archive_of({"a.x", "b.x", "c.x"});
  wds::sample_reader reader{wds::memory_source(archive)};
  std::vector<std::string> keys;
  while (auto s = reader.next()) {
    keys.push_back(s->key());
    CHECK(text(s->at("x")) == "payload of " + s->key() + ".x");
    reader.recycle(std::move(*s));
  }
  CHECK(keys == std::vector<std::string>{"a", "b", "c"});
}

namespace {
// Returns at most `chunk` bytes per read, so the tar reader refills its
// buffer in the middle of samples (borrowed fields must then be copied out).
class chunked_source {
 public:
  chunked_source(const std::vector<std::byte>& b, std::size_t chunk) : b_(&b), chunk_(chunk) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    n = std::min({n, chunk_, b_->size() - pos_});
    std::memcpy(dst, b_->data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const std::vector<std::byte>* b_;
  std::size_t chunk_, pos_ = 0;
};

// Every sample as "key|ext=bytes|..." from next() or next_borrowed().
template <class Reader>
std::vector<std::string> owned_samples(Reader& r) {
  std::vector<std::string> out;
  while (auto s = r.next()) {
    std::string line = s->key() + "|" + s->url();
    for (const auto& f : s->fields()) line += "|" + f.ext + "@" + std::to_string(f.offset) + "=" + std::string(f.text());
    out.push_back(line);
    r.recycle(std::move(*s));
  }
  return out;
}
template <class Reader>
std::vector<std::string> borrowed_samples(Reader& r) {
  std::vector<std::string> out;
  while (const wds::borrowed_sample* s = r.next_borrowed()) {
    std::string line = s->key() + "|" + s->url();
    for (const auto& f : *s) line += "|" + f.ext + "@" + std::to_string(f.offset) + "=" + std::string(f.text());
    out.push_back(line);
    CHECK(s->to_sample().size() == s->size());
  }
  return out;
}
}  // namespace

TEST_CASE("borrowed samples equal owned ones, across buffer refills", "[sample][borrowed]") {
  // Payloads from 0 bytes to larger than the tar reader's buffer, some names
  // long enough for pax headers, a skipped meta member.
  wds::tar_writer w(wds::memory_sink{});
  std::uint32_t seed = 7;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "s" + std::to_string(i) + (i % 7 == 0 ? std::string(120, 'k') : "");
    for (const char* ext : {"jpg", "cls", "json"}) {
      std::size_t n = (i * 7919 + std::strlen(ext) * 104729) % 70000;
      if (i == 13 && ext[0] == 'j') n = 1500000;  // > the 1 MiB buffer
      if (ext[1] == 'l') n = i % 3;               // includes empty fields
      std::vector<std::byte> d(n);
      for (auto& b : d) {
        seed = seed * 1103515245u + 12345u;
        b = std::byte(seed >> 24);
      }
      w.write(key + "." + ext, d);
    }
    if (i == 30) w.write("__meta__", bytes("skipped"));
  }
  w.finish();
  const auto tar = w.sink().take();
  wds::sample_reader owned{wds::memory_source(tar), "x.tar"};
  const auto want = owned_samples(owned);
  REQUIRE(want.size() == 60);
  for (std::size_t chunk : {std::size_t(1) << 20, std::size_t(100000), std::size_t(4096), std::size_t(777)}) {
    INFO("chunk " << chunk);
    wds::sample_reader r{chunked_source(tar, chunk), "x.tar"};
    CHECK(borrowed_samples(r) == want);
  }
  SECTION("the reader moved between calls keeps copying out what it must") {
    wds::sample_reader r{chunked_source(tar, 4096), "x.tar"};
    std::vector<std::string> got;
    for (int i = 0; i < 20; ++i) {
      const wds::borrowed_sample* s = r.next_borrowed();
      REQUIRE(s);
      got.push_back(s->key());
    }
    auto moved = std::move(r);
    while (const wds::borrowed_sample* s = moved.next_borrowed()) {
      std::string line = s->key() + "|" + s->url();
      for (const auto& f : *s) line += "|" + f.ext + "@" + std::to_string(f.offset) + "=" + std::string(f.text());
      CHECK(line == want[got.size()]);
      got.push_back(s->key());
    }
    CHECK(got.size() == want.size());
  }
}

TEST_CASE("borrowed samples: same grouping and errors as owned ones", "[sample][borrowed][golden]") {
  for (const auto& c : load_cases()) {
    INFO("case " << c.name);
    auto archive = archive_of(c.members);
    wds::sample_reader reader{wds::memory_source(archive), "shard.tar"};
    if (c.duplicate_error) {
      try {
        while (reader.next_borrowed()) {
        }
        FAIL("expected a duplicate-ext error");
      } catch (const wds::sample_error& e) {
        CHECK(e.id() == 301);
      }
      continue;
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> got;
    while (const auto* s = reader.next_borrowed()) {
      std::vector<std::string> exts;
      for (const auto& f : *s) {
        exts.push_back(f.ext);
        CHECK(f.text() == "payload of " + f.member);
      }
      got.emplace_back(s->key(), exts);
    }
    CHECK(got == c.samples);
  }
}

TEST_CASE("__key__ and __url__ as field names raise like webdataset", "[sample]") {
  // webdataset's group_by_keys starts each sample as {__key__, __url__}, so a member
  // "w.__key__" is a "duplicate file name" ValueError, after the samples before it.
  for (const std::string ext : {"__key__", "__url__", "__KEY__", "__Url__"}) {
    INFO(ext);
    auto archive = archive_of({"a.txt", "w.txt", "w." + ext, "z.txt"});
    wds::sample_reader reader{wds::memory_source(archive), "x.tar"};
    auto first = reader.next();
    REQUIRE(first);
    CHECK(first->key() == "a");
    try {
      reader.next();
      FAIL("expected sample_error 303");
    } catch (const wds::sample_error& e) {
      CHECK(e.id() == 303);
      CHECK(e.member() == "w." + ext);
      CHECK(std::string(e.what()).find("duplicate file name") != std::string::npos);
    }
  }
  SECTION("raised before the suffix filter, as in webdataset") {
    wds::sample_reader_options opts;
    opts.suffixes = {"txt"};
    auto archive = archive_of({"w.txt", "w.__url__"});
    wds::sample_reader reader{wds::memory_source(archive), "x.tar", wds::limits{}, opts};
    CHECK_THROWS_AS(reader.next(), wds::sample_error);
  }
  SECTION("without lower-casing, __KEY__ is an ordinary field") {
    wds::sample_reader_options opts;
    opts.lowercase_ext = false;
    auto archive = archive_of({"w.txt", "w.__KEY__"});
    wds::sample_reader reader{wds::memory_source(archive), "x.tar", wds::limits{}, opts};
    auto s = reader.next();
    REQUIRE(s);
    CHECK(s->contains("__KEY__"));
  }
}

TEST_CASE("a sample with a non-empty __bad__ field is dropped, as webdataset's valid_sample does", "[sample]") {
  wds::tar_writer w(wds::memory_sink{});
  w.write("a.txt", bytes("1"));
  w.write("a.__bad__", bytes("yes"));
  w.write("b.txt", bytes("2"));
  w.write("b.__bad__", bytes(""));  // empty bytes are falsy: kept
  w.finish();
  auto archive = w.sink().take();
  wds::sample_reader reader{wds::memory_source(archive)};
  std::vector<std::string> keys;
  while (auto s = reader.next()) keys.push_back(s->key());
  CHECK(keys == std::vector<std::string>{"b"});
}

TEST_CASE("borrowed samples follow the __bad__ and __key__ rules too", "[sample][borrowed]") {
  wds::tar_writer w(wds::memory_sink{});
  w.write("a.txt", bytes("1"));
  w.write("a.__bad__", bytes("yes"));
  w.write("b.txt", bytes("2"));
  w.write("b.__bad__", bytes(""));
  w.write("c.txt", bytes("3"));
  w.write("c.__key__", bytes("x"));
  w.finish();
  auto archive = w.sink().take();
  wds::sample_reader reader{wds::memory_source(archive)};
  const auto* s = reader.next_borrowed();
  REQUIRE(s);
  CHECK(s->key() == "b");
  try {
    reader.next_borrowed();
    FAIL("expected sample_error 303");
  } catch (const wds::sample_error& e) {
    CHECK(e.id() == 303);
  }
}
