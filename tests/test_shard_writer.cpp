// SPDX-License-Identifier: MIT
// shard_writer against webdataset's ShardWriter (golden shards written by
// tests/golden/gen_loader.py), exact sizes, laziness, post, index files.
#include "catch.hpp"
#include "support.hpp"

#include <wds/index.hpp>
#include <wds/open.hpp>
#include <wds/json.hpp>
#include <wds/python_random.hpp>
#include <wds/sample.hpp>
#include <wds/shard_writer.hpp>

#include <sys/stat.h>

#include <string>
#include <vector>

namespace {
wds::json load_json(const std::string& rel) {
  auto b = wds_test::read_file(wds_test::data_path(rel));
  return wds::json::parse(b.data(), b.size());
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// The generator's samples(): random.Random(3) drives sizes and bytes.
std::vector<wds::sample> golden_samples() {
  wds::python_random rnd(3);
  std::vector<wds::sample> out;
  for (int i = 0; i < 40; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "s%04d", i);
    std::string k = key;
    if (i == 17) {
      std::snprintf(key, sizeof key, "long%04d", i);
      k = std::string(110, 'd') + "/" + key;
    }
    const auto n = static_cast<std::size_t>(rnd.randint(100, 3000));
    wds::sample s(k);
    s.set("cls", std::to_string(i % 7));
    s.set("txt", std::string(std::size_t(i % 13), 'x') + "\xc3\xa9");
    std::vector<std::byte> bin(n);
    for (auto& b : bin) b = static_cast<std::byte>(rnd.randbelow(256));
    s.set("bin", std::move(bin));
    s.set("seg.png", std::vector<std::byte>(std::size_t(i % 5), static_cast<std::byte>(i)));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::vector<std::string>> keys_per_shard(const std::vector<std::string>& paths) {
  std::vector<std::vector<std::string>> out;
  for (const auto& p : paths) {
    out.emplace_back();
    wds::sample_reader r(wds::file_source(p), p);
    while (auto s = r.next()) out.back().push_back(s->key());
  }
  return out;
}
}  // namespace

TEST_CASE("shard_writer writes webdataset ShardWriter's shards byte for byte", "[shard_writer]") {
  const wds::json g = load_json("loader/shard_writer.json");
  const auto samples = golden_samples();
  for (const auto& c : g.as_array()) {
    const std::string name = c["name"].as_string();
    INFO("case " << name);
    wds_test::temp_dir dir;
    wds::shard_writer_options o;
    o.maxcount = static_cast<std::uint64_t>(c["maxcount"].as_int());
    o.maxsize = c["maxsize"].is_integer() ? double(c["maxsize"].as_int()) : c["maxsize"].as_double();
    o.start_shard = static_cast<std::uint64_t>(c["start_shard"].as_int());
    std::vector<std::string> posted;
    o.post = [&](const std::string& p) { posted.push_back(p); };
    wds::shard_writer w(dir / ("py-" + name + "-%03d.tar"), o);
    for (const auto& s : samples) w.write(s);
    w.close();
    REQUIRE(w.shards().size() == c["shards"].size());
    REQUIRE(posted.size() == c["shards"].size());
    std::vector<std::string> ours;
    for (std::size_t i = 0; i < w.shards().size(); ++i) {
      const std::string expected = c["shards"][i].as_string();
      CHECK(posted[i] == dir / expected);
      CHECK(w.shards()[i].url == dir / expected);
      const auto mine = wds_test::read_file(dir / expected);
      const auto theirs = wds_test::read_file(wds_test::data_path("loader/" + expected));
      CHECK(mine == theirs);
      CHECK(w.shards()[i].filesize == mine.size());
      wds::md5 m;
      m.update(mine.data(), mine.size());
      CHECK(w.shards()[i].md5sum == m.hex());
      ours.push_back(dir / expected);
    }
    // Python's reading of the golden shards (keys per shard) equals ours of both.
    std::vector<std::vector<std::string>> py_keys;
    for (const auto& shard : c["keys"].as_array()) {
      py_keys.emplace_back();
      for (const auto& k : shard.as_array()) py_keys.back().push_back(k.as_string());
    }
    CHECK(keys_per_shard(ours) == py_keys);
    std::vector<std::string> golden_paths;
    for (const auto& s : c["shards"].as_array()) golden_paths.push_back(wds_test::data_path("loader/" + s.as_string()));
    CHECK(keys_per_shard(golden_paths) == py_keys);
  }
}

TEST_CASE("shard_writer: lazy first shard, atomic shards, bad patterns", "[shard_writer]") {
  wds_test::temp_dir dir;
  {
    wds::shard_writer w(dir / "e-%06d.tar");
    w.close();
    CHECK(w.shards().empty());
    CHECK(!exists(dir / "e-000000.tar"));  // webdataset issue #376: no empty tar
  }
  {
    wds::shard_writer w(dir / "a-%d.tar");
    wds::sample s("k");
    s.set("txt", std::string("hi"));
    w.write(s);
    // Until close(), only a hidden temporary exists.
    CHECK(!exists(dir / "a-0.tar"));
  }  // destroyed without close(): the shard is discarded
  CHECK(!exists(dir / "a-0.tar"));
  CHECK(wds_test::run("ls -A " + dir.path) == "");
  CHECK(wds::format_shard_name("x-%06d.tar", 42) == "x-000042.tar");
  CHECK(wds::format_shard_name("x-%x-%%.tar", 255) == "x-ff-%.tar");
  CHECK(wds::format_shard_name("%5d", 3) == "    3");
  CHECK_THROWS_AS(wds::shard_writer(dir / "nopattern.tar"), wds::spec_error);
  CHECK_THROWS_AS(wds::format_shard_name("%d-%d", 1), wds::spec_error);
  CHECK_THROWS_AS(wds::format_shard_name("%s", 1), wds::spec_error);
}

TEST_CASE("shard_writer exact_size: a shard never exceeds maxsize", "[shard_writer]") {
  const auto samples = golden_samples();
  for (double maxsize : {20480.0, 30000.0, 65536.0}) {
    INFO("maxsize " << maxsize);
    wds_test::temp_dir dir;
    wds::shard_writer_options o;
    o.maxsize = maxsize;
    o.exact_size = true;
    wds::shard_writer w(dir / "x-%03d.tar", o);
    for (const auto& s : samples) w.write(s);
    w.close();
    std::uint64_t total = 0;
    std::vector<std::string> paths;
    for (const auto& s : w.shards()) {
      CHECK(double(s.filesize) <= maxsize);
      CHECK(wds_test::read_file(s.url).size() == s.filesize);
      total += s.nsamples;
      paths.push_back(s.url);
    }
    CHECK(total == samples.size());
    // Greedy: the next shard's first sample would not have fitted in the previous one.
    std::size_t n = 0;
    for (const auto& keys : keys_per_shard(paths)) n += keys.size();
    CHECK(n == samples.size());
  }
  wds_test::temp_dir dir;
  wds::shard_writer_options o;
  o.maxsize = 4096;
  o.exact_size = true;
  wds::shard_writer w(dir / "x-%03d.tar", o);
  CHECK_THROWS_AS(w.write(samples[0]), wds::limit_error);
}

TEST_CASE("shard_writer writes DALI .idx and a wids JSON while writing", "[shard_writer][index]") {
  wds_test::temp_dir dir;
  const auto samples = golden_samples();
  wds::shard_writer_options o;
  o.maxcount = 9;
  o.dali_index = true;
  o.wids_json = dir / "train.json";
  wds::shard_writer w(dir / "t-%02d.tar", o);
  for (const auto& s : samples) w.write(s);
  w.close();
  REQUIRE(w.shards().size() == 5);
  for (const auto& shard : w.shards()) {
    const std::string idx_path = wds::dali_index_path(shard.url);
    const auto idx = wds::parse_dali_index(wds::read_text_file(idx_path), idx_path);
    CHECK(idx.size() == shard.nsamples);
    // Written-side index equals the index of the finished file.
    const auto scanned = wds::index_shard(shard.url);
    CHECK(wds::dali_index_text(scanned.samples) == wds::read_text_file(idx_path));
    CHECK(scanned.info.nsamples == shard.nsamples);
    CHECK(scanned.info.md5sum == shard.md5sum);
    CHECK(scanned.info.filesize == shard.filesize);
    // Every member's bytes are at its offset (the pax-named sample 17 included).
    const auto file = wds_test::read_file(shard.url);
    for (const auto& s : idx) {
      for (const auto& m : s.members) {
        const auto* want = [&]() -> const wds::sample* {
          for (const auto& x : samples)
            if (x.key() == s.key) return &x;
          return nullptr;
        }();
        REQUIRE(want);
        const auto& data = want->at(m.ext);
        REQUIRE(m.size == data.size());
        CHECK(std::equal(data.begin(), data.end(), file.begin() + static_cast<std::ptrdiff_t>(m.data_offset)));
        CHECK(m.name == s.key + "." + m.ext);
      }
    }
  }
  const auto list = wds::parse_wids_json(wds::read_text_file(dir / "train.json"), dir / "train.json");
  REQUIRE(list.shards.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(list.shards[i].url == w.shards()[i].url);  // stored relative, resolved against the JSON's dir
    CHECK(list.shards[i].nsamples == w.shards()[i].nsamples);
    CHECK(list.shards[i].md5sum == w.shards()[i].md5sum);
    CHECK(list.shards[i].filesize == w.shards()[i].filesize);
  }
  CHECK(wds_test::read_file(dir / "train.json").size() > 0);
  CHECK(wds_test::text(wds_test::read_file(dir / "train.json")).find("\"url\": \"t-00.tar\"") != std::string::npos);
}

TEST_CASE("shard_writer .tar.gz: gzip shards, sizes and md5 of the compressed files", "[shard_writer][gzip]") {
  if (!wds::config::has_zlib) {
    WARN("built without zlib: gzip output is io.115, tested in test_compress");
    return;
  }
  wds_test::temp_dir dir;
  const auto samples = golden_samples();
  wds::shard_writer_options o;
  o.maxcount = 16;
  o.dali_index = true;  // not for compressed shards: offsets would mean nothing
  o.wids_json = dir / "gz.json";
  wds::shard_writer w(dir / "g-%d.tar.gz", o);
  for (const auto& s : samples) w.write(s);
  w.close();
  REQUIRE(w.shards().size() == 3);
  std::vector<std::string> paths;
  for (const auto& shard : w.shards()) {
    const auto file = wds_test::read_file(shard.url);
    REQUIRE(file.size() > 2);
    CHECK(file[0] == std::byte{0x1f});
    CHECK(file[1] == std::byte{0x8b});
    CHECK(shard.filesize == file.size());
    CHECK(!exists(wds::dali_index_path(shard.url)));
    paths.push_back(shard.url);
    int st = 1;
    if (wds_test::have_command("md5sum")) {
      CHECK(wds_test::run("md5sum '" + shard.url + "'", &st).substr(0, 32) == shard.md5sum);
      CHECK(st == 0);
    }
    if (wds_test::have_command("gzip")) {
      wds_test::run("gzip -t '" + shard.url + "'", &st);
      CHECK(st == 0);
    }
  }
  // Read back (gunzipped by magic): the same samples, split 16/16/8.
  std::vector<std::vector<std::string>> want(3), got;
  for (std::size_t i = 0; i < samples.size(); ++i) want[i / 16].push_back(samples[i].key());
  std::size_t n = 0;
  for (const auto& p : paths) {
    got.emplace_back();
    wds::sample_reader r(wds::open_input(p), p);
    while (auto s = r.next()) {
      got.back().push_back(s->key());
      const auto& orig = samples[n++];
      CHECK(s->at("bin") == orig.at("bin"));
      CHECK(s->at("seg.png") == orig.at("seg.png"));
    }
  }
  CHECK(got == want);
  CHECK(n == samples.size());
  const auto list = wds::parse_wids_json(wds::read_text_file(dir / "gz.json"), dir / "gz.json");
  REQUIRE(list.shards.size() == 3);
  CHECK(list.shards[2].nsamples == 8);
  CHECK(list.shards[2].md5sum == w.shards()[2].md5sum);
}
