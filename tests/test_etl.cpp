// SPDX-License-Identifier: MIT
// wds::etl against the golden outputs of the Python reference pipeline
// (tests/golden/gen_reference_etl.py: webdataset TarWriter semantics + Pillow
// 9.4 + torchvision 0.14).
#include "catch.hpp"
#include "support.hpp"

#include <wds/etl.hpp>
#include <wds/pipeline.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string data_path(const std::string& name) { return std::string(WDS_TEST_DATA_DIR) + "/etl/" + name; }

std::vector<std::byte> read_bytes(const std::string& path) {
  std::vector<std::byte> out;
  REQUIRE_NOTHROW(out = wds_test::read_file(path));
  return out;
}

struct member {
  std::string name;
  std::vector<std::byte> data;
  std::int64_t mtime;
  std::uint32_t mode;
  std::string uname, gname;
};

std::vector<member> members_of(const std::vector<std::byte>& tar) {
  wds::tar_reader r(wds::memory_source(tar.data(), tar.size(), "t"));
  std::vector<member> out;
  while (const auto* m = r.next()) {
    member x{m->name, {}, m->mtime, m->mode, m->uname, m->gname};
    r.read_payload(x.data);
    out.push_back(std::move(x));
  }
  return out;
}

// Compares member by member first, so a failure names the member.
void check_same_tar(const std::vector<std::byte>& got, const std::vector<std::byte>& want) {
  auto g = members_of(got), w = members_of(want);
  REQUIRE(g.size() == w.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    INFO("member " << i << " " << w[i].name);
    CHECK(g[i].name == w[i].name);
    CHECK(g[i].data.size() == w[i].data.size());
    CHECK((g[i].data == w[i].data));
  }
  CHECK(got.size() == want.size());
  CHECK((got == want));  // headers and padding too
}

std::vector<std::byte> run_etl(const std::vector<std::byte>& in, const wds::etl::options& opt,
                               wds::etl::stats* st = nullptr) {
  wds::memory_source src(in.data(), in.size(), "in.tar");
  wds::memory_sink sink;
  auto s = wds::etl::transform_shard(src, sink, opt);
  CHECK(sink.closed());
  if (st) *st = s;
  return sink.take();
}

using wds_test::temp_dir;

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::size_t count_files(const std::string& dir) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace

TEST_CASE("etl: center crop axis follows torchvision (half-even offsets, padding)", "[etl]") {
  using wds::etl::detail::center_crop_axis;
  auto src = [](int s) { return center_crop_axis(s, 350).src; };
  CHECK(src(350) == 0);
  CHECK(src(351) == 0);
  CHECK(src(353) == 2);
  CHECK(src(355) == 2);
  CHECK(src(357) == 4);
  CHECK(src(500) == 75);
  auto a = center_crop_axis(300, 350);
  CHECK((a.src == 0 && a.dst == 25 && a.len == 300));
  a = center_crop_axis(349, 350);
  CHECK((a.dst == 0 && a.len == 349));
  a = center_crop_axis(200, 350);
  CHECK((a.dst == 75 && a.len == 200));
}

TEST_CASE("etl: normalize table and padding colour equal torch's", "[etl]") {
  auto lut = read_bytes(data_path("normalize-lut.bin"));  // written by torch
  REQUIRE(lut.size() == 768);
  wds::normalize_lut ours(wds::imagenet_mean(), wds::imagenet_std());
  for (int k = 0; k < 3; ++k)
    for (int u = 0; u < 256; ++u) {
      INFO("channel " << k << " value " << u);
      CHECK(ours.table(k)[std::size_t(u)] == std::to_integer<int>(lut[std::size_t(k * 256 + u)]));
    }
  wds::etl::reference_pipeline p;
  CHECK(p.padding_color() == std::array<std::uint8_t, 3>{228, 249, 52});
}

#if WDS_HAS_JPEG && WDS_HAS_PNG

TEST_CASE("etl: reference pipeline output is byte-identical to the Python reference", "[etl][golden]") {
  auto in = read_bytes(data_path("pets-small.tar"));
  auto want = read_bytes(data_path("pets-small.expected.tar"));
  wds::etl::stats st;
  auto got = run_etl(in, {}, &st);
  check_same_tar(got, want);
  CHECK(st.samples == 11);
  CHECK(st.skipped == 0);
  CHECK(st.fields == 45);
  CHECK(st.bytes_in <= in.size());  // up to the end-of-archive marker
  CHECK(st.bytes_in + 10240 > in.size());
  CHECK(st.bytes_out == want.size());
  CHECK(got.size() % 10240 == 0);
}

TEST_CASE("etl: trimaps in every PNG mode (LA, RGB, RGBA, 16-bit, palette, 1-bit, L) match", "[etl][golden]") {
  check_same_tar(run_etl(read_bytes(data_path("trimap-modes.tar")), {}),
                 read_bytes(data_path("trimap-modes.expected.tar")));
}

TEST_CASE("etl: a transformer reused across shards gives the same bytes", "[etl][golden]") {
  auto in = read_bytes(data_path("pets-small.tar"));
  auto want = read_bytes(data_path("pets-small.expected.tar"));
  wds::etl::shard_transformer t({});
  for (int round = 0; round < 2; ++round) {
    wds::memory_source src(in.data(), in.size(), "in.tar");
    wds::memory_sink sink;
    t.run(src, sink);
    CHECK((sink.bytes() == want));
  }
}

TEST_CASE("etl: --mtime sets every member's mtime, payloads unchanged", "[etl]") {
  auto in = read_bytes(data_path("pets-small.tar"));
  auto want = members_of(read_bytes(data_path("pets-small.expected.tar")));
  wds::etl::options opt;
  opt.mtime = 1234567890;
  auto got = members_of(run_etl(in, opt));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].mtime == 1234567890);
    CHECK(got[i].mode == 0444);
    CHECK(got[i].uname == "bigdata");
    CHECK(got[i].gname == "bigdata");
    CHECK((got[i].data == want[i].data));
  }
}

TEST_CASE("etl: a sample without trimap.png fails the shard, or is skipped and counted", "[etl]") {
  auto in = read_bytes(data_path("bad-missing-trimap.tar"));
  try {
    run_etl(in, {});
    FAIL("no error");
  } catch (const wds::sample_error& e) {
    CHECK(e.id() == 302);
    CHECK(std::string(e.what()).find("trimap.png") != std::string::npos);
  }
  wds::etl::options opt;
  opt.on_error = wds::etl::error_policy::skip;
  wds::etl::stats st;
  auto got = run_etl(in, opt, &st);
  CHECK(st.skipped == 1);
  CHECK(st.samples == 2);
  REQUIRE(st.skip_reasons.size() == 1);
  check_same_tar(got, read_bytes(data_path("bad-missing-trimap.skip.expected.tar")));
}

TEST_CASE("etl: a truncated JPEG fails the shard, or is skipped and counted", "[etl]") {
  auto in = read_bytes(data_path("bad-truncated-jpeg.tar"));
  try {
    run_etl(in, {});
    FAIL("no error");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() >= 400);
    CHECK(e.id() < 430);
    CHECK(e.member() == "Abyssinian_2.image.jpg");
  }
  wds::etl::options opt;
  opt.on_error = wds::etl::error_policy::skip;
  wds::etl::stats st;
  auto got = run_etl(in, opt, &st);
  CHECK(st.skipped == 1);
  check_same_tar(got, read_bytes(data_path("bad-truncated-jpeg.skip.expected.tar")));
}

TEST_CASE("etl: a file sink is only created when the shard succeeds", "[etl]") {
  temp_dir d;
  const std::string out = d.path + "/out.tar";
  {
    wds::file_source src(data_path("bad-missing-trimap.tar"));
    wds::file_sink sink(out);
    CHECK_THROWS_AS(wds::etl::transform_shard(src, sink, {}), wds::sample_error);
  }
  CHECK(!exists(out));
  CHECK(count_files(d.path) == 0);  // no temporary left behind
  {
    wds::file_source src(data_path("pets-small.tar"));
    wds::file_sink sink(out);
    wds::etl::transform_shard(src, sink, {});
  }
  CHECK((read_bytes(out) == read_bytes(data_path("pets-small.expected.tar"))));
}

TEST_CASE("etl: the image step on the padding-only corner cases", "[etl]") {
  // 1x1 and 1x400 images: almost everything is padding.
  wds::etl::reference_pipeline p;
  for (auto wh : {std::pair<int, int>{1, 1}, {1, 400}, {400, 1}}) {
    wds::image<std::uint8_t> im(wh.first, wh.second, 3, 0);
    auto jpg = wds::encode_jpeg(im.view());
    std::vector<std::byte> out;
    p.process_image(jpg.data(), jpg.size(), out, {}, {});
    auto back = wds::decode_jpeg(out.data(), out.size());
    CHECK(back.width() == 350);
    CHECK(back.height() == 350);
  }
}

TEST_CASE("etl: --rename changes exts after the transform; a collision is an error", "[etl]") {
  auto in = read_bytes(data_path("pets-small.tar"));
  auto want = members_of(read_bytes(data_path("pets-small.expected.tar")));
  wds::etl::options opt;
  opt.renames = {{"JSON", "meta.json"}, {"trimap.png", "trimap.jpg"}};
  auto got = members_of(run_etl(in, opt));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    std::string n = want[i].name;
    auto dot = n.find('.');
    std::string key = n.substr(0, dot), ext = n.substr(dot + 1);
    if (ext == "json") ext = "meta.json";
    if (ext == "trimap.png") ext = "trimap.jpg";
    CHECK(got[i].name == key + "." + ext);  // order still sorted by the new ext
    CHECK((got[i].data == want[i].data));
  }
  wds::etl::options clash;
  clash.renames = {{"cls", "json"}};
  try {
    run_etl(in, clash);
    FAIL("no error");
  } catch (const wds::error& e) {
    CHECK(e.id() == 801);
  }
}

TEST_CASE("etl: --map runs a compose spec on exact exts only (Pillow/torchvision golden)", "[etl][golden]") {
  wds::etl::options opt;
  opt.maps = {{"JPG", "decode|resize(256)|center_crop(224)|jpeg(90)"}};
  opt.renames = {{"cls", "label"}};
  wds::etl::stats st;
  auto got = run_etl(read_bytes(data_path("map-input.tar")), opt, &st);
  CHECK(st.samples == 4);
  check_same_tar(got, read_bytes(data_path("map-input.expected.tar")));
}

TEST_CASE("etl: a bad --map spec fails when the transformer is built", "[etl]") {
  wds::etl::options opt;
  opt.maps = {{"jpg", "decode|resize(256|jpeg"}};
  try {
    wds::etl::shard_transformer t(opt);
    FAIL("no error");
  } catch (const wds::spec_error& e) {
    CHECK(e.offset() != wds::location::unknown_offset);
  }
}

#endif  // WDS_HAS_JPEG && WDS_HAS_PNG

TEST_CASE("etl: ls JSON lines escape names and replace invalid UTF-8", "[etl]") {
  wds::sample s(std::string("a\"b\\c\x01\xff\xc3\xa9", 9), "u");
  s.set("jpg", std::string_view("12345"));
  s.set("x\ty", std::string_view(""));
  CHECK(wds::etl::sample_json_line(s) ==
        "{\"__key__\": \"a\\\"b\\\\c\\u0001\xEF\xBF\xBD\xC3\xA9\", \"fields\": {\"jpg\": 5, \"x\\ty\": 0}}");
  wds::sample t("k", "u");
  CHECK(wds::etl::sample_json_line(t) == "{\"__key__\": \"k\", \"fields\": {}}");
}

TEST_CASE("etl: output_path_for keeps the input file name", "[etl]") {
  CHECK(wds::etl::output_path_for("a/b/shard-001.tar", "out/") == "out/shard-001.tar");
  CHECK(wds::etl::output_path_for("shard.tar.gz", "out") == "out/shard.tar.gz");
}

#if WDS_HAS_JPEG && WDS_HAS_PNG
TEST_CASE("etl: directory mode with a bad shard, then resume", "[etl][dir]") {
  temp_dir in, out;
  auto good = read_bytes(data_path("pets-small.tar"));
  auto bad = read_bytes(data_path("bad-truncated-jpeg.tar"));
  for (int i = 0; i < 4; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "/shard-%03d.tar", i);
    std::ofstream f(in.path + name, std::ios::binary);
    const auto& b = i == 2 ? bad : good;
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  }
  auto inputs = wds::expand_braces(in.path + "/shard-{000..003}.tar");
  std::vector<std::size_t> seen;
  auto rep = wds::etl::transform_shards(inputs, out.path + "/", {}, 2,
                                        [&](const wds::etl::progress& p, const wds::etl::shard_result&) {
                                          seen.push_back(p.finished);
                                        });
  CHECK(!rep.ok());
  CHECK(rep.totals.done == 3);
  CHECK(rep.totals.failed == 1);
  CHECK(rep.totals.counts.samples == 33);
  CHECK(seen.size() == 4);
  CHECK(rep.results[2].state == wds::etl::shard_result::status::failed);
  CHECK(rep.results[2].error.find("shard-002.tar") != std::string::npos);
  CHECK(!exists(out.path + "/shard-002.tar"));
  CHECK(count_files(out.path) == 3);
  auto want = read_bytes(data_path("pets-small.expected.tar"));
  CHECK((read_bytes(out.path + "/shard-000.tar") == want));
  CHECK((read_bytes(out.path + "/shard-003.tar") == want));

  // Resume: the three complete outputs are skipped, the bad one fails again;
  // a stale temporary from a killed run is cleaned up.
  { std::ofstream f(out.path + "/.shard-002.tar.AbCdEf.tmp"); f << "partial"; }
  auto rep2 = wds::etl::transform_shards(inputs, out.path, {}, 1);
  CHECK(rep2.totals.existing == 3);
  CHECK(rep2.totals.failed == 1);
  CHECK(rep2.totals.done == 0);
  CHECK(count_files(out.path) == 3);

  // Same names twice, or outputs over inputs: refused before any work.
  CHECK_THROWS_AS(wds::etl::transform_shards({inputs[0], inputs[0]}, out.path, {}, 1), wds::error);
  CHECK_THROWS_AS(wds::etl::transform_shards({inputs[0]}, in.path, {}, 1), wds::error);
}

TEST_CASE("etl: a cancelled run stops with error 803 and leaves no output", "[etl]") {
  temp_dir d;
  std::atomic<bool> cancel{true};
  wds::etl::options opt;
  opt.cancel = &cancel;
  {
    wds::file_source src(data_path("pets-small.tar"));
    wds::file_sink sink(d.path + "/o.tar");
    try {
      wds::etl::transform_shard(src, sink, opt);
      FAIL("no error");
    } catch (const wds::error& e) {
      CHECK(e.id() == 803);
    }
  }
  CHECK(count_files(d.path) == 0);
}
#endif

#if WDS_HAS_JPEG && WDS_HAS_PNG
namespace {

// Delivers at most 4 KiB per read and records how far reading ran ahead of
// the bytes the sink had received: the in-flight window, plus small buffers.
struct lead_probe {
  std::uint64_t delivered = 0, written = 0, peak_lead = 0;
};
class trickle_source {
 public:
  trickle_source(const std::vector<std::byte>& b, lead_probe& p) : b_(&b), p_(&p) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    n = std::min<std::size_t>({n, 4096, b_->size() - pos_});
    std::copy(b_->begin() + std::ptrdiff_t(pos_), b_->begin() + std::ptrdiff_t(pos_ + n), dst);
    pos_ += n;
    p_->delivered += n;
    p_->peak_lead = std::max(p_->peak_lead, p_->delivered - std::min(p_->delivered, p_->written));
    return n;
  }

 private:
  const std::vector<std::byte>* b_;
  lead_probe* p_;
  std::size_t pos_ = 0;
};
class counting_sink {
 public:
  explicit counting_sink(lead_probe& p) : p_(&p) {}
  void write(const std::byte* d, std::size_t n) {
    out.insert(out.end(), d, d + n);
    p_->written += n;
  }
  void close() {}
  std::vector<std::byte> out;

 private:
  lead_probe* p_;
};

// Renamed copies of every sample of the shards, one after the other.
std::vector<std::byte> repeat_shards(const std::vector<std::vector<std::byte>>& tars) {
  wds::tar_writer w{wds::memory_sink{}};
  int c = 0;
  for (const auto& tar : tars) {
    for (const auto& m : members_of(tar)) w.write("r" + std::to_string(c) + "_" + m.name, m.data);
    ++c;
  }
  w.finish();
  return w.sink().take();
}
std::vector<std::byte> repeat_shard(const std::vector<std::byte>& tar, int copies) {
  return repeat_shards(std::vector<std::vector<std::byte>>(std::size_t(copies), tar));
}

std::vector<std::byte> run_threads(const std::vector<std::byte>& in, wds::etl::options opt, unsigned threads,
                                   wds::etl::stats* st = nullptr) {
  opt.threads = threads;
  return run_etl(in, opt, st);
}

}  // namespace

TEST_CASE("etl: 1 to 4 threads on one shard give the same bytes and stats", "[etl][threads][golden]") {
  struct tc {
    const char* in;
    const char* want;
    wds::etl::options opt;
  };
  wds::etl::options skip;
  skip.on_error = wds::etl::error_policy::skip;
  wds::etl::options mapped;
  mapped.maps = {{"JPG", "decode|resize(256)|center_crop(224)|jpeg(90)"}};
  mapped.renames = {{"cls", "label"}};
  const tc cases[] = {{"pets-small.tar", "pets-small.expected.tar", {}},
                      {"trimap-modes.tar", "trimap-modes.expected.tar", {}},
                      {"map-input.tar", "map-input.expected.tar", mapped},
                      {"bad-missing-trimap.tar", "bad-missing-trimap.skip.expected.tar", skip},
                      {"bad-truncated-jpeg.tar", "bad-truncated-jpeg.skip.expected.tar", skip}};
  for (const auto& c : cases) {
    auto in = read_bytes(data_path(c.in));
    auto want = read_bytes(data_path(c.want));
    wds::etl::stats one;
    run_threads(in, c.opt, 1, &one);
    for (unsigned threads = 1; threads <= 4; ++threads) {
      INFO(c.in << " with " << threads << " threads");
      wds::etl::stats st;
      check_same_tar(run_threads(in, c.opt, threads, &st), want);
      CHECK(st.samples == one.samples);
      CHECK(st.skipped == one.skipped);
      CHECK(st.fields == one.fields);
      CHECK(st.bytes_in == one.bytes_in);
      CHECK(st.bytes_out == one.bytes_out);
      CHECK(st.skip_reasons == one.skip_reasons);
    }
  }
}

TEST_CASE("etl: with threads, a bad sample fails the shard with the single-threaded error", "[etl][threads]") {
  // The bad sample sits among many good ones, so later samples are in flight
  // (and transformed) when it fails; what was written before it must match.
  auto good = read_bytes(data_path("pets-small.tar"));
  auto bad = read_bytes(data_path("bad-truncated-jpeg.tar"));
  const std::vector<std::byte> mixed = repeat_shards({good, bad, good, good});
  for (unsigned threads = 1; threads <= 4; ++threads) {
    INFO(threads << " threads");
    lead_probe p;
    trickle_source src(mixed, p);
    counting_sink sink(p);
    wds::etl::options opt;
    opt.threads = threads;
    try {
      wds::etl::transform_shard(src, sink, opt);
      FAIL("no error");
    } catch (const wds::decode_error& e) {
      CHECK(e.member() == "r1_Abyssinian_2.image.jpg");
    }
    static std::vector<std::byte> first_partial;
    if (threads == 1) first_partial = sink.out;
    CHECK(first_partial.size() > 100000);  // the good samples before the bad one
    CHECK((sink.out == first_partial));
  }
  // A malformed tar after good samples: same error, same bytes before it.
  const auto more = repeat_shard(good, 2);
  std::vector<std::byte> cut(more.begin(), more.begin() + std::ptrdiff_t(more.size() / 2));
  cut[cut.size() - 3000] = std::byte{0x7f};
  std::string first_what;
  for (unsigned threads = 1; threads <= 3; ++threads) {
    wds::memory_source src(cut.data(), cut.size(), "cut.tar");
    wds::memory_sink sink;
    wds::etl::options opt;
    opt.threads = threads;
    try {
      wds::etl::transform_shard(src, sink, opt);
      FAIL("no error");
    } catch (const wds::error& e) {
      if (threads == 1) first_what = e.what();
      CHECK(e.what() == first_what);
    }
    CHECK(!sink.closed());
  }
}

TEST_CASE("etl: the threaded window is bounded in bytes", "[etl][threads]") {
  auto in = repeat_shard(read_bytes(data_path("pets-small.tar")), 6);  // 66 samples, ~2 MB
  std::vector<std::byte> want;
  std::uint64_t lead_one_sample = 0, lead_default = 0;
  for (std::size_t budget : {std::size_t(1), std::size_t(0)}) {
    lead_probe p;
    trickle_source src(in, p);
    counting_sink sink(p);
    wds::etl::options opt;
    opt.threads = 4;
    opt.max_inflight_bytes = budget;  // 1: one sample at a time
    wds::etl::transform_shard(src, sink, opt);
    if (want.empty()) {
      wds::etl::options one;
      want = run_etl(in, one);
    }
    CHECK((sink.out == want));
    (budget == 1 ? lead_one_sample : lead_default) = p.peak_lead;
  }
  // One sample (<= 80 KB in, ~100 KB out) plus the writer's 10 KB record.
  CHECK(lead_one_sample < 300000);
  // 16 samples in flight (4 per thread) read ahead further.
  CHECK(lead_default > lead_one_sample);
}
#endif
