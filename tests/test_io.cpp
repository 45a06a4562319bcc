// Sources and sinks: files, fds, streams, atomic outputs, gzip.
#include "catch.hpp"
#include "support.hpp"

#include <wds/open.hpp>
#include <wds/sample.hpp>

#include <sstream>
#include <sys/stat.h>

using wds_test::bytes;
using wds_test::read_file;
using wds_test::text;

namespace {
bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}
std::size_t count_entries(const std::string& dir) {
  return std::stoul(wds_test::run("ls -A '" + dir + "' | wc -l"));
}
std::vector<std::byte> small_archive() {
  wds::tar_writer w(wds::memory_sink{});
  w.write("k1.txt", bytes("one"));
  w.write("k1.cls", bytes("1"));
  w.write("k2.txt", bytes("two"));
  w.finish();
  return w.sink().take();
}
}  // namespace

TEST_CASE("file_sink is atomic", "[io]") {
  wds_test::temp_dir dir;
  const std::string target = dir / "out.tar";
  SECTION("close() renames the temporary into place") {
    wds::file_sink sink(target);
    auto d = bytes("hello");
    sink.write(d.data(), d.size());
    CHECK_FALSE(exists(target));
    CHECK(exists(sink.temporary_path()));
    sink.close();
    CHECK(text(read_file(target)) == "hello");
    CHECK(count_entries(dir.path) == 1);
  }
  SECTION("a sink dropped without close() leaves nothing") {
    {
      wds::file_sink sink(target);
      auto d = bytes("partial");
      sink.write(d.data(), d.size());
    }
    CHECK_FALSE(exists(target));
    CHECK(count_entries(dir.path) == 0);
  }
  SECTION("an existing target stays intact until the new one is complete") {
    wds_test::write_file(target, bytes("old"));
    {
      wds::tar_writer w(wds::file_sink{target});
      w.write("a.txt", bytes("new"));
      // no finish(): an error happened
    }
    CHECK(text(read_file(target)) == "old");
  }
  SECTION("an unwritable directory is an io_error naming the path") {
    try {
      wds::file_sink sink("/nonexistent-dir/x.tar");
      FAIL("expected io_error");
    } catch (const wds::io_error& e) {
      CHECK(e.id() == 103);
      CHECK(e.shard() == "/nonexistent-dir/x.tar");
    }
  }
}

TEST_CASE("file and stream sources read the same samples", "[io]") {
  wds_test::temp_dir dir;
  auto archive = small_archive();
  wds_test::write_file(dir / "s.tar", archive);
  auto keys = [](auto src) {
    std::vector<std::string> k;
    wds::sample_reader r{std::move(src)};
    for (auto& s : r) k.push_back(s.key());
    return k;
  };
  std::vector<std::string> expected = {"k1", "k2"};
  CHECK(keys(wds::file_source(dir / "s.tar")) == expected);
  std::istringstream in(wds_test::text(archive));
  CHECK(keys(wds::istream_source(in)) == expected);
  CHECK(keys(wds::open_input(dir / "s.tar")) == expected);
  try {
    wds::file_source missing(dir / "missing.tar");
    FAIL("expected io_error");
  } catch (const wds::io_error& e) {
    CHECK(e.id() == 100);
    CHECK(std::string(e.what()).find("missing.tar") != std::string::npos);
  }
}

#if WDS_HAS_ZLIB
TEST_CASE("gzip shards read like plain ones", "[io][gzip]") {
  wds_test::temp_dir dir;
  auto archive = small_archive();
  {
    wds::tar_writer w(wds::open_output(dir / "s.tar.gz"));
    w.write("k1.txt", bytes("one"));
    w.write("k1.cls", bytes("1"));
    w.write("k2.txt", bytes("two"));
    w.finish();
  }
  auto gz = read_file(dir / "s.tar.gz");
  REQUIRE(gz.size() > 2);
  CHECK(wds::is_gzip_magic(gz.data(), gz.size()));

  SECTION("detected by magic bytes, whatever the name") {
    wds_test::write_file(dir / "renamed.tar", gz);
    wds::sample_reader r{wds::open_input(dir / "renamed.tar"), "renamed.tar"};
    std::vector<std::string> keys;
    for (auto& s : r) keys.push_back(s.key());
    CHECK(keys == std::vector<std::string>{"k1", "k2"});
  }
  SECTION("GNU gzip reads what we write") {
    if (wds_test::have_command("gzip")) {
      int st = 1;
      wds_test::run("gzip -dc '" + dir.path + "/s.tar.gz' > '" + dir.path + "/plain.tar'", &st);
      CHECK(st == 0);
      CHECK(read_file(dir / "plain.tar") == archive);
    }
  }
  SECTION("concatenated gzip members form one stream") {
    auto twice = gz;
    // Second member: a gzip of nothing but zero bytes is fine after the end blocks.
    twice.insert(twice.end(), gz.begin(), gz.end());
    wds::sample_reader r{wds::gzip_source(wds::memory_source(twice), "twice.tar.gz")};
    int n = 0;
    for (auto& s : r) n += static_cast<int>(s.size());
    CHECK(n == 3);
  }
  SECTION("a truncated stream is an error, even after the tar end marker") {
    for (std::size_t cut : {gz.size() - 4, gz.size() - 1, gz.size() / 2, std::size_t{12}}) {
      INFO("cut at " << cut);
      std::vector<std::byte> t(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(cut));
      wds::sample_reader r{wds::gzip_source(wds::memory_source(t), "t.tar.gz")};
      try {
        while (r.next()) {
        }
        FAIL("expected an error");
      } catch (const wds::error& e) {
        CHECK(e.shard() == "t.tar.gz");
      }
    }
  }
  SECTION("a corrupt CRC trailer is an error") {
    auto bad = gz;
    bad[bad.size() - 6] ^= std::byte{0x55};
    wds::sample_reader r{wds::gzip_source(wds::memory_source(bad), "bad.tar.gz")};
    try {
      while (r.next()) {
      }
      FAIL("expected an error");
    } catch (const wds::io_error& e) {
      CHECK(e.id() == 112);
    }
  }
  SECTION("trailing garbage after the end marker is a warning, as in Python and gzip -d") {
    for (const std::string& tail : {std::string("garbage"), std::string("\0\0\0x", 4)}) {
      auto bad = gz;
      for (char c : tail) bad.push_back(static_cast<std::byte>(c));
      const auto before = wds::trailing_garbage_warnings();
      wds::sample_reader r{wds::gzip_source(wds::memory_source(bad), "g.tar.gz")};
      int n = 0;
      while (auto s = r.next()) n += static_cast<int>(s->size());
      CHECK(n == 3);
      CHECK(wds::trailing_garbage_warnings() == before + 1);
    }
  }
  SECTION("garbage inside the archive (before its end marker) is an error") {
    std::vector<std::byte> head(archive.begin(), archive.begin() + 1024);  // k1.txt only
    wds::gzip_sink<wds::memory_sink> z{wds::memory_sink{}};
    z.write(head.data(), head.size());
    z.close();
    auto bad = z.inner().take();
    for (char c : std::string("garbage")) bad.push_back(static_cast<std::byte>(c));
    wds::sample_reader r{wds::gzip_source(wds::memory_source(bad), "g.tar.gz")};
    try {
      while (r.next()) {
      }
      FAIL("expected an error");
    } catch (const wds::io_error& e) {
      CHECK(e.id() == 112);
    }
  }
  SECTION("a decompressed-size limit stops a bomb") {
    wds::limits lim;
    lim.max_decompressed_size = 1000;
    wds::sample_reader r{wds::gzip_source(wds::memory_source(gz), "b.tar.gz", lim)};
    CHECK_THROWS_AS([&] { while (r.next()) {} }(), wds::limit_error);
  }
}
#else
TEST_CASE("gzip input without zlib is a clear error", "[io][gzip]") {
  const std::vector<std::byte> gz = {std::byte{0x1f}, std::byte{0x8b}, std::byte{8}};
  wds_test::temp_dir dir;
  wds_test::write_file(dir / "x.tar.gz", gz);
  CHECK_THROWS_AS(wds::open_input(dir / "x.tar.gz"), wds::io_error);
}
#endif
