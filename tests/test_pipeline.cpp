// SPDX-License-Identifier: MIT
#include "catch.hpp"

#include <wds/pipeline.hpp>

#include <algorithm>
#include <cctype>
#include <numeric>
#include <set>
#include <string>
#include <vector>

using strings = std::vector<std::string>;

TEST_CASE("expand_braces: ranges, padding, lists, nesting", "[pipeline]") {
  CHECK(wds::expand_braces("shard.tar") == strings{"shard.tar"});
  CHECK(wds::expand_braces("s-{0..3}.tar") == strings{"s-0.tar", "s-1.tar", "s-2.tar", "s-3.tar"});
  CHECK(wds::expand_braces("s-{000..002}.tar") == strings{"s-000.tar", "s-001.tar", "s-002.tar"});
  // Zero padding when either end is padded (braceexpand's rule), width of the wider.
  CHECK(wds::expand_braces("{8..010}") == strings{"008", "009", "010"});
  CHECK(wds::expand_braces("{098..100}") == strings{"098", "099", "100"});
  CHECK(wds::expand_braces("{3..1}") == strings{"3", "2", "1"});
  CHECK(wds::expand_braces("{0..10..5}") == strings{"0", "5", "10"});
  CHECK(wds::expand_braces("{a..c}") == strings{"a", "b", "c"});
  CHECK(wds::expand_braces("{x,y}.tar") == strings{"x.tar", "y.tar"});
  CHECK(wds::expand_braces("{x,}z") == strings{"xz", "z"});
  CHECK(wds::expand_braces("{a,b{1..2}}") == strings{"a", "b1", "b2"});
  CHECK(wds::expand_braces("{a,b}{0..1}") == strings{"a0", "a1", "b0", "b1"});
  CHECK(wds::expand_braces("d/{train,val}-{00..01}.tar") ==
        strings{"d/train-00.tar", "d/train-01.tar", "d/val-00.tar", "d/val-01.tar"});
  // No comma and no range: the braces are literal, as in bash.
  CHECK(wds::expand_braces("{x}") == strings{"{x}"});
  CHECK(wds::expand_braces("a\\{0..1\\}") == strings{"a{0..1}"});
}

TEST_CASE("expand_braces: errors carry the position", "[pipeline]") {
  auto offset_of = [](const char* pat) -> std::uint64_t {
    try {
      wds::expand_braces(pat);
    } catch (const wds::spec_error& e) {
      CHECK(e.id() == 650);
      return e.offset();
    }
    FAIL("no error for " << pat);
    return 0;
  };
  CHECK(offset_of("abc{0..1") == 3);
  CHECK(offset_of("ab}c") == 2);
  try {
    wds::expand_braces("{0..99999999}", 1000);
    FAIL("no limit error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 651);
  }
}

TEST_CASE("expand_shard_list joins `::` lists", "[pipeline]") {
  CHECK(wds::expand_shard_list("a-{0..1}.tar::b.tar") == strings{"a-0.tar", "a-1.tar", "b.tar"});
  CHECK(wds::expand_shard_list("x.tar") == strings{"x.tar"});
  try {
    wds::expand_shard_list("a.tar::b{1..2");
    FAIL("no error");
  } catch (const wds::spec_error& e) {
    CHECK(e.offset() == 8);  // position in the whole spec
  }
}

static std::vector<int> run_shuffle(std::size_t n, std::size_t cap, std::size_t init, std::uint64_t seed) {
  wds::shuffle_buffer<int> buf(cap, init, seed);
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(n); ++i)
    if (auto x = buf.push(i)) out.push_back(*x);
  while (auto x = buf.pop()) out.push_back(*x);
  return out;
}

TEST_CASE("shuffle_buffer is a deterministic permutation per seed", "[pipeline]") {
  auto a = run_shuffle(1000, 100, 10, 42);
  auto b = run_shuffle(1000, 100, 10, 42);
  auto c = run_shuffle(1000, 100, 10, 43);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);      // nothing lost or duplicated
  CHECK(a != iota);           // actually shuffled
  // Bounded: an item cannot come out before it went in, nor leave the buffer
  // window (capacity) far behind.
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] <= static_cast<int>(i) + 100);
  // Capacity 1 keeps the order.
  CHECK(run_shuffle(50, 1, 1, 7) == std::vector<int>(iota.begin(), iota.begin() + 50));
  // Fewer items than `initial`: everything comes out on drain.
  CHECK(run_shuffle(5, 100, 50, 1).size() == 5);
}

TEST_CASE("random_engine: fixed sequence, unbiased below()", "[pipeline]") {
  wds::random_engine r1(123), r2(123);
  for (int i = 0; i < 100; ++i) CHECK(r1.next() == r2.next());
  wds::random_engine r(5);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) ++counts[r.below(3)];
  for (int c : counts) CHECK((c > 9000 && c < 11000));
}

TEST_CASE("batcher groups items, keeps or drops the partial batch", "[pipeline]") {
  wds::batcher<int> b(3);
  std::vector<std::vector<int>> got;
  for (int i = 0; i < 7; ++i)
    if (auto x = b.push(i)) got.push_back(*x);
  if (auto x = b.finish()) got.push_back(*x);
  CHECK(got == std::vector<std::vector<int>>{{0, 1, 2}, {3, 4, 5}, {6}});

  wds::batcher<int> strict(3, false);
  got.clear();
  for (int i = 0; i < 7; ++i)
    if (auto x = strict.push(i)) got.push_back(*x);
  CHECK(!strict.finish());
  CHECK(got.size() == 2);
}

TEST_CASE("map_field replaces one exact ext, for_each_field visits all", "[pipeline]") {
  wds::sample s("k");
  s.set("txt", std::string_view("abc"));
  s.set("image.txt", std::string_view("xyz"));
  auto upper = [](std::vector<std::byte> b) {
    for (auto& c : b) c = std::byte(std::toupper(std::to_integer<int>(c)));
    return b;
  };
  CHECK(wds::map_field(s, "txt", upper));
  CHECK(!wds::map_field(s, "jpg", upper));
  CHECK(s.find("txt")->text() == "ABC");
  CHECK(s.find("image.txt")->text() == "xyz");  // exact ext only
  std::vector<std::string> exts;
  wds::for_each_field(s, [&](wds::field& f) { exts.push_back(f.ext); });
  CHECK(exts == strings{"txt", "image.txt"});
}
