// SPDX-License-Identifier: MIT
// wds::dataset: webdataset-compatible orders (golden: tests/golden/gen_loader.py),
// thread-count invariance, exactly-once splits, equal per-rank epochs, exact
// resume, error policies, decode/to_tuple/batched collation.
#include "catch.hpp"
#include "support.hpp"

#include <wds/config.hpp>
#include <wds/dataset.hpp>
#include <wds/json.hpp>
#include <wds/python_random.hpp>
#include <wds/shard_writer.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace {
wds::json load_json(const std::string& rel) {
  auto b = wds_test::read_file(wds_test::data_path(rel));
  return wds::json::parse(b.data(), b.size());
}

// nshards shards "shard-NNN.tar" of `per` samples "NNN/KK" (or per_shard[i]).
std::vector<std::string> make_shards(const wds_test::temp_dir& dir, std::size_t nshards,
                                     std::vector<std::size_t> per_shard, bool index = false) {
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < nshards; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "shard-%03u.tar", unsigned(i % 1000));
    urls.push_back(dir / name);
    wds::tar_writer<wds::file_sink> t(wds::file_sink(dir / name));
    const std::size_t per = per_shard.size() == 1 ? per_shard[0] : per_shard[i];
    for (std::size_t k = 0; k < per; ++k) {
      char key[64];
      std::snprintf(key, sizeof key, "%03u/%02u", unsigned(i % 1000), unsigned(k % 100));
      wds::sample s(key);
      s.set("cls", std::to_string(i * 100 + k));
      s.set("txt", std::string(key));
      t.write_sample(s);
    }
    t.finish();
    if (index) {
      auto idx = wds::index_shard(dir / name);
      wds::write_text_file(wds::dali_index_path(dir / name), wds::dali_index_text(idx.samples));
    }
  }
  return urls;
}

template <class P>
std::vector<std::string> keys_of(P& ds) {
  std::vector<std::string> out;
  for (auto& s : ds) out.push_back(s.key());
  return out;
}
}  // namespace

TEST_CASE("dataset reads shards in order, lazily, as a range", "[dataset]") {
  wds_test::temp_dir dir;
  auto urls = make_shards(dir, 3, {4});
  wds::dataset ds(dir / "shard-{000..002}.tar");
  auto keys = keys_of(ds);
  REQUIRE(keys.size() == 12);
  CHECK(keys.front() == "000/00");
  CHECK(keys.back() == "002/03");
  CHECK(ds.report().samples_read == 12);
  CHECK(ds.report().shards == 3);
  // A directory and a text file of URLs give the same list.
  wds::dataset by_dir(dir.path);
  CHECK(keys_of(by_dir) == keys);
  wds_test::write_file(dir / "list.txt", wds_test::bytes("# shards\n" + urls[0] + "\n\n" + urls[1] + "\n" + urls[2] + "\n"));
  wds::dataset by_list(dir / "list.txt");
  CHECK(keys_of(by_list) == keys);
}

TEST_CASE("python rng mode reproduces webdataset's buffer shuffle orders", "[dataset][python_random]") {
  const wds::json g = load_json("loader/shuffle_orders.json");
  for (const auto& c : g["shuffle"].as_array()) {
    const auto n = static_cast<std::size_t>(c["n"].as_int());
    wds::detail::buffer_shuffle<std::size_t> b(static_cast<std::size_t>(c["bufsize"].as_int()),
                                               static_cast<std::size_t>(c["initial"].as_int()),
                                               wds::detail::any_rng(wds::python_random(c["seed"].as_int())));
    std::size_t k = 0;
    std::vector<std::int64_t> got;
    while (auto x = b.next([&]() -> std::optional<std::size_t> {
      if (k < n) return k++;
      return std::nullopt;
    }))
      got.push_back(static_cast<std::int64_t>(*x));
    std::vector<std::int64_t> want;
    for (const auto& v : c["order"].as_array()) want.push_back(v.as_int());
    CHECK(got == want);
  }
  // WebDataset(urls, shardshuffle=S, seed=seed).shuffle(B, initial=I, seed=seed2)
  for (const auto& c : g["dataset"].as_array()) {
    wds_test::temp_dir dir;
    const auto nshards = static_cast<std::size_t>(c["nshards"].as_int());
    auto urls = make_shards(dir, nshards, {static_cast<std::size_t>(c["per_shard"].as_int())});
    auto ds = wds::dataset(urls)
                  .rng(wds::rng_kind::python)
                  .reshuffle_each_epoch(false)
                  .seed(c["seed"].as_int())
                  .shard_shuffle(static_cast<std::size_t>(c["shardshuffle"].as_int()))
                  .shuffle(static_cast<std::size_t>(c["bufsize"].as_int()), static_cast<std::size_t>(c["initial"].as_int()),
                           c["seed2"].as_int());
    std::vector<std::string> want;
    for (const auto& v : c["samples"].as_array()) want.push_back(v.as_string());
    CHECK(keys_of(ds) == want);
    CHECK(keys_of(ds) == want);  // the same every epoch, as with a fixed webdataset seed
  }
}

TEST_CASE("the order is the same whatever the number of threads", "[dataset]") {
  wds_test::temp_dir dir;
  make_shards(dir, 7, {1, 5, 9, 0, 3, 12, 4});
  auto base = wds::dataset(dir.path).seed(11).shard_shuffle(5).shuffle(10, 3);
  auto one = keys_of(base);
  REQUIRE(one.size() == 34);
  for (std::size_t t : {1u, 2u, 3u, 8u}) {
    auto ds = wds::dataset(dir.path).seed(11).shard_shuffle(5).shuffle(10, 3).threads(t).prefetch_bytes(2000);
    auto mapped = ds.map([](wds::sample s) { return s.key(); });
    std::vector<std::string> got;
    for (auto& k : mapped) got.push_back(k);
    CHECK(got == one);
  }
  // Each epoch reshuffles (seed + epoch), every sample still exactly once.
  auto e1 = keys_of(base);
  CHECK(e1 != one);
  CHECK(std::multiset<std::string>(e1.begin(), e1.end()) == std::multiset<std::string>(one.begin(), one.end()));
}

TEST_CASE("every sample exactly once per epoch across ranks x workers x threads", "[dataset][property]") {
  wds::python_random rnd(2026);
  for (int trial = 0; trial < 25; ++trial) {
    wds_test::temp_dir dir;
    const auto nshards = static_cast<std::size_t>(rnd.randint(1, 12));
    std::vector<std::size_t> per;
    std::size_t total = 0;
    for (std::size_t i = 0; i < nshards; ++i) per.push_back(static_cast<std::size_t>(rnd.randint(0, 7))), total += per.back();
    make_shards(dir, nshards, per);
    const int world = static_cast<int>(rnd.randint(1, 4)), workers = static_cast<int>(rnd.randint(1, 3));
    const auto threads = static_cast<std::size_t>(rnd.randint(0, 3));
    const auto epoch = static_cast<std::uint64_t>(rnd.randint(0, 5));
    const bool python = rnd.randint(0, 1) == 1;
    INFO("trial " << trial << " shards " << nshards << " world " << world << " workers " << workers);
    std::multiset<std::string> seen;
    for (int r = 0; r < world; ++r)
      for (int w = 0; w < workers; ++w) {
        auto ds = wds::dataset(dir.path)
                      .rng(python ? wds::rng_kind::python : wds::rng_kind::wds)
                      .seed(trial)
                      .shard_shuffle(3)
                      .shuffle(static_cast<std::size_t>(rnd.randint(1, 20)), 2)
                      .split_by_node(r, world)
                      .split_by_worker(w, workers)
                      .threads(threads);
        ds.set_epoch(epoch);
        try {
          for (auto& s : ds) seen.insert(s.key());
        } catch (const wds::sample_error& e) {
          CHECK(e.id() == 321);  // a reader without shards says so
        }
      }
    CHECK(seen.size() == total);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == total);
  }
}

TEST_CASE("equalize gives every rank the same number of samples", "[dataset]") {
  wds_test::temp_dir dir;
  make_shards(dir, 5, {3, 8, 1, 6, 2}, /*index=*/true);  // counts from the .idx files
  for (auto mode : {wds::equalize_mode::drop, wds::equalize_mode::pad}) {
    std::vector<std::size_t> counts;
    for (int r = 0; r < 3; ++r) {
      auto ds = wds::dataset(dir.path).seed(4).shard_shuffle(10).split_by_node(r, 3).equalize(mode);
      counts.push_back(keys_of(ds).size());
    }
    CHECK(counts[0] == counts[1]);
    CHECK(counts[1] == counts[2]);
    CHECK(counts[0] > 0);
  }
  // Without counts, equalize refuses (rather than hang a distributed job).
  wds_test::temp_dir bare;
  make_shards(bare, 2, {1, 2});
  auto ds = wds::dataset(bare.path).split_by_node(0, 2).equalize(wds::equalize_mode::drop);
  CHECK_THROWS_AS(ds.begin(), wds::spec_error);
  // with_epoch(n): exactly n items, wrapping around the shards.
  auto we = wds::dataset(bare.path).with_epoch(7);
  CHECK(keys_of(we).size() == 7);
}

TEST_CASE("resume at a random point gives the same remaining order", "[dataset]") {
  wds_test::temp_dir dir;
  make_shards(dir, 6, {5, 7, 3, 9, 2, 6});
  wds::python_random rnd(5);
  for (int trial = 0; trial < 8; ++trial) {
    auto full = wds::dataset(dir.path).seed(99).shard_shuffle(4).shuffle(8, 2).batched(3);
    full.set_epoch(2);
    std::vector<std::string> all;
    for (auto& b : full)
      for (auto& s : b) all.push_back(s.key());
    const auto stop = static_cast<std::size_t>(rnd.randint(1, 11));
    auto first = wds::dataset(dir.path).seed(99).shard_shuffle(4).shuffle(8, 2).batched(3).threads(std::size_t(trial % 3));
    first.set_epoch(2);
    std::vector<std::string> got;
    wds::cursor saved;
    {
      std::size_t n = 0;
      for (auto& b : first) {
        for (auto& s : b) got.push_back(s.key());
        saved = first.cursor();
        if (++n == stop) break;
      }
    }
    const wds::cursor restored = wds::cursor::parse(saved.str());
    CHECK(restored == saved);
    auto second = wds::dataset(dir.path).seed(99).shard_shuffle(4).shuffle(8, 2).batched(3).threads(std::size_t(trial % 2 + 1));
    second.resume(restored);
    for (auto& b : second)
      for (auto& s : b) got.push_back(s.key());
    CHECK(got == all);
  }
  auto other = wds::dataset(dir.path).seed(1);
  CHECK_THROWS_AS(other.resume(wds::cursor{2, 0, 0}), wds::spec_error);
}

TEST_CASE("error policies: raise, skip with counters, callback", "[dataset]") {
  wds_test::temp_dir dir;
  make_shards(dir, 2, {3});
  wds_test::write_file(dir / "shard-001.tar", wds_test::bytes(std::string(700, 'x')));  // corrupt
  const std::string spec = dir / "shard-{000..002}.tar";  // shard-002 is missing
  {
    wds::dataset ds(spec);
    CHECK_THROWS_AS(keys_of(ds), wds::error);
  }
  {
    auto ds = wds::dataset(spec).on_error(wds::error_policy::skip);
    CHECK(keys_of(ds).size() == 3);
    CHECK(ds.report().skipped_shards == 2);
    CHECK(ds.report().errors_by_id.count(100) == 1);  // missing file
    CHECK(ds.report().str().find("2 shards skipped") != std::string::npos);
  }
  {
    // A bad label: the sample is skipped, counted, the others go on.
    std::vector<std::string> seen;
    auto ds = wds::dataset(dir / "shard-000.tar")
                  .on_error([&](const std::exception& e) {
                    seen.push_back(e.what());
                    return true;
                  })
                  .map([](wds::sample s) {
                    if (s.key() == "000/01") throw wds::decode_error(490, {}, "bad");
                    return s.key();
                  });
    std::vector<std::string> got;
    for (auto& k : ds) got.push_back(k);
    CHECK(got == std::vector<std::string>{"000/00", "000/02"});
    CHECK(seen.size() == 1);
    CHECK(ds.report().skipped_samples == 1);
  }
}

TEST_CASE("to_tuple and batched collate into vectors and contiguous tensors", "[dataset]") {
  wds_test::temp_dir dir;
  make_shards(dir, 2, {5});
  auto ds = wds::dataset(dir.path).to_tuple<std::string, std::int64_t>("txt", "nope;cls").batched(4);
  std::vector<std::size_t> sizes;
  std::vector<std::int64_t> labels;
  for (auto& [txt, cls] : ds) {
    sizes.push_back(txt.size());
    labels.insert(labels.end(), cls.begin(), cls.end());
  }
  CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
  CHECK(labels == std::vector<std::int64_t>{0, 1, 2, 3, 4, 100, 101, 102, 103, 104});
  auto full = wds::dataset(dir.path).to_tuple<std::int64_t>("cls").batched(4, false);
  std::size_t n = 0;
  for (auto& b : full) n += std::get<0>(b).size();
  CHECK(n == 8);
  // Tensors stack into {N, ...}.
  auto t = wds::dataset(dir.path)
               .map([](wds::sample s) {
                 wds::tensor<float> x({2, 3});
                 for (std::size_t i = 0; i < 6; ++i) x[i] = float(s.key().back() - '0') + float(i) / 10;
                 return x;
               })
               .batched(3);
  auto it = t.begin();
  CHECK(it->shape() == std::vector<std::size_t>{3, 2, 3});
  CHECK((*it)[6] == Approx(1.0f));
  CHECK((*it)[17] == Approx(2.5f));
}

TEST_CASE("decode(spec) -> images and tensors, batched NCHW", "[dataset][decode]") {
  if (!wds::config::has_jpeg || !wds::config::has_png) {
    WARN("skipped: needs the JPEG and PNG codecs");
    return;
  }
  const std::string pets = wds_test::data_path("etl/pets-small.tar");
  auto ds = wds::dataset(pets).decode("torchrgb").to_tuple<wds::tensor<float>, std::int64_t>("image.jpg", "cls");
  std::size_t n = 0;
  for (auto& [img, cls] : ds) {
    CHECK(img.rank() == 3);
    CHECK(img.dim(0) == 3);
    CHECK(cls >= 0);
    for (std::size_t i = 0; i < img.size(); i += 997) CHECK((img[i] >= 0.0f && img[i] <= 1.0f));
    ++n;
  }
  CHECK(n > 5);
  // rgb8 keeps HWC bytes; different sizes refuse to stack (error 322).
  auto b = wds::dataset(pets).decode("rgb8").to_tuple<wds::image<std::uint8_t>>("image.jpg").batched(2);
  CHECK_THROWS_AS(b.begin(), wds::sample_error);
  auto l = wds::dataset(pets).decode("l8").map([](wds::decoded_sample s) { return s.get<wds::image<std::uint8_t>>("image.jpg").channels(); });
  for (int c : l) CHECK(c == 1);
  CHECK_THROWS_AS(wds::dataset(pets).decode("rgb16"), wds::spec_error);
}
