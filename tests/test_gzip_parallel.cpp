// parallel_gzip_source against zlib's inflate (zlib_gzip_source, the
// reference): every input decides the same way ("ok <size> <hash>" or
// "error <id>") for any thread count, chunk size and source shape.
#include "catch.hpp"
#include "support.hpp"

#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
#include <wds/codec/gzip_parallel.hpp>

#include <zlib.h>

#include <cstdlib>
#include <string>
#include <vector>

using wds_test::copied_source;
using wds_test::decode_outcome;
using wds_test::trickle_source;
using wds_test::trickle_view_source;

namespace {

// One gzip member of `plain` at `level` with `strategy` (Z_FIXED: fixed-Huffman blocks).
std::vector<std::byte> gz(const std::vector<std::byte>& plain, int level = 6, int strategy = Z_DEFAULT_STRATEGY) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, strategy) == Z_OK);
  std::vector<std::byte> out(deflateBound(&z, static_cast<uLong>(plain.size())) + 64);
  z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::vector<std::byte> noise(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  for (auto& b : v) {
    seed = seed * 1103515245u + 12345u;
    b = std::byte(seed >> 24);
  }
  return v;
}

// Words from a small vocabulary: dynamic blocks with long and short matches.
std::vector<std::byte> text(std::size_t n, std::uint32_t seed) {
  static const char* words[] = {"tar",    "member", "shard",  "sample", "the",   "of",     "gzip",
                                "inflate", "window", "block", "chunk",  "thread", "a",     "header",
                                "webdataset", "key", "jpeg",   "\n",     "error",  "bytes", "offset"};
  std::string s;
  while (s.size() < n) {
    seed = seed * 1103515245u + 12345u;
    s += words[(seed >> 16) % (sizeof(words) / sizeof(words[0]))];
    s += (seed & 0x300u) ? " " : ", ";
  }
  s.resize(n);
  return wds_test::bytes(s);
}

std::vector<std::byte> photos() {
  auto one = wds_test::read_file(wds_test::data_path("etl/pets-small.tar"));
  std::vector<std::byte> v;
  for (int i = 0; i < 3; ++i) v.insert(v.end(), one.begin(), one.end());
  return v;
}

std::string want(const std::vector<std::byte>& in, wds::limits lim = {}) {
  return decode_outcome<wds::zlib_gzip_source<wds::memory_source>>(in, lim);
}

wds::parallel_gzip_options opts(unsigned threads, std::size_t chunk) {
  wds::parallel_gzip_options o;
  o.threads = threads;
  o.chunk_size = chunk;
  o.max_chunk_output = std::size_t{1} << 20;  // small: zeros pass it
  return o;
}

template <class Input = wds::memory_source>
std::string parallel(const std::vector<std::byte>& in, unsigned threads, std::size_t chunk, wds::limits lim = {}) {
  return decode_outcome<wds::parallel_gzip_source<Input>, Input>(in, lim, opts(threads, chunk));
}

// Under valgrind (tests/valgrind.sh, which serializes the threads) one thread count,
// one chunk size and fewer cuts: the full matrix runs in every other build,
// ASan and TSan included.
const bool under_valgrind = std::getenv("WDS_RUNNING_UNDER_VALGRIND") != nullptr;

void check_all_ways(const std::vector<std::byte>& in, bool trickle) {
  const std::string ref = want(in);
  for (unsigned threads : {1u, 2u, 4u})
    for (std::size_t chunk : {std::size_t{4} << 10, std::size_t{64} << 10}) {
      if (under_valgrind && (threads != 2 || chunk != (std::size_t{4} << 10))) continue;
      INFO("threads " << threads << " chunk " << chunk);
      CHECK(parallel(in, threads, chunk) == ref);
      CHECK(parallel<copied_source>(in, threads, chunk) == ref);
      if (trickle && !under_valgrind) {
        CHECK(parallel<trickle_source>(in, threads, chunk) == ref);
        CHECK(parallel<trickle_view_source>(in, threads, chunk) == ref);
      }
    }
}

}  // namespace

TEST_CASE("parallel gzip: the same bytes as zlib on every kind of deflate data", "[io][compress][gzip]") {
  SECTION("random data (stored blocks)") { check_all_ways(gz(noise(300000, 7)), true); }
  SECTION("text (dynamic blocks, long matches)") { check_all_ways(gz(text(1500000, 3)), false); }
  SECTION("text, small, trickled") { check_all_ways(gz(text(150000, 4)), true); }
  SECTION("gzipped photos") { check_all_ways(gz(photos()), false); }
  SECTION("zeros (1032:1, past the chunk output cap)") { check_all_ways(gz(std::vector<std::byte>(6u << 20)), false); }
  SECTION("fixed-Huffman blocks") { check_all_ways(gz(text(600000, 5), 6, Z_FIXED), false); }
  SECTION("levels 1 and 9") {
    check_all_ways(gz(text(600000, 6), 1), false);
    check_all_ways(gz(photos(), 9), false);
  }
  SECTION("default options") {
    const auto in = gz(text(3000000, 8));
    CHECK(decode_outcome<wds::parallel_gzip_source<wds::memory_source>>(in) == want(in));
  }
}

TEST_CASE("parallel gzip: members, padding and garbage as gzip_source", "[io][compress][gzip]") {
  const auto a = gz(text(200000, 9)), b = gz(noise(100000, 2)), c = gz(photos(), 1);
  std::vector<std::byte> multi = a;
  multi.insert(multi.end(), b.begin(), b.end());
  multi.insert(multi.end(), c.begin(), c.end());
  check_all_ways(multi, false);
  auto padded = a;
  padded.insert(padded.end(), 3000, std::byte{0});
  padded.insert(padded.end(), c.begin(), c.end());
  padded.insert(padded.end(), 17, std::byte{0});
  check_all_ways(padded, true);
  auto garbage = multi;
  for (char ch : std::string("not gzip")) garbage.push_back(std::byte(ch));
  check_all_ways(garbage, false);
  CHECK(want(garbage) == "error 112");
}

TEST_CASE("parallel gzip: truncated and bit-flipped streams are decided as zlib decides", "[io][compress][gzip][bad]") {
  const auto good = gz(text(120000, 11));
  std::size_t errors = 0, total = 0;
  for (std::size_t cut = 0; cut < good.size(); cut += 1 + cut / (under_valgrind ? 2 : 7)) {
    const std::vector<std::byte> v(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    INFO("cut at " << cut);
    const std::string ref = want(v);
    CHECK(parallel(v, 2, 4096) == ref);
    CHECK(parallel<copied_source>(v, 4, 4096) == ref);
    errors += ref.rfind("error", 0) == 0;
    ++total;
  }
  const std::size_t stride = under_valgrind ? 997 : 97;
  for (std::size_t at = 0; at < good.size(); at += (at < 40 || at + 16 > good.size()) ? 1 : stride)
    for (unsigned mask : {0x01u, 0x10u, 0x80u}) {
      auto v = good;
      v[at] ^= std::byte(mask);
      INFO("flip " << mask << " at " << at);
      const std::string ref = want(v);
      CHECK(parallel(v, 2, 4096) == ref);
      CHECK(parallel(v, 4, 8192) == ref);
      errors += ref.rfind("error", 0) == 0;
      ++total;
    }
  CHECK(errors > total / 2);
  // A corrupt byte deep inside a big stream: found by a worker, reported as zlib reports it.
  auto big = gz(text(2000000, 12));
  big[big.size() * 3 / 4] ^= std::byte{0x55};
  CHECK(want(big).rfind("error", 0) == 0);
  CHECK(parallel(big, 4, 65536) == want(big));
  // max_decompressed_size: limit.504 as gzip_source.
  wds::limits lim;
  lim.max_decompressed_size = 700000;
  const auto zeros = gz(std::vector<std::byte>(2u << 20));
  CHECK(want(zeros, lim) == "error 504");
  CHECK(parallel(zeros, 2, 4096, lim) == "error 504");
  CHECK(parallel(big, 2, 4096, lim) == want(big, lim));
}

TEST_CASE("parallel gzip: a block header inside a stored block is a false start, not output",
          "[io][compress][gzip]") {
  // The start of a real deflate stream (a non-final dynamic block header and
  // its data) copied into random bytes every 4 KiB, stored: each chunk
  // boundary is followed by a candidate that decodes and is not a block start.
  const auto donor = gz(text(200000, 13));
  const std::vector<std::byte> fake(donor.begin() + 10, donor.begin() + 1010);
  const auto* f = reinterpret_cast<const std::uint8_t*>(fake.data());
  REQUIRE(wds::detail::pgz::dynamic_header_ok(f, fake.size(), 0, false));
  auto plain = noise(400000, 21);
  for (std::size_t at = 100; at + fake.size() < plain.size(); at += 4096)
    std::copy(fake.begin(), fake.end(), plain.begin() + static_cast<std::ptrdiff_t>(at));
  for (int level : {0, 1, 6}) {
    INFO("level " << level);
    const auto in = gz(plain, level);
    // The finder does take the fake: the first candidate after a chunk start is inside the data.
    const auto* p = reinterpret_cast<const std::uint8_t*>(in.data());
    if (level == 0) {
      const std::uint64_t s = wds::detail::pgz::find_block(p, in.size(), 8192 * 8, in.size() * 8);
      REQUIRE(s != wds::detail::pgz::no_bit);
      CHECK(s % 8 == 0);  // a fake dynamic header, byte aligned as copied, not a stored header
    }
    check_all_ways(in, level == 0);
  }
}

TEST_CASE("parallel gzip: destroyed mid-stream and after an exception", "[io][compress][gzip]") {
  const auto in = gz(text(3000000, 14));
  for (unsigned threads : {2u, 4u}) {
    wds::parallel_gzip_source<wds::memory_source> src(wds::memory_source(in), "x.gz", {}, opts(threads, 16384));
    std::vector<std::byte> buf(100000);
    CHECK(src.read(buf.data(), buf.size()) > 0);
    CHECK(src.decompressed_bytes() > 0);
    CHECK(src.name() == "x.gz");
  }  // workers still busy with later chunks: stopped and joined here
  auto bad = in;
  bad[bad.size() / 2] ^= std::byte{0xff};
  bool threw = false;
  try {
    wds::parallel_gzip_source<wds::memory_source> src(wds::memory_source(bad), "bad.gz", {}, opts(4, 16384));
    std::vector<std::byte> buf(65536);
    while (src.read(buf.data(), buf.size())) {
    }
  } catch (const wds::io_error& e) {
    threw = true;
    CHECK(e.id() == 112);
    CHECK(std::string(e.what()).find("bad.gz") != std::string::npos);
  }
  CHECK(threw);
}
#endif
