// Tar reader/writer: round trips, interop with GNU tar, bsdtar and Python
// tarfile (golden archives from tests/golden/gen_tar.py), and bad input.
#include "catch.hpp"
#include "support.hpp"

#include <wds/tar.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

using wds_test::bytes;
using wds_test::data_path;
using wds_test::read_file;
using wds_test::text;

namespace {

std::vector<std::byte> pattern(const std::string& name, std::size_t size) {
  std::vector<std::byte> out(size);
  for (std::size_t j = 0; j < size; ++j) out[j] = static_cast<std::byte>((j * 7 + name.size()) & 255);
  return out;
}

using member_list = std::vector<std::pair<std::string, std::vector<std::byte>>>;

member_list read_all(const std::vector<std::byte>& archive, wds::limits lim = {}) {
  wds::tar_reader reader(wds::memory_source(archive), "test.tar", lim);
  member_list out;
  while (const wds::tar_member* m = reader.next()) out.emplace_back(m->name, reader.payload().to_vector());
  return out;
}

std::vector<std::byte> write_all(const member_list& members, wds::tar_writer_options opts = {}) {
  wds::tar_writer writer(wds::memory_sink{}, opts);
  for (const auto& [name, data] : members) writer.write(name, data);
  writer.finish();
  return writer.sink().take();
}

// Expects a wds::error of type E whose message contains `fragment`; returns it.
template <class E, class F>
E expect_error(F&& f, const std::string& fragment) {
  try {
    f();
  } catch (const E& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    return e;
  }
  FAIL("expected an exception containing: " << fragment);
  throw;  // unreachable
}

std::vector<std::byte> one_member_archive(const std::string& name, std::size_t size) {
  return write_all({{name, pattern(name, size)}});
}

void fix_checksum(std::byte* h) {
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(h[i]);
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  std::memcpy(h + 148, chk, 7);
}

}  // namespace

TEST_CASE("tar round trip: sizes and names", "[tar]") {
  member_list members;
  for (std::size_t size : {0, 1, 511, 512, 513, 1024, 10240, 100000}) {
    std::string name = "size" + std::to_string(size) + ".bin";
    members.emplace_back(name, pattern(name, size));
  }
  for (std::size_t len : {99, 100, 101, 155, 156, 255, 256, 1000}) {
    std::string name(len - 4, 'n');
    name += ".txt";
    if (len >= 200) name.replace(50, 1, "/");  // a path with directories
    members.emplace_back(name, pattern(name, len));
  }
  members.emplace_back("données/été/résumé.txt", bytes("utf8"));
  members.emplace_back("日本語/テスト.json", bytes("{}"));
  members.emplace_back(std::string("raw\xff\xfe/bytes.bin"), bytes("not utf-8"));

  auto archive = write_all(members);
  CHECK(archive.size() % 10240 == 0);
  CHECK(read_all(archive) == members);

  SECTION("empty archive is two zero blocks padded to a record") {
    auto empty = write_all({});
    CHECK(empty.size() == 10240);
    CHECK(read_all(empty).empty());
  }
  SECTION("no record padding when asked") {
    wds::tar_writer_options opts;
    opts.record_size = 0;
    auto a = write_all({{"a.txt", bytes("x")}}, opts);
    CHECK(a.size() == 512 * 4);
  }
}

TEST_CASE("tar writer is byte-identical to Python tarfile (webdataset TarWriter)", "[tar][golden]") {
  member_list members = {
      {"a.jpg", bytes("hello")},
      {std::string(120, 'x') + ".cls", bytes("1")},
      {"déjà/b.txt", std::vector<std::byte>(513, std::byte{'z'})},
      {"bad\xff/b.txt", std::vector<std::byte>(512, std::byte{'z'})},
      {std::string(99, 'y'), {}},
  };
  std::vector<std::byte> ramp;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 256; ++i) ramp.push_back(static_cast<std::byte>(i));
  members.emplace_back("k.seg.png", ramp);
  CHECK(write_all(members) == read_file(data_path("tar/python-written.tar")));
  CHECK(read_all(read_file(data_path("tar/python-written.tar"))) == members);
}

TEST_CASE("tar reader: archives from GNU tar, bsdtar and Python tarfile", "[tar][golden]") {
  for (const char* set : {"basic", "long"}) {
    std::vector<std::pair<std::string, std::size_t>> expected;
    std::ifstream mf(data_path(std::string("tar/interop/MANIFEST-") + set + ".txt"));
    std::string hex;
    std::size_t size = 0;
    while (mf >> hex >> size) expected.emplace_back(wds_test::from_hex(hex), size);
    REQUIRE(expected.size() > 5);

    std::vector<std::string> archives = {"gnu-gnu", "gnu-posix", "bsdtar-default", "bsdtar-pax", "python-pax",
                                         "python-gnu"};
    if (std::string(set) == "basic")
      for (const char* a : {"gnu-ustar", "gnu-v7", "python-ustar"}) archives.emplace_back(a);
    for (const auto& a : archives) {
      std::string file = "tar/interop/" + a + "-" + set + ".tar";
      INFO(file);
      auto got = read_all(read_file(data_path(file)));
      std::map<std::string, std::vector<std::byte>> by_name(got.begin(), got.end());
      CHECK(by_name.size() == got.size());
      CHECK(got.size() == expected.size());
      for (const auto& [name, sz] : expected) {
        INFO(name);
        auto it = by_name.find(name);
        REQUIRE(it != by_name.end());
        // hard.bin is the first name of a hard-linked pair; its content is one.bin's.
        CHECK(it->second == pattern(name == "hard.bin" ? "one.bin" : name, sz));
      }
    }
  }
}

TEST_CASE("tar reader: member metadata", "[tar]") {
  wds::tar_writer_options opts;
  opts.mtime = 1700000000;
  opts.mode = 0640;
  opts.uid = 1000;
  opts.gid = 100;
  opts.uname = "alice";
  opts.gname = "staff";
  auto a = write_all({{"m.txt", bytes("abc")}}, opts);
  wds::tar_reader r{wds::memory_source(a)};
  const wds::tar_member* m = r.next();
  REQUIRE(m);
  CHECK(m->name == "m.txt");
  CHECK(m->size == 3);
  CHECK(m->mtime == 1700000000);
  CHECK(m->mode == 0640);
  CHECK(m->uid == 1000);
  CHECK(m->gid == 100);
  CHECK(m->uname == "alice");
  CHECK(m->gname == "staff");
  CHECK(m->header_offset == 0);
  CHECK(m->data_offset == 512);
  CHECK(r.next() == nullptr);
  CHECK(r.next() == nullptr);  // stays at the end
}

TEST_CASE("tar reader: streaming a payload in chunks", "[tar]") {
  auto payload = pattern("big.bin", 3 * 1024 * 1024 + 17);
  auto a = write_all({{"big.bin", payload}, {"after.txt", bytes("tail")}});
  wds::tar_reader r{wds::memory_source(a)};
  REQUIRE(r.next());
  std::vector<std::byte> got;
  std::byte chunk[4096];
  while (std::size_t n = r.read(chunk, sizeof chunk)) got.insert(got.end(), chunk, chunk + n);
  CHECK(got == payload);
  const wds::tar_member* m = r.next();
  REQUIRE(m);
  CHECK(m->name == "after.txt");
  CHECK(r.payload().text() == "tail");
  SECTION("an unread payload is skipped by next()") {
    wds::tar_reader r2{wds::memory_source(a)};
    REQUIRE(r2.next());
    REQUIRE(r2.next());
    CHECK(r2.current()->name == "after.txt");
  }
}

TEST_CASE("tar reader: payloads across the read buffer's end", "[tar]") {
  // 700 KB, then 600 KB across the 1 MiB buffer's end (moved to its front
  // and completed there), a small one, one larger than the buffer (copied).
  const member_list members = {{"a.bin", pattern("a.bin", 700000)},
                               {"b.bin", pattern("b.bin", 600000)},
                               {"c.txt", pattern("c.txt", 5000)},
                               {"d.bin", pattern("d.bin", (1 << 20) + 10)},
                               {"e.bin", pattern("e.bin", 900000)}};
  const auto a = write_all(members);
  CHECK(read_all(a) == members);
  SECTION("a source that returns little per read") {
    struct dribble {
      const std::vector<std::byte>* b;
      std::size_t pos = 0;
      std::size_t read(std::byte* dst, std::size_t n) {
        n = std::min({n, std::size_t(99999), b->size() - pos});
        std::memcpy(dst, b->data() + pos, n);
        pos += n;
        return n;
      }
    };
    wds::tar_reader r(dribble{&a}, "d.tar");
    member_list got;
    while (const wds::tar_member* m = r.next()) got.emplace_back(m->name, r.payload().to_vector());
    CHECK(got == members);
  }
  SECTION("cut inside the member across the buffer's end") {
    // b.bin's data starts after a's header, data (padded to 700416) and b's header.
    const std::size_t b_data = 512 + 700416 + 512, cut = b_data + 400000;
    const std::vector<std::byte> cut_a(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(cut));
    wds::tar_reader r(wds::memory_source(cut_a), "cut.tar");
    REQUIRE(r.next());
    (void)r.payload();
    REQUIRE(r.next());
    const auto e = expect_error<wds::tar_error>([&] { (void)r.payload(); }, "truncated payload: 200000 bytes missing");
    CHECK(e.id() == 202);
    CHECK(e.offset() == cut);
  }
}

namespace {
// Produces a header, then `size` virtual payload bytes, padding, end blocks.
class synthetic_source {
 public:
  synthetic_source(std::vector<std::byte> header, std::uint64_t size) : head_(std::move(header)) {
    std::uint64_t pad = (512 - size % 512) % 512;
    total_ = head_.size() + size + pad + 1024;
  }
  std::size_t read(std::byte* dst, std::size_t n) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, total_ - pos_));
    for (std::size_t i = 0; i < k;) {
      if (pos_ < head_.size()) {
        std::size_t c = std::min<std::size_t>(k - i, head_.size() - pos_);
        std::memcpy(dst + i, head_.data() + pos_, c);
        i += c;
        pos_ += c;
      } else {
        std::memset(dst + i, 0, k - i);
        pos_ += k - i;
        i = k;
      }
    }
    return k;
  }

 private:
  std::vector<std::byte> head_;
  std::uint64_t total_, pos_ = 0;
};
}  // namespace

TEST_CASE("tar: sizes of 8 GiB and more (pax and GNU base-256)", "[tar][golden]") {
  const std::uint64_t big = 8ull * 1024 * 1024 * 1024 + 3;
  for (const char* fmt : {"pax", "gnu"}) {
    INFO(fmt);
    auto header = read_file(data_path(std::string("tar/headers/size8g-") + fmt + ".bin"));
    wds::tar_reader r(synthetic_source(header, big), "big.tar");
    const wds::tar_member* m = r.next();
    REQUIRE(m);
    CHECK(m->name == "big.bin");
    CHECK(m->size == big);
    CHECK_THROWS_AS(r.payload(), wds::limit_error);  // larger than max_member_size
    CHECK(r.next() == nullptr);                        // skipped by reading through
  }
  SECTION("our writer emits Python's pax header for it") {
    wds::tar_writer w(wds::memory_sink{});
    w.begin("big.bin", big);
    CHECK(w.sink().bytes() == read_file(data_path("tar/headers/size8g-pax.bin")));
  }
}

TEST_CASE("tar reader: non-regular members are skipped", "[tar]") {
  // Hand-made: a directory, a symlink and a FIFO between two files.
  auto a = write_all({{"a.txt", bytes("1")}, {"dir/", {}}, {"l", {}}, {"f", {}}, {"b.txt", bytes("2")}});
  // Retype members 2..4 (each 1 header block + no payload) and fix their checksums.
  const char types[] = {'5', '2', '6'};
  for (int i = 0; i < 3; ++i) {
    std::byte* h = a.data() + 1024 + 512 * i;
    h[156] = static_cast<std::byte>(types[i]);
    fix_checksum(h);
  }
  auto got = read_all(a);
  REQUIRE(got.size() == 2);
  CHECK(got[0].first == "a.txt");
  CHECK(got[1].first == "b.txt");
}

TEST_CASE("tar reader: missing end marker at EOF is accepted like GNU tar", "[tar]") {
  auto a = one_member_archive("a.txt", 700);
  a.resize(512 + 1024);  // header + padded payload, no end blocks
  auto got = read_all(a);
  REQUIRE(got.size() == 1);
  CHECK(got[0].second == pattern("a.txt", 700));
  CHECK(read_all(std::vector<std::byte>(1024)).empty());  // end blocks alone: an empty archive
}

TEST_CASE("tar reader: bad input gives wds errors with offsets", "[tar][bad]") {
  auto good = write_all({{"first.txt", bytes("ok")}, {"second.bin", pattern("second.bin", 1000)}});
  const std::size_t second = 1024;  // header offset of the second member

  SECTION("truncated header") {
    auto a = good;
    a.resize(second + 100);
    auto e = expect_error<wds::tar_error>([&] { read_all(a); }, "truncated header");
    CHECK(e.id() == 201);
    CHECK(e.offset() == second);
    CHECK(e.shard() == "test.tar");
  }
  SECTION("truncated payload") {
    auto a = good;
    a.resize(second + 512 + 300);
    auto e = expect_error<wds::tar_error>([&] { read_all(a); }, "truncated payload");
    CHECK(e.id() == 202);
    CHECK(e.member() == "second.bin");
    CHECK(std::string(e.what()).find("\"test.tar\" member \"second.bin\" at byte") != std::string::npos);
  }
  SECTION("bad checksum") {
    auto a = good;
    a[second + 10] = std::byte{'X'};
    auto e = expect_error<wds::tar_error>([&] { read_all(a); }, "bad header checksum");
    CHECK(e.id() == 203);
    CHECK(e.offset() == second);
  }
  SECTION("garbage in the size field") {
    auto a = good;
    std::memcpy(a.data() + second + 124, "12x4567", 7);
    fix_checksum(a.data() + second);
    auto e = expect_error<wds::tar_error>([&] { read_all(a); }, "bad number in size field");
    CHECK(e.id() == 204);
  }
  SECTION("negative base-256 size") {
    auto a = good;
    std::memset(a.data() + second + 124, 0xff, 12);
    fix_checksum(a.data() + second);
    auto e = expect_error<wds::tar_error>([&] { read_all(a); }, "negative size");
    CHECK(e.id() == 204);
  }
  SECTION("base-256 size of 2^63 and more") {
    auto a = good;
    std::byte* f = a.data() + second + 124;
    std::memset(f, 0, 12);
    f[0] = std::byte{0x80};
    f[4] = std::byte{0x80};  // bit 63 set
    fix_checksum(a.data() + second);
    expect_error<wds::tar_error>([&] { read_all(a); }, "bad number in size field");
  }
  SECTION("a huge size that the data does not back") {
    auto a = good;
    std::byte* f = a.data() + second + 124;
    std::memset(f, 0, 12);
    f[0] = std::byte{0x80};
    f[6] = std::byte{0x01};  // 2^40 bytes: 1 TiB
    fix_checksum(a.data() + second);
    wds::tar_reader r(wds::memory_source(a), "test.tar");
    REQUIRE(r.next());
    const wds::tar_member* m = r.next();
    REQUIRE(m);
    CHECK(m->size == (1ull << 40));
    CHECK_THROWS_AS(r.payload(), wds::limit_error);
    expect_error<wds::tar_error>([&] { r.next(); }, "truncated payload");
  }
  SECTION("member larger than the limit") {
    wds::limits lim;
    lim.max_member_size = 999;
    auto e = expect_error<wds::limit_error>([&] { read_all(good, lim); }, "exceeds the limit of 999");
    CHECK(e.id() == 502);
    CHECK(e.member() == "second.bin");
  }
}

namespace {
std::vector<std::byte> pax_archive(const std::string& records, const std::string& name = "p.txt",
                                   const std::string& body = "data") {
  // A pax 'x' header built by hand, then a plain member.
  wds::tar_writer_options opts;
  opts.record_size = 0;
  auto tmpl = write_all({{"././@PaxHeader", bytes(records)}, {name, bytes(body)}}, opts);
  tmpl[156] = std::byte{'x'};
  fix_checksum(tmpl.data());
  return tmpl;
}
}  // namespace

TEST_CASE("tar reader: pax records", "[tar][pax]") {
  SECTION("path, size and mtime override the ustar fields") {
    auto a = pax_archive(wds::detail::pax_record("path", "long/pax/name.txt") +
                         wds::detail::pax_record("mtime", "1234.5"));
    wds::tar_reader r{wds::memory_source(a)};
    const wds::tar_member* m = r.next();
    REQUIRE(m);
    CHECK(m->name == "long/pax/name.txt");
    CHECK(m->mtime == 1234);
    CHECK(r.payload().text() == "data");
  }
  SECTION("a record with a wrong length") {
    auto a = pax_archive("30 path=short\n");
    auto e = expect_error<wds::tar_error>([&] { read_all(a); }, "bad pax record");
    CHECK(e.id() == 206);
    CHECK(e.offset() == 0);
  }
  SECTION("a record without '='") {
    expect_error<wds::tar_error>([&] { read_all(pax_archive("9 pathx\n")); }, "bad pax record");
  }
  SECTION("a non-numeric pax size") {
    expect_error<wds::tar_error>([&] { read_all(pax_archive(wds::detail::pax_record("size", "12z"))); },
                                 "bad pax size");
  }
  SECTION("a pax size lie larger than the data") {
    auto a = pax_archive(wds::detail::pax_record("size", "999999"));
    expect_error<wds::tar_error>([&] { read_all(a); }, "truncated payload");
  }
  SECTION("a GNU sparse hole bomb stops at max_member_size") {
    // 0.1: four stored bytes at offset 0 of a 1 TiB file.
    auto a = pax_archive(wds::detail::pax_record("GNU.sparse.size", "1099511627776") +
                         wds::detail::pax_record("GNU.sparse.map", "0,4"));
    auto e = expect_error<wds::limit_error>([&] { read_all(a); }, "exceeds the limit");
    CHECK(e.id() == 502);
  }
  SECTION("a small GNU sparse member expands its holes") {
    auto a = pax_archive(wds::detail::pax_record("GNU.sparse.size", "10") +
                         wds::detail::pax_record("GNU.sparse.map", "6,4") +
                         wds::detail::pax_record("GNU.sparse.name", "real.txt"));
    wds::tar_reader r{wds::memory_source(a)};
    const wds::tar_member* m = r.next();
    REQUIRE(m);
    CHECK(m->name == "real.txt");
    CHECK(m->is_sparse);
    CHECK(m->size == 10);
    CHECK(r.payload().text() == std::string("\0\0\0\0\0\0data", 10));
    CHECK_FALSE(r.next());
  }
  SECTION("a pax header over the limit") {
    wds::limits lim;
    lim.max_pax_size = 10;
    auto e = expect_error<wds::limit_error>(
        [&] { read_all(pax_archive(wds::detail::pax_record("path", "abcdefgh.txt")), lim); }, "pax header");
    CHECK(e.id() == 501);
  }
  SECTION("global records apply to every later member") {
    auto a = pax_archive(wds::detail::pax_record("uname", "globaluser"));
    a[156] = std::byte{'g'};
    fix_checksum(a.data());
    wds::tar_reader r{wds::memory_source(a)};
    const wds::tar_member* m = r.next();
    REQUIRE(m);
    CHECK(m->uname == "globaluser");
  }
}

TEST_CASE("tar writer: misuse is reported", "[tar]") {
  wds::tar_writer w(wds::memory_sink{});
  CHECK_THROWS_AS(w.write("", bytes("x")), wds::tar_error);
  CHECK_THROWS_AS(w.write(std::string("a\0b", 3), bytes("x")), wds::tar_error);
  w.begin("a.txt", 3);
  w.write_data("ab", 2);
  CHECK_THROWS_AS(w.write_data("cd", 2), wds::tar_error);
  CHECK_THROWS_AS(w.end(), wds::tar_error);
  CHECK_THROWS_AS(w.finish(), wds::tar_error);
  w.write_data("c", 1);
  w.end();
  w.finish();
  CHECK(w.sink().closed());
}

TEST_CASE("tar: our archives list and extract identically with GNU tar", "[tar][interop]") {
  if (!wds_test::have_command("tar")) {
    WARN("GNU tar not found: skipped");
    return;
  }
  wds_test::temp_dir dir;
  member_list members = {{"plain.txt", bytes("plain")},
                         {std::string(150, 'q') + ".bin", pattern("q", 2000)},
                         {"d/" + std::string(120, 'r') + "/x.jpg", pattern("r", 512)},
                         {"données/été.txt", bytes("é")},
                         {"empty.cls", {}}};
  wds_test::write_file(dir / "ours.tar", write_all(members));
  auto listing = wds_test::run("cd '" + dir.path + "' && tar -tf ours.tar");
  std::string expected;
  for (const auto& m : members) expected += m.first + "\n";
  CHECK(listing == expected);
  int status = 1;
  wds_test::run("cd '" + dir.path + "' && mkdir x && tar -xf ours.tar -C x", &status);
  REQUIRE(status == 0);
  for (const auto& m : members) {
    INFO(m.first);
    CHECK(read_file(dir / ("x/" + m.first)) == m.second);
  }
}

TEST_CASE("tar: our archives read back identically with Python tarfile (optional)", "[tar][interop][python]") {
  if (!wds_test::have_command("python3")) {
    WARN("python3 not found: skipped");
    return;
  }
  wds_test::temp_dir dir;
  member_list members = {{"a.txt", bytes("abc")}, {std::string(300, 'p') + ".bin", pattern("p", 700)},
                         {"ünï/cödé.txt", bytes("x")}};
  wds_test::write_file(dir / "ours.tar", write_all(members));
  int status = 1;
  auto out = wds_test::run("python3 -c \"import tarfile,sys\n"
                           "for m in tarfile.open(sys.argv[1]):\n"
                           "  print(m.name.encode().hex(), m.size, m.mode, m.uname, m.mtime)\" '" +
                               dir.path + "/ours.tar'",
                           &status);
  REQUIRE(status == 0);
  std::string expected;
  for (const auto& m : members) {
    std::string hex;
    for (unsigned char c : m.first) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", c);
      hex += b;
    }
    expected += hex + " " + std::to_string(m.second.size()) + " 292 bigdata 0\n";
  }
  CHECK(out == expected);
}
