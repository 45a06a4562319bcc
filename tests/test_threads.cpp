// SPDX-License-Identifier: MIT
// The threaded paths under load, for ThreadSanitizer runs (and as plain
// tests): etl's ordered per-shard pool with many tiny samples, errors and
// cancels mid-shard, transform_shards' --jobs budget, dataset's reader and
// workers with errors and early exits, indexed_dataset from several threads.
// Every check compares with the single-threaded result; none times anything.
#include "catch.hpp"
#include "support.hpp"

#include <wds/config.hpp>
#include <wds/dataset.hpp>
#include <wds/etl.hpp>
#include <wds/random_access.hpp>
#include <wds/shard_writer.hpp>
#if WDS_HAS_PNG
#include <wds/codec/png.hpp>
#endif

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using wds_test::temp_dir;

std::string key_of(std::size_t i) {
  char k[32];
  std::snprintf(k, sizeof k, "s%05u", unsigned(i));
  return k;
}

#if WDS_HAS_PNG
// A tiny PNG whose pixels depend on i (so a sample written out of order shows).
std::vector<std::byte> tiny_png(std::size_t i) {
  wds::image<std::uint8_t> im(3 + int(i % 5), 2 + int(i % 3), 3);
  for (std::size_t p = 0; p < im.size(); ++p) im.data()[p] = static_cast<std::uint8_t>(i * 7 + p * 13);
  return wds::encode_png(im.view());
}

// n samples: most with a PNG and a cls, some with text only (no map matches);
// sample `bad` (if < n) has a truncated PNG.
std::vector<std::byte> small_shard(std::size_t n, std::size_t bad = std::size_t(-1)) {
  wds::tar_writer w{wds::memory_sink{}};
  for (std::size_t i = 0; i < n; ++i) {
    wds::sample s(key_of(i));
    if (i % 7 != 3) {
      auto png = tiny_png(i);
      if (i == bad) png.resize(png.size() / 2);
      s.set("png", std::move(png));
    }
    s.set("cls", std::to_string(i % 10));
    if (i % 4 == 0) s.set("txt", std::string(i % 97, 'x'));
    w.write_sample(s);
  }
  w.finish();
  return w.sink().take();
}

wds::etl::options mapped_options() {
  wds::etl::options o;
  o.maps = {{"png", "decode|hflip|png"}};
  o.renames = {{"cls", "label"}};
  return o;
}

struct run_result {
  std::vector<std::byte> out;
  wds::etl::stats st;
  std::string error;  // what(), when the run threw
  bool closed = false;
};

run_result run_etl(const std::vector<std::byte>& in, wds::etl::options o) {
  run_result r;
  wds::memory_source src(in.data(), in.size(), "in.tar");
  wds::memory_sink sink;
  try {
    r.st = wds::etl::transform_shard(src, sink, o);
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  r.closed = sink.closed();
  r.out = sink.take();
  return r;
}

void check_same(const run_result& got, const run_result& want) {
  CHECK(got.error == want.error);
  CHECK(got.closed == want.closed);
  CHECK(got.out.size() == want.out.size());
  CHECK((got.out == want.out));
  CHECK(got.st.samples == want.st.samples);
  CHECK(got.st.skipped == want.st.skipped);
  CHECK(got.st.fields == want.st.fields);
  CHECK(got.st.bytes_in == want.st.bytes_in);
  CHECK(got.st.bytes_out == want.st.bytes_out);
  CHECK(got.st.skip_reasons == want.st.skip_reasons);
  CHECK(got.st.map_fields == want.st.map_fields);
}

// A sink that, after `after` bytes, sets a cancel flag or throws.
struct tripping_sink {
  std::size_t after = 0;
  std::atomic<bool>* cancel = nullptr;  // set it; else throw
  std::size_t written = 0;
  bool closed = false;
  void write(const std::byte*, std::size_t n) {
    written += n;
    if (written < after) return;
    if (cancel) cancel->store(true);
    else throw std::runtime_error("sink full");
  }
  void close() { closed = true; }
};
#endif

// Shards of tiny text samples for the loader tests.
std::vector<std::string> text_shards(const temp_dir& dir, std::size_t nshards, std::size_t per) {
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < nshards; ++i) {
    const std::string path = dir / ("t-" + std::to_string(i) + ".tar");
    wds::tar_writer<wds::file_sink> t(wds::file_sink{path});
    for (std::size_t k = 0; k < per; ++k) {
      wds::sample s(key_of(i * 1000 + k));
      s.set("txt", std::to_string(i * 1000 + k));
      t.write_sample(s);
    }
    t.finish();
    urls.push_back(path);
  }
  return urls;
}

std::size_t number_of(const wds::sample& s) { return std::stoul(wds_test::text(s.at("txt"))); }

}  // namespace

#if WDS_HAS_PNG
TEST_CASE("threads: etl pool on many tiny samples writes the 1-thread bytes", "[threads][etl]") {
  const auto in = small_shard(1000);
  const run_result one = run_etl(in, mapped_options());
  REQUIRE(one.error.empty());
  REQUIRE(one.st.samples == 1000);
  for (unsigned threads : {2u, 3u, 4u, 16u})
    for (std::size_t budget : {std::size_t(0), std::size_t(1), std::size_t(3000)}) {
      INFO(threads << " threads, max_inflight_bytes " << budget);
      auto o = mapped_options();
      o.threads = threads;
      o.max_inflight_bytes = budget;
      check_same(run_etl(in, o), one);
    }
  // The reference pipeline (no maps) passes the fields through: same again.
  wds::etl::options plain;
  const run_result ref = run_etl(in, plain);
  plain.threads = 4;
  check_same(run_etl(in, plain), ref);
}

TEST_CASE("threads: a bad sample mid-shard gives the 1-thread error and bytes", "[threads][etl]") {
  const auto in = small_shard(400, 257);
  for (auto policy : {wds::etl::error_policy::fail, wds::etl::error_policy::skip}) {
    auto o = mapped_options();
    o.on_error = policy;
    const run_result one = run_etl(in, o);
    if (policy == wds::etl::error_policy::fail) {
      CHECK(one.error.find(key_of(257)) != std::string::npos);
      CHECK(!one.closed);
    } else {
      CHECK(one.error.empty());
      CHECK(one.st.skipped == 1);
    }
    for (unsigned threads : {2u, 4u, 6u}) {
      INFO(threads << " threads, policy " << int(policy));
      o.threads = threads;
      check_same(run_etl(in, o), one);
    }
  }
}

TEST_CASE("threads: a sink that throws or cancels stops the pool cleanly", "[threads][etl]") {
  const auto in = small_shard(600);
  for (unsigned threads : {1u, 2u, 4u}) {
    INFO(threads << " threads");
    {
      wds::memory_source src(in.data(), in.size(), "in.tar");
      tripping_sink sink;
      sink.after = 20000;
      auto o = mapped_options();
      o.threads = threads;
      CHECK_THROWS_WITH(wds::etl::transform_shard(src, sink, o), "sink full");
      CHECK(!sink.closed);
    }
    {
      std::atomic<bool> cancel{false};
      wds::memory_source src(in.data(), in.size(), "in.tar");
      tripping_sink sink;
      sink.after = 20000;
      sink.cancel = &cancel;
      auto o = mapped_options();
      o.threads = threads;
      o.cancel = &cancel;
      int id = 0;
      try {
        wds::etl::transform_shard(src, sink, o);
      } catch (const wds::error& e) {
        id = e.id();
      }
      CHECK(id == 803);
      CHECK(!sink.closed);
    }
  }
}

TEST_CASE("threads: transform_shards with 1 to 5 jobs gives the same files and report", "[threads][etl]") {
  temp_dir dir;
  std::vector<std::string> inputs;
  for (std::size_t i = 0; i < 4; ++i) {
    inputs.push_back(dir / ("in-" + std::to_string(i) + ".tar"));
    wds_test::write_file(inputs.back(), small_shard(60 + 20 * i, i == 2 ? 33 : std::size_t(-1)));
  }
  std::vector<std::vector<std::byte>> want;
  std::string want_error;
  for (unsigned jobs : {1u, 2u, 3u, 5u}) {
    INFO(jobs << " jobs");
    const std::string out = dir / ("out-" + std::to_string(jobs));
    REQUIRE(wds_test::run("mkdir " + out + " && echo ok") == "ok\n");
    std::size_t updates = 0, finished_seen = 0;
    auto rep = wds::etl::transform_shards(inputs, out, mapped_options(), jobs,
                                          [&](const wds::etl::progress& p, const wds::etl::shard_result&) {
                                            ++updates;  // called under the batch's lock
                                            finished_seen = std::max(finished_seen, p.finished);
                                          });
    CHECK(updates == inputs.size());
    CHECK(finished_seen == inputs.size());
    CHECK(rep.totals.failed == 1);
    CHECK(rep.totals.done == 3);
    REQUIRE(rep.results.size() == inputs.size());
    CHECK(rep.results[2].state == wds::etl::shard_result::status::failed);
    if (jobs == 1) want_error = rep.results[2].error;
    CHECK(rep.results[2].error == want_error);
    CHECK(rep.results[2].error.find(key_of(33)) != std::string::npos);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (i == 2) continue;
      std::vector<std::byte> got = wds_test::read_file(rep.results[i].output);
      if (jobs == 1) want.push_back(got);
      else CHECK((got == want[i < 2 ? i : i - 1]));
    }
  }
}
#endif

TEST_CASE("threads: dataset workers keep the 0-thread order through skips and errors", "[threads][dataset]") {
  temp_dir dir;
  const auto urls = text_shards(dir, 5, 80);
  auto run = [&](std::size_t threads, wds::error_policy policy, std::size_t stop_after) {
    auto ds = wds::dataset(urls)
                  .seed(3)
                  .shard_shuffle(3)
                  .shuffle(20, 5)
                  .threads(threads)
                  .prefetch_bytes(3000)
                  .on_error(policy)
                  .map([](wds::sample s) {
                    const std::size_t n = number_of(s);
                    if (n % 37 == 5) throw std::runtime_error("bad " + std::to_string(n));
                    return n;
                  })
                  .select([](std::size_t n) { return n % 11 != 0; });
    std::vector<std::size_t> got;
    std::string error;
    try {
      for (std::size_t n : ds) {
        got.push_back(n);
        if (got.size() == stop_after) break;  // the iterator stops the threads
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    const auto& rep = ds.report();
    return std::make_tuple(got, error, rep.skipped_samples, rep.samples_read);
  };
  for (auto policy : {wds::error_policy::skip, wds::error_policy::raise}) {
    const auto want = run(0, policy, 0);
    if (policy == wds::error_policy::skip) {
      CHECK(std::get<1>(want).empty());
      CHECK(std::get<2>(want) > 5);
    } else {
      CHECK(std::get<1>(want).substr(0, 4) == "bad ");
    }
    for (std::size_t threads : {1u, 2u, 4u, 7u}) {
      INFO(threads << " threads, policy " << int(policy));
      const auto got = run(threads, policy, 0);
      CHECK(std::get<0>(got) == std::get<0>(want));
      CHECK(std::get<1>(got) == std::get<1>(want));
      if (policy == wds::error_policy::skip) {
        CHECK(std::get<2>(got) == std::get<2>(want));
        CHECK(std::get<3>(got) == std::get<3>(want));
      }
      // Leaving early (threads still busy, the reader prefetching) is clean.
      const auto early = run(threads, wds::error_policy::skip, 17);
      REQUIRE(std::get<0>(early).size() == 17);
      const std::vector<std::size_t> all = std::get<0>(run(0, wds::error_policy::skip, 0));
      CHECK(std::equal(std::get<0>(early).begin(), std::get<0>(early).end(), all.begin()));
    }
  }
}

TEST_CASE("threads: dataset epochs back to back on threads, batched", "[threads][dataset]") {
  temp_dir dir;
  const auto urls = text_shards(dir, 3, 50);
  auto sums = [&](std::size_t threads) {
    auto ds = wds::dataset(urls).seed(8).shuffle(16, 4).threads(threads).map(number_of).batched(7);
    std::vector<std::size_t> out;
    for (int epoch = 0; epoch < 3; ++epoch)
      for (const auto& batch : ds) {
        std::size_t s = 0;
        for (std::size_t n : batch) s = s * 31 + n;
        out.push_back(s);
      }
    return out;
  };
  const auto want = sums(0);
  CHECK(want.size() == 3 * 22);
  for (std::size_t threads : {1u, 3u, 6u}) {
    INFO(threads << " threads");
    CHECK(sums(threads) == want);
  }
}

TEST_CASE("threads: indexed_dataset read from several threads at once", "[threads][index]") {
  temp_dir dir;
  wds::shard_writer_options o;
  o.maxcount = 13;
  o.dali_index = true;
  o.wids_json = dir / "all.json";
  std::vector<wds::sample> written;
  {
    wds::shard_writer w(dir / "r-%02d.tar", o);
    for (int i = 0; i < 100; ++i) {
      wds::sample s(key_of(std::size_t(i)));
      s.set("bin", std::vector<std::byte>(std::size_t(i * 53 % 900), std::byte(i)));
      w.write(s);
      written.push_back(s);
    }
    w.close();
  }
  wds::indexed_dataset ds(dir / "all.json");
  REQUIRE(ds.size() == 100);
  std::atomic<int> mismatches{0};
  std::atomic<bool> done{false};
  std::uint64_t last_seen = 0;
  std::thread watcher([&] {  // bytes_read() while others read
    while (!done) last_seen = std::max(last_seen, ds.bytes_read());
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (std::uint64_t i = std::uint64_t(t); i < 100; i += 3) {
          wds::sample s = ds[i];
          if (s.key() != written[i].key() || s.at("bin") != written[i].at("bin")) ++mismatches;
        }
    });
  for (auto& r : readers) r.join();
  done = true;
  watcher.join();
  CHECK(mismatches == 0);
  CHECK(last_seen <= ds.bytes_read());
  CHECK(ds.bytes_read() > 0);
}
