// SPDX-License-Identifier: MIT
// What a reader says when the input is not a tar at all (tar.207) or is empty
// (tar.208), as Python's tarfile: "ReadError: empty file".
#include "catch.hpp"
#include "support.hpp"

#include <wds/io.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>

#include <string>
#include <vector>

namespace {

std::size_t count_members(const std::vector<std::byte>& data, wds::tar_reader_options opts = {}) {
  wds::tar_reader r(wds::memory_source(data.data(), data.size()), "in.tar", {}, opts);
  std::size_t n = 0;
  while (r.next()) ++n;
  return n;
}

wds::tar_error error_of(const std::vector<std::byte>& data) {
  try {
    count_members(data);
  } catch (const wds::tar_error& e) {
    return e;
  }
  FAIL("no tar_error");
  throw;
}

}  // namespace

TEST_CASE("tar reader: a text file is 'not a tar archive' (tar.207)", "[tar][bad]") {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "This is a README, not a shard. Line " + std::to_string(i) + "\n";
  auto e = error_of(wds_test::bytes(text));
  CHECK(e.id() == 207);
  CHECK(e.offset() == 0);
  CHECK(std::string(e.what()) ==
        "[wds.tar.207] \"in.tar\" at byte 0: not a tar archive: first header has no ustar magic and no number "
        "in its checksum field");
}

TEST_CASE("tar reader: a JPEG named .tar is 'not a tar archive' (tar.207)", "[tar][bad]") {
  auto jpeg = wds_test::read_file(wds_test::data_path("codecs/chelsea_q95.jpg"));
  auto e = error_of(jpeg);
  CHECK(e.id() == 207);
  CHECK(std::string(e.what()).find("not a tar archive: first header has no ustar magic") != std::string::npos);
}

TEST_CASE("tar reader: a checksum that parses but is wrong, without ustar magic, is tar.207", "[tar][bad]") {
  std::vector<std::byte> block(1536, std::byte{0});
  const std::string name = "notes.txt";
  for (std::size_t i = 0; i < name.size(); ++i) block[i] = std::byte(name[i]);
  const char* chk = "0000017\0";  // a number, but not the sum
  for (int i = 0; i < 8; ++i) block[148 + std::size_t(i)] = std::byte(chk[i]);
  auto e = error_of(block);
  CHECK(e.id() == 207);
  CHECK(std::string(e.what()).find("no ustar magic and a bad checksum (stored 15, computed") != std::string::npos);
}

TEST_CASE("tar reader: a bad checksum in a ustar header or later in the archive stays tar.203", "[tar][bad]") {
  std::vector<std::byte> a;
  {
    wds::memory_sink sink;
    wds::tar_writer w(std::move(sink));
    w.write("a.txt", std::string_view("hello"));
    w.write("b.txt", std::string_view("world"));
    w.finish();
    a = w.sink().take();
  }
  auto first = a;
  first[10] = std::byte{'X'};  // the header keeps its ustar magic
  CHECK(error_of(first).id() == 203);
  auto second = a;
  for (std::size_t i = 1024; i < 1536; ++i) second[i] = std::byte{'x'};  // garbage, no magic, not at 0
  CHECK(error_of(second).id() == 204);
}

TEST_CASE("tar reader: a 0-byte input is tar.208 unless allow_empty", "[tar][bad]") {
  const std::vector<std::byte> empty;
  auto e = error_of(empty);
  CHECK(e.id() == 208);
  CHECK(std::string(e.what()) == "[wds.tar.208] \"in.tar\" at byte 0: empty file (0 bytes)");
  wds::tar_reader_options opts;
  opts.allow_empty = true;
  CHECK(count_members(empty, opts) == 0);
  // End-of-archive blocks alone are a valid empty archive (what tar_writer writes).
  CHECK(count_members(std::vector<std::byte>(10240)) == 0);

  wds::sample_reader_options so;
  so.allow_empty = true;
  wds::sample_reader samples(wds::memory_source(empty.data(), empty.size()), "in.tar", {}, so);
  CHECK(!samples.next());
  wds::sample_reader strict(wds::memory_source(empty.data(), empty.size()), "in.tar");
  CHECK_THROWS_AS(strict.next(), wds::tar_error);
}
