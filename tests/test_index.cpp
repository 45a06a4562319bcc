// SPDX-License-Identifier: MIT
// Index files for existing shards (GNU long names, pax), DALI .idx parsing,
// wids JSON reading, random access by pread and the index sampler.
#include "catch.hpp"
#include "support.hpp"

#include <wds/index.hpp>
#include <wds/random_access.hpp>
#include <wds/shard_writer.hpp>

#include <set>
#include <string>
#include <vector>


TEST_CASE("index_shard: offsets are right for GNU long names and pax members", "[index]") {
  for (const char* name : {"gnu-gnu-long.tar", "gnu-posix-long.tar", "python-pax-long.tar", "python-gnu-long.tar",
                           "bsdtar-pax-long.tar", "gnu-ustar-basic.tar"}) {
    INFO(name);
    const std::string path = wds_test::data_path(std::string("tar/interop/") + name);
    const auto idx = wds::index_shard(path);
    const auto file = wds_test::read_file(path);
    CHECK(idx.info.filesize == file.size());
    wds::md5 m;
    m.update(file.data(), file.size());
    CHECK(idx.info.md5sum == m.hex());
    // Every member in the index holds, at its offset, what the streaming reader reads.
    wds::tar_reader t(wds::file_source(path), path);
    std::size_t members = 0, checked = 0;
    std::vector<std::pair<std::string, std::vector<std::byte>>> payloads;
    while (const wds::tar_member* mem = t.next()) {
      if (!mem->is_regular()) continue;
      std::vector<std::byte> b;
      t.read_payload(b);
      payloads.emplace_back(mem->name, std::move(b));
    }
    for (const auto& s : idx.samples)
      for (const auto& im : s.members) {
        ++members;
        for (const auto& [n, b] : payloads)
          if (n == im.name) {
            REQUIRE(im.size == b.size());
            CHECK(im.data_offset % 512 == 0);
            CHECK(std::equal(b.begin(), b.end(), file.begin() + static_cast<std::ptrdiff_t>(im.data_offset)));
            ++checked;
          }
      }
    CHECK(members == checked);
    CHECK(members > 0);
    // The text round-trips through DALI's parser.
    const auto parsed = wds::parse_dali_index(wds::dali_index_text(idx.samples));
    REQUIRE(parsed.size() == idx.samples.size());
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      CHECK(parsed[i].key == idx.samples[i].key);
      CHECK(parsed[i].members.size() == idx.samples[i].members.size());
    }
  }
}

TEST_CASE("DALI .idx text layout and parse errors", "[index]") {
  std::vector<wds::index_sample> s{{"a", {{"jpg", 512, 10, "a.jpg"}, {"cls", 1536, 1, "a.cls"}}},
                                   {"d/b", {{"seg.png", 2560, 3, "d/b.seg.png"}}}};
  CHECK(wds::dali_index_text(s) == "v1.2 2\njpg 512 10 a.jpg cls 1536 1 a.cls\nseg.png 2560 3 d/b.seg.png\n");
  CHECK(wds::parse_dali_index("v1.1 1\njpg 512 3\n").at(0).members.at(0).size == 3);
  CHECK_THROWS_AS(wds::parse_dali_index("v2.0 1\n"), wds::spec_error);
  CHECK_THROWS_AS(wds::parse_dali_index("v1.2 2\njpg 512 1 a.jpg\n"), wds::spec_error);
  CHECK_THROWS_AS(wds::parse_dali_index("v1.2 1\njpg 100 1 a.jpg\n"), wds::spec_error);  // not a block multiple
  CHECK_THROWS_AS(wds::parse_dali_index("v1.2 1\njpg 512 x a.jpg\n"), wds::spec_error);
  std::vector<wds::index_sample> bad{{"a b", {{"jpg", 512, 1, "a b.jpg"}}}};
  CHECK_THROWS_AS(wds::dali_index_text(bad), wds::spec_error);
  CHECK(wds::dali_index_path("d/x.tar") == "d/x.idx");
  CHECK(wds::dali_index_path("d.e/x.tar.gz") == "d.e/x.idx");
}

TEST_CASE("wids JSON shard lists read back, with base and datasets", "[index]") {
  const std::string j = R"({"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": "t",
    "shardlist": [{"url": "a.tar", "nsamples": 3, "filesize": 10240, "md5sum": "ab"},
                  {"url": "/abs/b.tar", "nsamples": 0}],
    "datasets": [{"name": "x", "base": "sub", "shardlist": [{"url": "c.tar", "nsamples": 2}]}]})";
  const auto l = wds::parse_wids_json(j, "/data/train.json");
  REQUIRE(l.shards.size() == 3);
  CHECK(l.shards[0].url == "/data/a.tar");
  CHECK(l.shards[0].md5sum == "ab");
  CHECK(l.shards[0].filesize == 10240);
  CHECK(l.shards[1].url == "/abs/b.tar");
  CHECK(l.shards[2].url == "/data/sub/c.tar");
  CHECK(l.shards[2].nsamples == 2);
  CHECK_THROWS_AS(wds::parse_wids_json(R"({"wids_version": 2, "shardlist": []})"), wds::spec_error);
  CHECK_THROWS_AS(wds::parse_wids_json(R"({"wids_version": 1, "shardlist": [{"url": "a"}]})"), wds::spec_error);
  CHECK_THROWS_AS(wds::parse_wids_json(R"({"wids_version": 1, "datasets": [{"source_url": "x.json"}]})"), wds::spec_error);
  // Written, read back equal.
  wds::wids_shard_list w;
  w.name = "n";
  w.shards = {{"a.tar", 5, 100, "ff"}, {"b \"q\".tar", 1, 0, ""}};
  const auto r = wds::parse_wids_json(wds::wids_json_text(w));
  REQUIRE(r.shards.size() == 2);
  CHECK(r.name == "n");
  CHECK(r.shards[1].url == "b \"q\".tar");
  CHECK(r.shards[0].nsamples == 5);
}

TEST_CASE("indexed_dataset: ds[i] by pread equals the streamed sample", "[index][random_access]") {
  wds_test::temp_dir dir;
  wds::shard_writer_options o;
  o.maxcount = 7;
  o.dali_index = true;
  o.wids_json = dir / "all.json";
  std::vector<wds::sample> written;
  {
    wds::shard_writer w(dir / "r-%02d.tar", o);
    for (int i = 0; i < 30; ++i) {
      wds::sample s((i == 9 ? std::string(120, 'p') + "/" : std::string()) + "k" + std::to_string(i));
      s.set("cls", std::to_string(i));
      s.set("bin", std::vector<std::byte>(std::size_t(i * 37 % 1500), std::byte(i)));
      w.write(s);
      written.push_back(s);
    }
    w.close();
  }
  wds::indexed_dataset ds(dir / "all.json");
  REQUIRE(ds.size() == 30);
  CHECK(ds.shards() == 5);
  CHECK(ds.locate(0) == std::pair<std::size_t, std::uint64_t>{0, 0});
  CHECK(ds.locate(7) == std::pair<std::size_t, std::uint64_t>{1, 0});
  CHECK(ds.locate(29) == std::pair<std::size_t, std::uint64_t>{4, 1});
  for (std::uint64_t i : {13u, 0u, 29u, 9u, 6u, 7u}) {
    wds::sample s = ds[i];
    CHECK(s.key() == written[i].key());
    CHECK(s.at("cls") == written[i].at("cls"));
    CHECK(s.at("bin") == written[i].at("bin"));
  }
  // Only the samples' bytes were read, not the shards.
  CHECK(ds.bytes_read() < 6 * 2048);
  CHECK_THROWS_AS(ds[30], wds::sample_error);
  // Without index files the shards are scanned in memory: same answers.
  wds_test::run("rm " + dir.path + "/*.idx " + dir.path + "/all.json");
  wds::indexed_dataset scanned(dir / "r-{00..04}.tar");
  REQUIRE(scanned.size() == 30);
  CHECK(scanned[22].at("bin") == written[22].at("bin"));
}

TEST_CASE("index_sampler: a global order split over any number of ranks", "[index][random_access]") {
  wds::index_sampler smp{103, 5};
  const auto g = smp.order(3);
  CHECK(std::set<std::uint64_t>(g.begin(), g.end()).size() == 103);
  CHECK(smp.order(3) == g);
  CHECK(smp.order(4) != g);
  for (int world : {1, 2, 4, 7}) {
    std::multiset<std::uint64_t> all;
    std::set<std::size_t> sizes_drop, sizes_pad;
    for (int r = 0; r < world; ++r) {
      auto v = smp.rank_indices(3, r, world);
      all.insert(v.begin(), v.end());
      sizes_drop.insert(smp.rank_indices(3, r, world, wds::equalize_mode::drop).size());
      sizes_pad.insert(smp.rank_indices(3, r, world, wds::equalize_mode::pad).size());
    }
    CHECK(all.size() == 103);
    CHECK(std::set<std::uint64_t>(all.begin(), all.end()).size() == 103);
    CHECK(sizes_drop.size() == 1);
    CHECK(sizes_pad.size() == 1);
  }
  // Resume on another world size: 4 ranks did 10 steps (40 global), 3 ranks go on.
  std::vector<std::uint64_t> rest;
  for (int step = 0;; ++step) {
    bool any = false;
    for (int r = 0; r < 3; ++r) {
      auto v = smp.rank_indices(3, r, 3, wds::equalize_mode::none, 40);
      if (std::size_t(step) < v.size()) rest.push_back(v[std::size_t(step)]), any = true;
    }
    if (!any) break;
  }
  CHECK(rest == std::vector<std::uint64_t>(g.begin() + 40, g.end()));
}
