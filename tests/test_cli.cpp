// SPDX-License-Identifier: MIT
// The wds-etl binary, run as a user would (WDS_ETL_BINARY is defined by
// tests/CMakeLists.txt when the wds-etl target exists).
#include "catch.hpp"
#include "support.hpp"

#ifdef WDS_ETL_BINARY

#include <wds/config.hpp>
#include <wds/io.hpp>
#include <wds/tar.hpp>
#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

const std::string etl = WDS_ETL_BINARY;

std::string data_path(const std::string& name) { return std::string(WDS_TEST_DATA_DIR) + "/etl/" + name; }

std::string slurp(const std::string& path) { return wds_test::slurp_text(path); }

using wds_test::temp_dir;
using result = wds_test::cmd_result;
result run(const temp_dir& dir, const std::string& cmd) { return wds_test::run_captured(dir, cmd); }

std::string q(const std::string& s) { return "'" + s + "'"; }

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n != ".stdout" && n != ".stderr") out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t lines(const std::string& s) { return std::size_t(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("cli: usage errors exit 2, --help exits 0", "[cli]") {
  temp_dir d;
  auto r = run(d, q(etl));
  CHECK(r.status == 2);
  r = run(d, q(etl) + " --help");
  CHECK(r.status == 0);
  CHECK(r.out.find("transform") != std::string::npos);
  r = run(d, q(etl) + " transform " + q(data_path("pets-small.tar")));
  CHECK(r.status == 2);
  CHECK(lines(r.err) == 1);
  r = run(d, q(etl) + " frobnicate");
  CHECK(r.status == 2);
  r = run(d, q(etl) + " transform x.tar -o y.tar --on-error maybe");
  CHECK(r.status == 2);
}

TEST_CASE("cli: ls prints one JSON line per sample, in tar order", "[cli]") {
  temp_dir d;
  auto r = run(d, q(etl) + " ls " + q(data_path("bad-missing-trimap.tar")));
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "{\"__key__\": \"Abyssinian_1\", \"fields\": {\"image.jpg\": 23302, \"trimap.png\": 1870, \"cls\": 1, "
        "\"json\": 67}}\n"
        "{\"__key__\": \"Abyssinian_2\", \"fields\": {\"image.jpg\": 51024, \"cls\": 1, \"json\": 67}}\n"
        "{\"__key__\": \"Bengal_3\", \"fields\": {\"image.jpg\": 33764, \"trimap.png\": 1865, \"cls\": 1, "
        "\"json\": 63}}\n");
  // The same from stdin.
  auto r2 = run(d, "cat " + q(data_path("bad-missing-trimap.tar")) + " | " + q(etl) + " ls -");
  CHECK(r2.status == 0);
  CHECK(r2.out == r.out);
}

TEST_CASE("cli: ls escapes names and shows invalid UTF-8 as U+FFFD", "[cli]") {
  temp_dir d;
  {
    wds::tar_writer w(wds::file_sink(d / "odd.tar"));
    w.write(std::string("caf\xe9.jpg"), std::string("abc"));          // Latin-1 byte: invalid UTF-8
    w.write(std::string("q\"uo\\te.TXT"), std::string("12345"));       // ext lower-cased
    w.write(std::string("\xc3\xa9t\xc3\xa9.cls"), std::string(""));    // valid UTF-8 kept
    w.finish();
  }
  auto r = run(d, q(etl) + " ls " + q(d / "odd.tar"));
  REQUIRE(r.status == 0);
  CHECK(r.out ==
        "{\"__key__\": \"caf\xEF\xBF\xBD\", \"fields\": {\"jpg\": 3}}\n"
        "{\"__key__\": \"q\\\"uo\\\\te\", \"fields\": {\"txt\": 5}}\n"
        "{\"__key__\": \"\xc3\xa9t\xc3\xa9\", \"fields\": {\"cls\": 0}}\n");
}

TEST_CASE("cli: ls of a bad shard: one stderr line, exit 1", "[cli]") {
  temp_dir d;
  {
    std::ofstream f(d / "junk.tar", std::ios::binary);
    f << std::string(1024, 'x');
  }
  auto r = run(d, q(etl) + " ls " + q(d / "junk.tar"));
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("[wds.tar.") != std::string::npos);
  r = run(d, q(etl) + " ls " + q(d / "missing.tar"));
  CHECK(r.status == 1);
  CHECK(lines(r.err) == 1);
}

TEST_CASE("cli: ls of a shard bad midway prints every sample read before the error", "[cli]") {
  temp_dir d;
  std::vector<std::byte> good;
  {
    wds::tar_writer w(wds::memory_sink{});
    for (int i = 0; i < 3000; ++i) w.write("s" + std::to_string(i) + ".txt", std::string(10, 'x'));
    w.finish();
    good = w.sink().take();
  }
  // Cut inside the payload of s2500 (1024 bytes per member): more than 64 KiB of lines
  // come first. Python's tarfile raises "unexpected end of data" reading that payload,
  // before group_by_keys has handed out s2499, so webdataset yields s0..s2498 and raises.
  {
    std::ofstream f(d / "mid.tar", std::ios::binary);
    f.write(reinterpret_cast<const char*>(good.data()), 2500 * 1024 + 512 + 5);
  }
  for (const std::string& in : {q(d / "mid.tar"), std::string("- < ") + q(d / "mid.tar")}) {
    auto r = run(d, q(etl) + " ls " + in);
    CHECK(r.status == 1);
    CHECK(lines(r.out) == 2499);
    CHECK(r.out.find("{\"__key__\": \"s2498\"") != std::string::npos);
    CHECK(r.out.find("s2499") == std::string::npos);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.find("[wds.tar.202]") != std::string::npos);
  }
}

#if WDS_HAS_JPEG && WDS_HAS_PNG

TEST_CASE("cli: transform file to file equals the Python reference", "[cli][golden]") {
  temp_dir d;
  auto r = run(d, q(etl) + " transform " + q(data_path("pets-small.tar")) + " -o " + q(d / "out.tar"));
  REQUIRE(r.status == 0);
  CHECK(slurp(d / "out.tar") == slurp(data_path("pets-small.expected.tar")));
  CHECK(r.out.find("11 samples") != std::string::npos);  // summary on stdout
  CHECK(list_dir(d.path) == std::vector<std::string>{"out.tar"});
}

TEST_CASE("cli: stdin to stdout; the summary stays out of the tar", "[cli][golden]") {
  temp_dir d;
  auto r = run(d, "cat " + q(data_path("pets-small.tar")) + " | " + q(etl) + " transform - -o -");
  REQUIRE(r.status == 0);
  CHECK(r.out == slurp(data_path("pets-small.expected.tar")));
  CHECK(r.err.find("11 samples") != std::string::npos);
}

#if WDS_HAS_ZLIB
TEST_CASE("cli: gzip input by magic bytes, gzip output by .gz name", "[cli][golden]") {
  temp_dir d;
  REQUIRE(run(d, "gzip -c " + q(data_path("pets-small.tar")) + " > " + q(d / "in.tar.gz")).status == 0);
  // Name without .gz: detection is by content.
  REQUIRE(run(d, "cp " + q(d / "in.tar.gz") + " " + q(d / "in-gz.tar")).status == 0);
  auto r = run(d, q(etl) + " transform " + q(d / "in-gz.tar") + " -o " + q(d / "out.tar.gz"));
  REQUIRE(r.status == 0);
  auto gz = slurp(d / "out.tar.gz");
  REQUIRE(gz.size() > 2);
  CHECK(static_cast<unsigned char>(gz[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(gz[1]) == 0x8b);
  auto r2 = run(d, "gzip -dc " + q(d / "out.tar.gz"));
  CHECK(r2.status == 0);
  CHECK(r2.out == slurp(data_path("pets-small.expected.tar")));
  // A truncated gzip stream fails and creates nothing.
  REQUIRE(run(d, "head -c 20000 " + q(d / "in.tar.gz") + " > " + q(d / "cut.tar.gz")).status == 0);
  auto r3 = run(d, q(etl) + " transform " + q(d / "cut.tar.gz") + " -o " + q(d / "cut-out.tar"));
  CHECK(r3.status == 1);
  CHECK(lines(r3.err) == 1);
  CHECK(!exists(d / "cut-out.tar"));
}
#endif

TEST_CASE("cli: a failing shard leaves no output; --on-error skip counts", "[cli]") {
  temp_dir d;
  auto r = run(d, q(etl) + " transform " + q(data_path("bad-truncated-jpeg.tar")) + " -o " + q(d / "o.tar"));
  CHECK(r.status == 1);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("Abyssinian_2.image.jpg") != std::string::npos);
  CHECK(list_dir(d.path).empty());
  r = run(d, q(etl) + " transform " + q(data_path("bad-truncated-jpeg.tar")) + " -o " + q(d / "o.tar") +
                 " --on-error skip");
  CHECK(r.status == 0);
  CHECK(r.out.find("1 skipped") != std::string::npos);
  CHECK(slurp(d / "o.tar") == slurp(data_path("bad-truncated-jpeg.skip.expected.tar")));
}

TEST_CASE("cli: --max-image-pixels and --max-member-size map to wds::limits", "[cli]") {
  temp_dir d;
  auto r = run(d, q(etl) + " transform " + q(data_path("pets-small.tar")) + " -o " + q(d / "o.tar") +
                      " --max-image-pixels 100000");
  CHECK(r.status == 1);
  CHECK(r.err.find("[wds.limit.500]") != std::string::npos);
  CHECK(!exists(d / "o.tar"));
  r = run(d, q(etl) + " transform " + q(data_path("pets-small.tar")) + " -o " + q(d / "o.tar") +
                 " --max-member-size 10k");
  CHECK(r.status == 1);
  CHECK(r.err.find("[wds.limit.502]") != std::string::npos);
  r = run(d, q(etl) + " transform " + q(data_path("pets-small.tar")) + " -o " + q(d / "o.tar") +
                 " --max-image-pixels 300000 --max-member-size 1M --mtime 5");
  CHECK(r.status == 0);
}

TEST_CASE("cli: --map and --rename (Pillow/torchvision golden)", "[cli][golden]") {
  temp_dir d;
  auto r = run(d, q(etl) + " transform " + q(data_path("map-input.tar")) + " -o " + q(d / "o.tar") +
                      " --map 'jpg=decode|resize(256)|center_crop(224)|jpeg(90)' --rename cls=label");
  REQUIRE(r.status == 0);
  CHECK(slurp(d / "o.tar") == slurp(data_path("map-input.expected.tar")));
}

TEST_CASE("cli: a bad spec is rejected with its position before any input is read", "[cli]") {
  temp_dir d;
  // The input does not exist: the spec error must come first.
  auto r = run(d, q(etl) + " transform " + q(d / "nonexistent.tar") + " -o " + q(d / "o.tar") +
                      " --map 'jpg=decode|resize(256|jpeg(90)'");
  CHECK(r.status == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("at byte") != std::string::npos);
  CHECK(r.err.find("nonexistent") == std::string::npos);
  CHECK(list_dir(d.path).empty());
  r = run(d, q(etl) + " transform " + q(d / "nonexistent.tar") + " -o " + q(d / "o.tar") +
                 " --map 'jpg=decode|rezise(3)|jpeg'");
  CHECK(r.status == 2);
  CHECK(r.err.find("at byte 7") != std::string::npos);
}

TEST_CASE("cli: directory mode with a corrupt shard among good ones", "[cli][dir]") {
  temp_dir in, out;
  const std::string good = slurp(data_path("pets-small.tar")), bad = slurp(data_path("bad-truncated-jpeg.tar"));
  for (int i = 0; i < 5; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "shard-%03d.tar", i);
    std::ofstream(in / name, std::ios::binary) << (i == 3 ? bad : good);
  }
  auto r = run(out, q(etl) + " transform " + q(in.path + "/shard-{000..004}.tar") + " -o " + q(out.path + "/res/") +
                        " --jobs 2");
  CHECK(r.status == 1);  // one shard failed
  CHECK(r.err.find("shard-003.tar") != std::string::npos);
  CHECK(r.out.find("5 shards (4 done, 0 already complete, 1 failed), 44 samples") != std::string::npos);
  const std::string want = slurp(data_path("pets-small.expected.tar"));
  CHECK(list_dir(out / "res") ==
        std::vector<std::string>{"shard-000.tar", "shard-001.tar", "shard-002.tar", "shard-004.tar"});
  for (auto n : {"shard-000.tar", "shard-001.tar", "shard-002.tar", "shard-004.tar"})
    CHECK(slurp(out / "res/" + std::string(n)) == want);

  // Resume: complete outputs are skipped; the fixed shard is done now.
  std::ofstream(in / "shard-003.tar", std::ios::binary) << good;
  r = run(out, q(etl) + " transform " + q(in.path + "/shard-{000..004}.tar") + " -o " + q(out.path + "/res"));
  CHECK(r.status == 0);
  CHECK(r.out.find("5 shards (1 done, 4 already complete, 0 failed), 11 samples") != std::string::npos);
  CHECK(slurp(out / "res/shard-003.tar") == want);
}

TEST_CASE("cli: an interrupted run leaves only complete outputs; resume finishes", "[cli][dir]") {
  temp_dir in, out;
  const std::string good = slurp(data_path("pets-small.tar"));
  for (int i = 0; i < 12; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "s-%02d.tar", i);
    std::ofstream(in / name, std::ios::binary) << good;
  }
  // A temporary as a killed (SIGKILL) run leaves it.
  ::mkdir((out.path + "/res").c_str(), 0777);
  std::ofstream(out / "res/.s-05.tar.AbC123.tmp") << "partial";

  const std::string cmd = q(etl) + " transform " + q(in.path + "/s-{00..11}.tar") + " -o " + q(out.path + "/res/") +
                          " -q --jobs 1";
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd + " 2>/dev/null").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::usleep(150 * 1000);
  ::kill(pid, SIGINT);
  int st = 0;
  ::waitpid(pid, &st, 0);
  const std::string want = slurp(data_path("pets-small.expected.tar"));
  for (const auto& n : list_dir(out / "res")) {
    if (n == ".s-05.tar.AbC123.tmp") continue;  // only removed once s-05 is attempted
    INFO(n);
    CHECK(n[0] != '.');                              // no temporary left by the interrupted run
    CHECK(slurp(out / "res/" + n) == want);          // every output that exists is complete
  }
  auto r = run(out, cmd);
  CHECK(r.status == 0);
  auto names = list_dir(out / "res");
  CHECK(names.size() == 12);
  for (const auto& n : names) CHECK(slurp(out / "res/" + n) == want);
}

#endif  // WDS_HAS_JPEG && WDS_HAS_PNG

#else
TEST_CASE("cli: skipped (wds-etl not built)", "[cli]") { WARN("WDS_ETL_BINARY not defined: CLI tests skipped"); }
#endif  // WDS_ETL_BINARY
