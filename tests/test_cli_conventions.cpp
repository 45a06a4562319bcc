// SPDX-License-Identifier: MIT
// One convention for every wds-etl subcommand: SUB --help/-h prints its usage
// to stdout (exit 0), -V/--version everywhere, an unknown option is one line
// "wds-etl SUB: unknown option X (see wds-etl SUB --help)" (exit 2); plus the
// --map matching rules and the empty / not-a-tar messages as a user sees them.
#include "catch.hpp"
#include "support.hpp"

#ifdef WDS_ETL_BINARY

#include <wds/config.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>

namespace {

const std::string etl = WDS_ETL_BINARY;
const std::string pets = wds_test::data_path("etl/pets-small.tar");
const char* const subcommands[] = {"ls", "transform", "serve"};

struct result {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

result run(const wds_test::temp_dir& dir, const std::string& args) {
  const std::string o = dir / ".stdout", e = dir / ".stderr";
  const int rc = std::system(("'" + etl + "' " + args + " >'" + o + "' 2>'" + e + "'").c_str());
  result r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
std::size_t lines(const std::string& s) { return std::size_t(std::count(s.begin(), s.end(), '\n')); }
bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}
std::string version_line() {
  return "wds-etl " + std::to_string(WDS_VERSION_MAJOR) + "." + std::to_string(WDS_VERSION_MINOR) + "." +
         std::to_string(WDS_VERSION_PATCH) + "\n";
}

}  // namespace

TEST_CASE("cli conventions: SUB --help, -h and help SUB print SUB's usage on stdout, exit 0", "[cli][conventions]") {
  wds_test::temp_dir d;
  for (const char* sub : subcommands) {
    for (const std::string& form : {std::string(sub) + " --help", std::string(sub) + " -h", "help " + std::string(sub),
                                   std::string(sub) + " x.tar -o y.tar --help"}) {
      INFO(form);
      auto r = run(d, form);
      CHECK(r.status == 0);
      CHECK(starts_with(r.out, std::string("usage: wds-etl ") + sub));
      CHECK(r.err.empty());
    }
  }
  // ls --help is help, not a shard named "--help".
  CHECK(!exists(d / "--help"));
}

TEST_CASE("cli conventions: -V and --version everywhere", "[cli][conventions]") {
  wds_test::temp_dir d;
  for (const char* form : {"-V", "--version", "ls -V", "ls --version", "transform --version", "transform -V",
                                 "serve --version", "serve -V"}) {
    INFO(form);
    auto r = run(d, form);
    CHECK(r.status == 0);
    CHECK(r.out == version_line());
    CHECK(r.err.empty());
  }
}

TEST_CASE("cli conventions: wds-etl --help lists every subcommand; no command is usage on stderr", "[cli][conventions]") {
  wds_test::temp_dir d;
  for (const char* form : {"--help", "-h", "help"}) {
    auto r = run(d, form);
    CHECK(r.status == 0);
    CHECK(starts_with(r.out, "usage: wds-etl COMMAND"));
    for (const char* sub : subcommands) CHECK(r.out.find(std::string("\n  ") + sub + " ") != std::string::npos);
  }
  auto r = run(d, "");
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(starts_with(r.err, "usage: wds-etl COMMAND"));
  r = run(d, "frobnicate");
  CHECK(r.status == 2);
  CHECK(r.err == "wds-etl: unknown command \"frobnicate\" (see wds-etl --help)\n");
}

// serve's own parser (examples/etl/serve.cpp) reports its unknown options.
TEST_CASE("cli conventions: an unknown option is one line naming it, exit 2", "[cli][conventions]") {
  wds_test::temp_dir d;
  for (const char* sub : {"ls", "transform"}) {
    for (const std::string& args : {std::string(sub) + " --frob", std::string(sub) + " --frob " + pets,
                                   std::string(sub) + " " + pets + " -o x.tar --frob=3", std::string(sub) + " -Z"}) {
      INFO(args);
      auto r = run(d, args);
      CHECK(r.status == 2);
      CHECK(r.out.empty());
      CHECK(lines(r.err) == 1);
      CHECK(starts_with(r.err, std::string("wds-etl ") + sub + ": unknown option "));
      CHECK(r.err.find(std::string("(see wds-etl ") + sub + " --help)\n") != std::string::npos);
      CHECK(r.err.find("needs a value") == std::string::npos);
    }
  }
  auto r = run(d, "transform " + pets + " -o x.tar --frob");
  CHECK(r.err == "wds-etl transform: unknown option --frob (see wds-etl transform --help)\n");
  r = run(d, "transform " + pets);  // other usage errors follow the same form
  CHECK(r.status == 2);
  CHECK(r.err == "wds-etl transform: needs -o OUTPUT (see wds-etl transform --help)\n");
  r = run(d, "ls");
  CHECK(r.status == 2);
  CHECK(r.err == "wds-etl ls: takes exactly one SHARD (see wds-etl ls --help)\n");
}

TEST_CASE("cli conventions: messages give no C++ API advice", "[cli][conventions]") {
  wds_test::temp_dir d;
  auto r = run(d, "ls --max-member-size 1k " + pets);
  CHECK(r.status == 1);
  CHECK(r.err.find("[wds.limit.502]") != std::string::npos);
  CHECK(r.err.find("read()") == std::string::npos);
  CHECK(r.err.find("wds::") == std::string::npos);
}

TEST_CASE("cli: a 0-byte shard fails (tar.208) unless --allow-empty", "[cli][bad]") {
  wds_test::temp_dir d;
  { std::ofstream f(d / "empty.tar"); }
  auto r = run(d, "ls '" + d / "empty.tar" + "'");
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "wds-etl: [wds.tar.208] \"" + d / "empty.tar" + "\" at byte 0: empty file (0 bytes) (--allow-empty accepts it)\n");
  r = run(d, "ls --allow-empty '" + d / "empty.tar" + "'");
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  r = run(d, "transform '" + d / "empty.tar" + "' -o '" + d / "out.tar" + "'");
  CHECK(r.status == 1);
  CHECK(r.err.find("[wds.tar.208]") != std::string::npos);
  CHECK(!exists(d / "out.tar"));
  r = run(d, "transform --allow-empty '" + d / "empty.tar" + "' -o '" + d / "out.tar" + "'");
  CHECK(r.status == 0);
  CHECK(slurp(d / "out.tar") == std::string(10240, '\0'));
}

TEST_CASE("cli: a text file or a JPEG named .tar is 'not a tar archive' (tar.207)", "[cli][bad]") {
  wds_test::temp_dir d;
  REQUIRE(std::system(("cp '" + wds_test::data_path("codecs/chelsea_q95.jpg") + "' '" + d / "photo.tar" + "'").c_str()) == 0);
  {
    std::ofstream f(d / "notes.tar");
    for (int i = 0; i < 30; ++i) f << "<html><body>404 Not Found</body></html>\n";
  }
  for (const char* name : {"photo.tar", "notes.tar"}) {
    auto r = run(d, "ls '" + d / name + "'");
    CHECK(r.status == 1);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.find("[wds.tar.207] \"" + d / name + "\" at byte 0: not a tar archive: first header has no ustar magic") !=
          std::string::npos);
  }
}

#if WDS_HAS_JPEG
TEST_CASE("cli: --map counts per mapping, warns on no match, --strict fails, *.EXT matches the last dot-part",
          "[cli][map]") {
  wds_test::temp_dir d;
  const std::string spec = "decode|resize(256)|center_crop(224)|jpeg(90)";
  // The whole ext is "image.jpg": "jpg" matches nothing, visibly.
  auto r = run(d, "transform " + pets + " -o '" + d / "a.tar" + "' --map 'jpg=" + spec + "'");
  CHECK(r.status == 0);
  CHECK(r.out.find("wds-etl: --map jpg: 0 fields transformed\n") != std::string::npos);
  CHECK(r.err == "wds-etl: --map jpg matched no field in " + pets + "\n");
  r = run(d, "ls '" + d / "a.tar" + "'");
  CHECK(r.out.find("\"image.jpg\": 23302") != std::string::npos);  // the input's own JPEG

  r = run(d, "transform " + pets + " -o '" + d / "b.tar" + "' --map 'image.jpg=" + spec + "' --map 'zzz=decode|jpeg'");
  CHECK(r.status == 0);
  CHECK(r.out.find("wds-etl: --map image.jpg: 11 fields transformed\n") != std::string::npos);
  CHECK(r.out.find("wds-etl: --map zzz: 0 fields transformed\n") != std::string::npos);
  CHECK(r.err == "wds-etl: --map zzz matched no field in " + pets + "\n");

  r = run(d, "transform " + pets + " -o '" + d / "c.tar" + "' --map '*.jpg=" + spec + "' -q");
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  CHECK(slurp(d / "c.tar") == slurp(d / "b.tar"));  // *.jpg matched image.jpg

  r = run(d, "transform " + pets + " -o '" + d / "s.tar" + "' --map 'zzz=decode|jpeg' --strict");
  CHECK(r.status == 1);
  CHECK(r.err == "wds-etl: [wds.etl.810] \"" + pets + "\": map \"zzz\" matched no field in the shard\n");
  CHECK(!exists(d / "s.tar"));

  // Directory mode: one warning per shard.
  r = run(d, "transform " + pets + " -o '" + d / "out/" + "' --map 'zzz=decode|jpeg'");
  CHECK(r.status == 0);
  CHECK(r.err == "wds-etl: --map zzz matched no field in " + pets + "\n");
  CHECK(r.out.find("wds-etl: --map zzz: 0 fields transformed\n") != std::string::npos);

  r = run(d, "transform " + pets + " -o '" + d / "x.tar" + "' --map '*.=decode|jpeg'");
  CHECK(r.status == 1);  // etl.806: rejected before any input is read
  CHECK(r.err.find("[wds.etl.806]") != std::string::npos);
}
#endif

#endif  // WDS_ETL_BINARY
