// SPDX-License-Identifier: MIT
// `wds-etl pack` and `wds-etl index`, run as a user would: the key rule and
// order of pack (checked with GNU tar as an independent reader), ShardWriter's
// splits, the index files beside the shards (offsets read back member by
// member, md5 from md5sum), and the usage/input errors.
#include "catch.hpp"
#include "support.hpp"

#ifdef WDS_ETL_BINARY

#include <wds/index.hpp>
#include <wds/io.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>

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
using wds_test::temp_dir;

std::string q(const std::string& s) { return "'" + s + "'"; }

std::string slurp(const std::string& path) { return wds_test::slurp_text(path); }

using result = wds_test::cmd_result;
result run(const temp_dir& dir, const std::string& cmd) { return wds_test::run_captured(dir, cmd); }

void put(const std::string& path, const std::string& text) {
  for (std::size_t p = path.find('/', 1); p != std::string::npos; p = path.find('/', p + 1))
    ::mkdir(path.substr(0, p).c_str(), 0755);
  std::ofstream(path, std::ios::binary) << text;
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// "KEY: ext=payload ext=payload" per sample, in tar order.
std::vector<std::string> samples_of(const std::string& shard) {
  std::vector<std::string> out;
  wds::sample_reader r{wds::file_source(shard), shard};
  while (auto s = r.next()) {
    std::string line = s->key() + ":";
    for (const auto& f : s->fields()) line += " " + f.ext + "=" + std::string(f.text());
    out.push_back(line);
  }
  return out;
}

// A folder with subdirectories, multi-dot exts, files to skip, and keys whose
// byte-wise order differs from a locale's ("B" < "a", "a/x" < "a0").
std::string make_folder(const temp_dir& d) {
  const std::string in = d / "in";
  put(in + "/a/x.jpg", "ax-jpg");
  put(in + "/a/x.cls", "1");
  put(in + "/a/x.seg.png", "ax-seg");
  put(in + "/a/y.jpg", "ay-jpg");
  put(in + "/a0.txt", "a0");
  put(in + "/B.txt", "B");
  put(in + "/b/z.json", "{}");
  put(in + "/noext", "skipped: no ext");
  put(in + "/.hidden.txt", "skipped: hidden");
  put(in + "/.git/config.txt", "skipped: hidden directory");
  return in;
}

const std::vector<std::string> all_samples = {
    "B: txt=B", "a/x: cls=1 jpg=ax-jpg seg.png=ax-seg", "a/y: jpg=ay-jpg", "a0: txt=a0", "b/z: json={}"};

}  // namespace

TEST_CASE("cli pack: webdataset's key rule, byte-wise key order, members KEY.EXT", "[cli][pack]") {
  temp_dir d;
  const std::string in = make_folder(d);
  auto r = run(d, q(etl) + " pack " + q(in) + " -o " + q(d / "out-%06d.tar"));
  REQUIRE(r.status == 0);
  CHECK(r.err.find("5 samples (7 files, 3 skipped) in 1 shards") != std::string::npos);
  CHECK(samples_of(d / "out-000000.tar") == all_samples);
  CHECK(!exists(d / "out-000001.tar"));
  // GNU tar sees the same members, fields sorted by ext as TarWriter writes them.
  if (wds_test::have_command("tar")) {
    int st = 1;
    const std::string names = wds_test::run("tar -tf " + q(d / "out-000000.tar"), &st);
    CHECK(st == 0);
    CHECK(names == "B.txt\na/x.cls\na/x.jpg\na/x.seg.png\na/y.jpg\na0.txt\nb/z.json\n");
  }
  // A trailing slash on DIR changes nothing.
  r = run(d, q(etl) + " pack " + q(in + "/") + " -o " + q(d / "slash-%d.tar"));
  REQUIRE(r.status == 0);
  CHECK(slurp(d / "slash-0.tar") == slurp(d / "out-000000.tar"));
}

TEST_CASE("cli pack: --maxcount and --maxsize split like ShardWriter", "[cli][pack]") {
  temp_dir d;
  const std::string in = make_folder(d);
  auto r = run(d, q(etl) + " pack " + q(in) + " -o " + q(d / "c-%02d.tar") + " --maxcount 2");
  REQUIRE(r.status == 0);
  CHECK(samples_of(d / "c-00.tar") == std::vector<std::string>(all_samples.begin(), all_samples.begin() + 2));
  CHECK(samples_of(d / "c-01.tar") == std::vector<std::string>(all_samples.begin() + 2, all_samples.begin() + 4));
  CHECK(samples_of(d / "c-02.tar") == std::vector<std::string>(all_samples.begin() + 4, all_samples.end()));
  CHECK(!exists(d / "c-03.tar"));
  // maxsize counts payload bytes, compared (>=) before a sample is written, as
  // ShardWriter.write does: after "B" and a/x, 14 bytes < 20, so a/y still goes
  // in shard 0 (20 bytes); a0 starts shard 1.
  r = run(d, q(etl) + " pack " + q(in) + " -o " + q(d / "s-%d.tar") + " --maxsize 20");
  REQUIRE(r.status == 0);
  CHECK(samples_of(d / "s-0.tar") == std::vector<std::string>(all_samples.begin(), all_samples.begin() + 3));
  CHECK(samples_of(d / "s-1.tar") == std::vector<std::string>(all_samples.begin() + 3, all_samples.end()));
  CHECK(!exists(d / "s-2.tar"));
  // --exact-size counts headers, padding, the end blocks and the 10240-byte
  // record: three samples of 4000 bytes (9 blocks each) give two shards of one
  // record each (18 blocks fit before the end blocks), never more than maxsize.
  const std::string big = d / "big";
  for (const char* k : {"p", "q", "r"}) put(big + "/" + k + ".bin", std::string(4000, *k));
  r = run(d, q(etl) + " pack " + q(big) + " -o " + q(d / "e-%d.tar") + " --maxsize 10240 --exact-size");
  REQUIRE(r.status == 0);
  CHECK(slurp(d / "e-0.tar").size() == 10240);
  CHECK(slurp(d / "e-1.tar").size() == 10240);
  CHECK(!exists(d / "e-2.tar"));
  CHECK(samples_of(d / "e-0.tar") == std::vector<std::string>{"p: bin=" + std::string(4000, 'p'),
                                                              "q: bin=" + std::string(4000, 'q')});
  CHECK(samples_of(d / "e-1.tar") == std::vector<std::string>{"r: bin=" + std::string(4000, 'r')});
  // Without it, ShardWriter's payload count lets all three into one shard.
  r = run(d, q(etl) + " pack " + q(big) + " -o " + q(d / "n-%d.tar") + " --maxsize 10240");
  REQUIRE(r.status == 0);
  CHECK(samples_of(d / "n-0.tar").size() == 3);
  // A sample that cannot fit alone is an error, not an oversized shard.
  r = run(d, q(etl) + " pack " + q(big) + " -o " + q(d / "x-%d.tar") + " --maxsize 4KiB --exact-size");
  CHECK(r.status == 1);
  CHECK(r.err.find("limit.531") != std::string::npos);
}

TEST_CASE("cli pack: --index and --wids write the index files while packing", "[cli][pack][index]") {
  temp_dir d;
  const std::string in = make_folder(d);
  auto r = run(d, q(etl) + " pack " + q(in) + " -o " + q(d / "p-%d.tar") + " --maxcount 3 --index --wids " +
                      q(d / "train.json"));
  REQUIRE(r.status == 0);
  for (const char* shard : {"p-0.tar", "p-1.tar"}) {
    INFO(shard);
    const auto idx = wds::parse_dali_index(slurp(d / (std::string(shard).substr(0, 3) + ".idx")));
    CHECK(wds::dali_index_text(idx) == wds::dali_index_text(wds::index_shard(d / shard).samples));
  }
  const auto list = wds::parse_wids_json(slurp(d / "train.json"), d / "train.json");
  REQUIRE(list.shards.size() == 2);
  CHECK(list.shards[0].nsamples == 3);
  CHECK(list.shards[1].nsamples == 2);
}

TEST_CASE("cli pack: usage and input errors", "[cli][pack]") {
  temp_dir d;
  const std::string in = make_folder(d);
  const std::string out = " -o " + q(d / "x-%d.tar");
  for (const std::string& args : {std::string(""), " " + q(in), out, " " + q(in) + out + " --maxcount 0",
                                 " " + q(in) + out + " --maxcount -3",
                                 " " + q(in) + out + " --maxcount 99999999999999999999999", " " + q(in) + out + " --maxsize lots",
                                 " " + q(in) + out + " --frobnicate", " " + q(in) + " " + q(in) + out,
                                 " " + q(in) + " -o"}) {
    INFO(args);
    const auto r = run(d, q(etl) + " pack" + args);
    CHECK(r.status == 2);  // usage, or a bad size or pattern ("bad spec"): one line, nothing written
    CHECK(r.err.rfind("wds-etl", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!exists(d / "x-0.tar"));
  }
  {
    const auto r = run(d, q(etl) + " pack " + q(d / "missing") + out);
    CHECK(r.status == 1);
    CHECK(r.err.find(d / "missing") != std::string::npos);
    CHECK(!exists(d / "x-0.tar"));
  }
  {
    // A pattern without a %d would put every shard under one name.
    const auto r = run(d, q(etl) + " pack " + q(in) + " -o " + q(d / "fixed.tar"));
    CHECK(r.status == 2);
    CHECK(!exists(d / "fixed.tar"));
  }
  {
    // An empty folder writes no shard at all (webdataset #376), and says so.
    ::mkdir((d / "empty").c_str(), 0755);
    const auto r = run(d, q(etl) + " pack " + q(d / "empty") + out);
    CHECK(r.status == 0);
    CHECK(r.err.find("0 samples") != std::string::npos);
    CHECK(!exists(d / "x-0.tar"));
  }
}

TEST_CASE("cli index: x.idx beside each shard, one wids JSON, md5 and offsets right", "[cli][index]") {
  temp_dir d;
  const std::string in = make_folder(d);
  ::mkdir((d / "shards").c_str(), 0755);
  REQUIRE(run(d, q(etl) + " pack " + q(in) + " -o " + q(d / "shards/i-%d.tar") + " --maxcount 2").status == 0);
  const std::string s0 = d / "shards/i-0.tar", s1 = d / "shards/i-1.tar", s2 = d / "shards/i-2.tar";
  auto r = run(d, q(etl) + " index " + q(s0) + " " + q(s1) + " " + q(s2) + " -o " + q(d / "shards/list.json"));
  REQUIRE(r.status == 0);
  CHECK(r.err.find("3 shards") != std::string::npos);
  for (const std::string& shard : {s0, s1, s2}) {
    INFO(shard);
    const std::string idx_path = shard.substr(0, shard.size() - 4) + ".idx";
    const auto idx = wds::parse_dali_index(slurp(idx_path), idx_path);
    // Each member's bytes, read at the offset the index gives, are its payload.
    const std::string bytes = slurp(shard);
    std::vector<std::string> got;
    for (const auto& s : idx) {
      std::string line = s.key + ":";
      for (const auto& m : s.members) line += " " + m.ext + "=" + bytes.substr(m.data_offset, m.size);
      got.push_back(line);
    }
    CHECK(got == samples_of(shard));
  }
  const auto list = wds::parse_wids_json(slurp(d / "shards/list.json"), d / "shards/list.json");
  REQUIRE(list.shards.size() == 3);
  const std::string json = slurp(d / "shards/list.json");
  CHECK(json.find("\"i-0.tar\"") != std::string::npos);  // relative to the JSON's folder
  int st = 1;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string shard = d / ("shards/i-" + std::to_string(i) + ".tar");
    CHECK(list.shards[i].nsamples == (i < 2 ? 2u : 1u));
    CHECK(list.shards[i].filesize == slurp(shard).size());
    if (wds_test::have_command("md5sum")) {
      const std::string sum = wds_test::run("md5sum " + q(shard), &st).substr(0, 32);
      CHECK(list.shards[i].md5sum == sum);
    }
  }
  // Errors: no shard, a missing or non-tar shard (exit 1, named, no JSON).
  CHECK(run(d, q(etl) + " index").status == 2);
  CHECK(run(d, q(etl) + " index --frobnicate " + q(s0)).status == 2);
  put(d / "junk.tar", "this is not a tar archive, it is a sentence of text");
  for (const std::string& bad : {d / "missing.tar", d / "junk.tar"}) {
    INFO(bad);
    r = run(d, q(etl) + " index " + q(s0) + " " + q(bad) + " -o " + q(d / "bad.json"));
    CHECK(r.status == 1);
    CHECK(r.err.find(bad) != std::string::npos);
    CHECK(!exists(d / "bad.json"));
  }
}

#endif  // WDS_ETL_BINARY
