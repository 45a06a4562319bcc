// Compressed shards: .tar.bz2, .tar.xz, .tar.zst read by magic and written by
// name, against archives made by the real tools and Python's tarfile
// (tests/golden/gen_compress.py).
#include "catch.hpp"
#include "support.hpp"

#include <wds/open.hpp>
#include <wds/sample.hpp>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

using wds_test::bytes;
using wds_test::read_file;

namespace {

std::string golden(const std::string& name) { return wds_test::data_path("compress/" + name); }

// Everything a source yields, with its end verified.
template <class Source>
std::vector<std::byte> drain(Source&& src) {
  return wds_test::drain_verified(src);
}

// (name, size) of every member a tar_reader yields.
std::vector<std::pair<std::string, std::uint64_t>> members(wds::any_source src) {
  wds::tar_reader r(std::move(src));
  std::vector<std::pair<std::string, std::uint64_t>> out;
  while (const wds::tar_member* m = r.next()) {
    out.emplace_back(m->name, m->size);
    r.payload();
  }
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> python_members() {
  std::ifstream in(golden("members.txt"));
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::string hex;
  std::uint64_t size = 0;
  while (in >> hex >> size) {
    std::string name;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) name += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    out.emplace_back(name, size);
  }
  return out;
}

struct codec_case {
  const char* ext;       // file name suffix
  wds::compression c;
  const char* tool;      // CLI that decompresses to stdout
  std::vector<const char*> extra_goldens;
};

std::vector<codec_case> codecs() {
  std::vector<codec_case> v;
  if (wds::compression_available(wds::compression::bzip2))
    v.push_back({"bz2", wds::compression::bzip2, "bzip2 -dc", {"py.tar.bz2"}});
  if (wds::compression_available(wds::compression::xz))
    v.push_back({"xz", wds::compression::xz, "xz -dc", {"py.tar.xz", "pad.tar.xz"}});
  if (wds::compression_available(wds::compression::zstd))
    v.push_back({"zst", wds::compression::zstd, "zstd -q -dc", {"skip.tar.zst"}});
  return v;
}

void write_bytes(const std::string& path, const std::vector<std::byte>& b) { wds_test::write_file(path, b); }

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Reads every sample; returns the error id (0 when it all went through).
int read_all(const std::string& path, const wds::limits& lim = {}) {
  try {
    wds::sample_reader r(wds::open_input(path, lim), path, lim);
    while (r.next()) {
    }
    return 0;
  } catch (const wds::error& e) {
    return e.id();
  }
}

}  // namespace

TEST_CASE("compressed shards decompress byte-identically to the tools' input", "[io][compress][golden]") {
  const auto plain = read_file(golden("py.tar"));
  const auto expected = python_members();
  REQUIRE(expected.size() == 7);
  CHECK(members(wds::open_input(golden("py.tar"))) == expected);
  for (const auto& cc : codecs()) {
    std::vector<std::string> files = {std::string("cli.tar.") + cc.ext, std::string("cat.tar.") + cc.ext};
    for (const char* g : cc.extra_goldens) files.emplace_back(g);
    for (const auto& f : files) {
      INFO(f);
      auto in = wds::open_input(golden(f));
      CHECK(drain(in) == plain);
      CHECK(members(wds::open_input(golden(f))) == expected);  // Python tarfile's view
    }
  }
}

TEST_CASE("compressed output is chosen by name and read back by the tools", "[io][compress][golden]") {
  const auto plain = read_file(golden("py.tar"));
  wds_test::temp_dir dir;
  CHECK(wds::compression_for_name("a.tar.bz2") == wds::compression::bzip2);
  CHECK(wds::compression_for_name("a.tbz2") == wds::compression::bzip2);
  CHECK(wds::compression_for_name("a.tar.xz") == wds::compression::xz);
  CHECK(wds::compression_for_name("a.txz") == wds::compression::xz);
  CHECK(wds::compression_for_name("a.tar.zst") == wds::compression::zstd);
  CHECK(wds::compression_for_name("a.tar.gz") == wds::compression::gzip);
  CHECK(wds::compression_for_name("a.tar") == wds::compression::none);
  CHECK(wds::compression_for_name("a.tar.zstd") == wds::compression::none);
  for (const auto& cc : codecs()) {
    INFO(cc.ext);
    const std::string out = dir / (std::string("o.tar.") + cc.ext);
    {
      wds::any_sink s = wds::open_output(out);
      s.write(plain.data(), plain.size());
      s.close();
    }
    const auto ours = read_file(out);
    REQUIRE(ours.size() > 6);
    CHECK(wds::detect_compression(ours.data(), ours.size()) == cc.c);
    // Same library, same defaults: the very bytes Python's tarfile and the CLIs write.
    if (cc.c == wds::compression::bzip2) CHECK(ours == read_file(golden("py.tar.bz2")));
    if (cc.c == wds::compression::xz) CHECK(ours == read_file(golden("py.tar.xz")));
    if (cc.c == wds::compression::zstd) CHECK(ours == read_file(golden("cli.tar.zst")));
    const std::string tool = std::string(cc.tool).substr(0, std::string(cc.tool).find(' '));
    if (wds_test::have_command(tool)) {
      int st = 1;
      wds_test::run(std::string(cc.tool) + " '" + out + "' > '" + dir.path + "/back.tar'", &st);
      CHECK(st == 0);
      CHECK(read_file(dir / "back.tar") == plain);
    }
    // Atomic: an output dropped before close() leaves nothing behind.
    const std::string partial = dir / (std::string("partial.tar.") + cc.ext);
    {
      wds::tar_writer w(wds::open_output(partial));
      w.write("a.txt", bytes("data"));
    }
    struct stat st {};
    CHECK(::stat(partial.c_str(), &st) != 0);
  }
}

TEST_CASE("compressed shards: truncation, corruption and garbage", "[io][compress][bad]") {
  wds_test::temp_dir dir;
  for (const auto& cc : codecs()) {
    INFO(cc.ext);
    const auto z = read_file(golden(std::string("cli.tar.") + cc.ext));
    SECTION(std::string("truncated anywhere is an error: ") + cc.ext) {
      for (std::size_t cut : {std::size_t{7}, z.size() / 3, z.size() / 2, z.size() - 5, z.size() - 1}) {
        INFO("cut at " << cut);
        write_bytes(dir / "t", std::vector<std::byte>(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(cut)));
        const int id = read_all(dir / "t");
        CHECK(id != 0);
        CHECK((id == 111 || id == 112 || id / 100 == 2));  // io truncated/corrupt, or a tar error
      }
    }
    SECTION(std::string("a flipped byte is an error: ") + cc.ext) {
      int failures = 0;
      for (std::size_t at = 10; at < z.size(); at += z.size() / 7) {
        auto bad = z;
        bad[at] ^= std::byte{0x40};
        write_bytes(dir / "c", bad);
        failures += read_all(dir / "c") != 0;
      }
      CHECK(failures >= 6);  // checksums catch what the decoder does not
    }
    SECTION(std::string("garbage after the end marker is a warning: ") + cc.ext) {
      write_bytes(dir / "g", concat(z, bytes("garbage!")));
      const auto before = wds::trailing_garbage_warnings();
      CHECK(read_all(dir / "g") == 0);
      CHECK(wds::trailing_garbage_warnings() == before + 1);
    }
    SECTION(std::string("garbage inside the archive is an error: ") + cc.ext) {
      const auto plain = read_file(golden("py.tar"));
      std::vector<std::byte> head(plain.begin(), plain.begin() + 3000);
      wds::any_sink s = wds::open_output(dir / (std::string("h.") + cc.ext));
      s.write(head.data(), head.size());
      s.close();
      write_bytes(dir / "i", concat(read_file(dir / (std::string("h.") + cc.ext)), bytes("garbage! and more")));
      CHECK(read_all(dir / "i") == 112);
    }
  }
}

TEST_CASE("compressed shards: bombs are bounded by the limits", "[io][compress][bad]") {
  wds_test::temp_dir dir;
  for (const auto& cc : codecs()) {
    INFO(cc.ext);
    // 64 MiB of zeros in one member compresses to a few KiB.
    const std::string path = dir / (std::string("bomb.tar.") + cc.ext);
    {
      wds::tar_writer w(wds::open_output(path));
      w.begin("zeros.bin", std::uint64_t{64} << 20);
      std::vector<std::byte> mb(std::size_t{1} << 20);
      for (int i = 0; i < 64; ++i) w.write_data(mb.data(), mb.size());
      w.end();
      w.finish();
    }
    wds::limits lim;
    lim.max_decompressed_size = std::uint64_t{8} << 20;
    CHECK(read_all(path, lim) == 504);
    lim = {};
    lim.max_member_size = std::uint64_t{1} << 20;
    CHECK(read_all(path, lim) == 502);
  }
  if (wds::compression_available(wds::compression::xz)) {
    CHECK(read_all(golden("bomb-dict.xz")) == 505);
    wds::limits big;
    big.max_decoder_memory = std::uint64_t{2} << 30;
    auto in = wds::open_input(golden("bomb-dict.xz"), big);
    CHECK(wds_test::text(drain(in)) == "small");
  }
  if (wds::compression_available(wds::compression::zstd)) {
    CHECK(read_all(golden("bomb-window.zst")) == 505);
  }
}

TEST_CASE("compression detection by magic bytes", "[io][compress]") {
  auto detect = [](std::string_view s) {
    return wds::detect_compression(reinterpret_cast<const std::byte*>(s.data()), s.size());
  };
  CHECK(detect("\x1f\x8b\x08") == wds::compression::gzip);
  CHECK(detect("BZh91AY&SY") == wds::compression::bzip2);
  CHECK(detect("BZh1\x17\x72\x45\x38\x50\x90") == wds::compression::bzip2);  // empty stream
  CHECK(detect("BZh9x.txt\0\0") == wds::compression::none);  // a tar member named so
  CHECK(detect(std::string_view("\xfd" "7zXZ\0", 6)) == wds::compression::xz);
  CHECK(detect("\x28\xb5\x2f\xfd") == wds::compression::zstd);
  CHECK(detect("\x5a\x2a\x4d\x18") == wds::compression::zstd);
  CHECK(detect("ustar") == wds::compression::none);
  // A plain tar whose first member is named like bzip2 magic stays a tar.
  wds_test::temp_dir dir;
  {
    wds::tar_writer w(wds::file_sink(dir / "p.tar"));
    w.write("BZh9.jpg", bytes("x"));
    w.finish();
  }
  CHECK(members(wds::open_input(dir / "p.tar")).size() == 1);
}

TEST_CASE("a build without a codec says so", "[io][compress]") {
  wds_test::temp_dir dir;
  for (auto c : {wds::compression::bzip2, wds::compression::xz, wds::compression::zstd}) {
    if (wds::compression_available(c)) continue;
    const std::string out = dir / (std::string("x.tar.") + (c == wds::compression::bzip2 ? "bz2" : c == wds::compression::xz ? "xz" : "zst"));
    try {
      wds::open_output(out);
      FAIL("expected io.115");
    } catch (const wds::io_error& e) {
      CHECK(e.id() == 115);
      CHECK(std::string(e.what()).find(std::string("this build has no ") + wds::compression_name(c) + " support") !=
            std::string::npos);
    }
  }
  const std::string xz = golden("cli.tar.xz");
  if (!wds::compression_available(wds::compression::xz)) {
    try {
      wds::open_input(xz);
      FAIL("expected io.115");
    } catch (const wds::io_error& e) {
      CHECK(e.id() == 115);
      CHECK(std::string(e.what()).find("this build has no xz support") != std::string::npos);
    }
  }
}

#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>

using wds_test::copied_source;
using wds_test::trickle_source;
using wds_test::trickle_view_source;
template <class Source, class Input = wds::memory_source>
std::string gzip_outcome(const std::vector<std::byte>& in) {
  return wds_test::decode_outcome<Source, Input>(in);
}

TEST_CASE("gzip input: the configured inflate (ISA-L when built in) decides as zlib does", "[io][compress][gzip][bad]") {
  INFO("gzip_source inflates with " << (wds::config::has_isal ? "ISA-L" : "zlib"));
  // Inputs: the hostile corpus's gzip files, the golden .tar.gz, and corrupted
  // variants of one (every header byte, bytes across the deflate data, the
  // trailer, truncations), each decided by both inflates.
  std::vector<std::vector<std::byte>> inputs;
  for (const char* name : {"bad-crc.tar.gz", "bad-length.tar.gz", "junk-after-end.tar.gz",
                           "not-gzip-after-magic.tar.gz", "truncated-trailer.tar.gz", "truncated.tar.gz"})
    inputs.push_back(read_file(wds_test::data_path(std::string("bad/") + name)));
  std::vector<std::byte> plain(40000);  // small: this runs under valgrind too
  std::uint32_t seed = 1;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    seed = seed * 1103515245u + 12345u;
    plain[i] = std::byte((i % 1000) < 600 ? (i % 17) : (seed >> 24));  // compressible runs and noise
  }
  wds::gzip_sink<wds::memory_sink> z{wds::memory_sink{}};
  z.write(plain.data(), plain.size());
  z.close();
  const auto good = z.inner().take();
  inputs.push_back(good);
  auto twice = good;
  twice.insert(twice.end(), good.begin(), good.end());
  inputs.push_back(twice);
  for (std::size_t at = 0; at < good.size(); at += (at < 32 || at + 16 > good.size()) ? 1 : 61)
    for (unsigned mask : {0x01u, 0x80u, 0xffu}) {
      auto v = good;
      v[at] ^= std::byte(mask);
      inputs.push_back(std::move(v));
    }
  for (std::size_t cut : {std::size_t(1), std::size_t(9), std::size_t(10), good.size() / 2, good.size() - 8,
                          good.size() - 1})
    inputs.emplace_back(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
  std::size_t errors = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("input " << i << " of " << inputs.size());
    const std::string want = gzip_outcome<wds::zlib_gzip_source<wds::memory_source>>(inputs[i]);
    CHECK(gzip_outcome<wds::gzip_source<wds::memory_source>>(inputs[i]) == want);
    CHECK(gzip_outcome<wds::gzip_source<copied_source>, copied_source>(inputs[i]) == want);
    CHECK(gzip_outcome<wds::zlib_gzip_source<copied_source>, copied_source>(inputs[i]) == want);
    if (i % 4 == 0) {  // a quarter of them also split into tiny reads
      CHECK(gzip_outcome<wds::gzip_source<trickle_source>, trickle_source>(inputs[i]) == want);
      CHECK(gzip_outcome<wds::gzip_source<trickle_view_source>, trickle_view_source>(inputs[i]) == want);
      CHECK(gzip_outcome<wds::zlib_gzip_source<trickle_view_source>, trickle_view_source>(inputs[i]) == want);
    }
    errors += want.rfind("error", 0) == 0;
  }
  // A header with FNAME, FEXTRA, FCOMMENT and FHCRC-less fields, split anywhere (ISA-L
  // alone misreads one split inside FNAME; the decoder gathers the header first).
  {
    std::vector<std::byte> named = {std::byte{0x1f}, std::byte{0x8b}, std::byte{8}, std::byte{4 | 8 | 16}};
    for (int k = 0; k < 6; ++k) named.push_back(std::byte{0});
    for (int b : std::initializer_list<int>{3, 0, 'a', 'b', 'c'}) named.push_back(std::byte(b));  // FEXTRA: XLEN 3
    for (char c : std::string("pets-small.tar")) named.push_back(std::byte(c));  // FNAME
    named.push_back(std::byte{0});
    for (char c : std::string("a comment")) named.push_back(std::byte(c));       // FCOMMENT
    named.push_back(std::byte{0});
    named.insert(named.end(), good.begin() + 10, good.end());
    const std::string want = gzip_outcome<wds::zlib_gzip_source<wds::memory_source>>(named);
    CHECK(want.rfind("ok ", 0) == 0);
    CHECK(gzip_outcome<wds::gzip_source<wds::memory_source>>(named) == want);
    CHECK(gzip_outcome<wds::gzip_source<trickle_source>, trickle_source>(named) == want);
    CHECK(gzip_outcome<wds::gzip_source<trickle_view_source>, trickle_view_source>(named) == want);
  }
  CHECK(gzip_outcome<wds::gzip_source<wds::memory_source>>(good) ==
        "ok " + std::to_string(plain.size()) + " " + std::to_string(wds_test::fnv1a64(plain.data(), plain.size())));
  CHECK(errors > inputs.size() / 2);  // the variants are mostly refused, not silently accepted
}
#endif
