// The reference ETL pipeline (wds::etl, byte-identical to the Python one)
// against its codec floor, measured in the same run:
//   floor = libjpeg full decode of each image + JPEG encode of a 350x350 RGB
//           crop, spng decode of each trimap + JPEG encode of its RGB crop;
//           nothing else (no tar, no normalize table, no padding).
// Input: a generated pets-like shard (500x375 photos at q75/q90 made from the
// test photos, synthetic PNG trimaps, cls, json).
//   build/bench/bench_etl
//   WDS_BENCH_ETL_SAMPLES=1000 build/bench/bench_etl --benchmark_filter=reference
// WDS_BENCH_ETL_SHARD_OUT=path also writes the shard there, for
// bench/bench_python_etl.py (bench/run_all.sh puts the two side by side).
#include <benchmark/benchmark.h>

#include <wds/config.hpp>

#if WDS_HAS_JPEG && WDS_HAS_PNG

#include <wds/codec/jpeg.hpp>
#include <wds/codec/png.hpp>
#include <wds/etl.hpp>
#include <wds/resize.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

std::size_t sample_count() {
  const char* n = std::getenv("WDS_BENCH_ETL_SAMPLES");
  return n ? std::size_t(std::atol(n)) : 400;
}

struct pets_sample {
  std::vector<std::byte> jpg, png, cls, json;
  wds::image<std::uint8_t> trimap_rgb_crop;  // what the floor encodes
};

// tests/data/etl/pets-small.tar, found from this file's path.
std::string pets_small_path() {
  std::string here = __FILE__;
  auto slash = here.rfind("/bench/");
  std::string root = slash == std::string::npos ? std::string(".") : here.substr(0, slash);
  return root + "/tests/data/etl/pets-small.tar";
}

// Photos: every image.jpg of tests/data/etl/pets-small.tar resized to 500x375
// (or 375x500), re-encoded at q75 or q90; trimaps: ellipses, values 1..3.
const std::vector<pets_sample>& samples() {
  static const std::vector<pets_sample> all = [] {
    std::vector<wds::image<std::uint8_t>> photos;
    wds::sample_reader r{wds::file_source(pets_small_path())};
    while (auto s = r.next())
      if (auto* f = s->find("image.jpg")) {
        auto im = wds::decode_jpeg(f->data.data(), f->data.size(), wds::pixel_mode::rgb);
        const bool portrait = im.height() > im.width();
        photos.push_back(wds::resize(im.view(), portrait ? 375 : 500, portrait ? 500 : 375,
                                     wds::resample_filter::bicubic));
      }
    std::vector<pets_sample> out;
    for (std::size_t i = 0; i < sample_count(); ++i) {
      const auto& p = photos[i % photos.size()];
      pets_sample s;
      wds::jpeg_options q;
      q.quality = i % 2 ? 90 : 75;
      s.jpg = wds::encode_jpeg(p.view(), q);
      wds::image<std::uint8_t> t(p.width(), p.height(), 1, 2);
      const double cx = p.width() * (0.45 + 0.01 * double(i % 10)), cy = p.height() * 0.5;
      const double rx = p.width() * 0.3, ry = p.height() * 0.35;
      for (int y = 0; y < t.height(); ++y)
        for (int x = 0; x < t.width(); ++x) {
          const double d = (x - cx) * (x - cx) / (rx * rx) + (y - cy) * (y - cy) / (ry * ry);
          t(x, y) = d < 0.95 ? 1 : d < 1.05 ? 3 : 2;
        }
      s.png = wds::encode_png(t.view());
      s.trimap_rgb_crop = wds::image<std::uint8_t>(350, 350, 3, 0);
      const int tx = std::max(0, (t.width() - 350) / 2), ty = std::max(0, (t.height() - 350) / 2);
      for (int yy = 0; yy < std::min(350, t.height()); ++yy)
        for (int xx = 0; xx < std::min(350, t.width()); ++xx)
          for (int c = 0; c < 3; ++c) s.trimap_rgb_crop(xx, yy, c) = t(tx + xx, ty + yy);
      std::string cls = std::to_string(1 + i % 37), json = "{\"id\": " + std::to_string(i) + "}";
      s.cls.assign(reinterpret_cast<const std::byte*>(cls.data()), reinterpret_cast<const std::byte*>(cls.data()) + cls.size());
      s.json.assign(reinterpret_cast<const std::byte*>(json.data()), reinterpret_cast<const std::byte*>(json.data()) + json.size());
      out.push_back(std::move(s));
    }
    return out;
  }();
  return all;
}

const std::vector<std::byte>& shard() {
  static const std::vector<std::byte> bytes = [] {
    wds::tar_writer w(wds::memory_sink{});
    char key[32];
    for (std::size_t i = 0; i < samples().size(); ++i) {
      std::snprintf(key, sizeof key, "pet_%06zu", i);
      const std::string k = key;
      const auto& s = samples()[i];
      w.write(k + ".image.jpg", s.jpg);
      w.write(k + ".trimap.png", s.png);
      w.write(k + ".cls", s.cls);
      w.write(k + ".json", s.json);
    }
    w.finish();
    auto out = w.sink().take();
    // For bench/bench_python_etl.py: the same shard for the Python reference.
    if (const char* path = std::getenv("WDS_BENCH_ETL_SHARD_OUT")) {
      wds::file_sink f(path);
      f.write(out.data(), out.size());
      f.close();
    }
    return out;
  }();
  return bytes;
}

// The whole shard through wds::etl (tar read, group, pipeline, tar write).
// With ->Threads(n) every thread transforms its own copy of the shard.
void BM_reference_pipeline(benchmark::State& state) {
  const auto& in = shard();
  wds::etl::shard_transformer t({});
  std::size_t n = 0;
  for (auto _ : state) {
    wds::memory_source src(in.data(), in.size(), "bench.tar");
    wds::memory_sink sink;
    sink.reserve(in.size() * 2);
    n += t.run(src, sink).samples;
    benchmark::DoNotOptimize(sink.bytes().data());
  }
  state.SetItemsProcessed(std::int64_t(n));
  state.SetBytesProcessed(std::int64_t(in.size() * std::size_t(state.iterations())));
  state.counters["samples/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
}

// ONE shard through the ordered pool of options::threads = range(0) threads
// (wall time: the ratio of /2 to /1 is the one-shard speedup).
void BM_one_shard_threads(benchmark::State& state) {
  const auto& in = shard();
  wds::etl::options opt;
  opt.threads = unsigned(state.range(0));
  wds::etl::shard_transformer t(opt);
  std::size_t n = 0;
  for (auto _ : state) {
    wds::memory_source src(in.data(), in.size(), "bench.tar");
    wds::memory_sink sink;
    sink.reserve(in.size() * 2);
    n += t.run(src, sink).samples;
    benchmark::DoNotOptimize(sink.bytes().data());
  }
  state.SetItemsProcessed(std::int64_t(n));
  state.counters["samples/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
}

// Codec work only, with reused decoder/encoder objects.
void BM_codec_floor(benchmark::State& state) {
  const auto& all = samples();
  wds::jpeg_decoder dec;
  wds::jpeg_encoder enc;
  wds::png_decoder png;
  wds::jpeg_decode_options rgb;
  rgb.mode = wds::pixel_mode::rgb;
  std::vector<std::byte> out;
  std::size_t n = 0;
  for (auto _ : state) {
    for (const auto& s : all) {
      auto im = dec.decode(s.jpg.data(), s.jpg.size(), rgb);
      const int x = std::max(0, (im.width() - 350) / 2), y = std::max(0, (im.height() - 350) / 2);
      enc.encode(im.view().subview(x, y, std::min(350, im.width()), std::min(350, im.height())), {}, out);
      auto t = png.decode(s.png.data(), s.png.size());
      benchmark::DoNotOptimize(t);
      enc.encode(s.trimap_rgb_crop.view(), {}, out);
      ++n;
    }
  }
  state.SetItemsProcessed(std::int64_t(n));
  state.counters["samples/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
}

}  // namespace

// One thread on CPU time (robust on a shared machine), then all cores on wall time.
BENCHMARK(BM_reference_pipeline)->Unit(benchmark::kMillisecond)->Threads(1);
BENCHMARK(BM_reference_pipeline)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Threads(int(std::max(1u, std::thread::hardware_concurrency())));
BENCHMARK(BM_one_shard_threads)->Unit(benchmark::kMillisecond)->UseRealTime()->Arg(1)->Arg(2);
BENCHMARK(BM_codec_floor)->Unit(benchmark::kMillisecond);

#else
static void BM_etl_skipped(benchmark::State& state) {
  for (auto _ : state) {
  }
  state.SetLabel("built without JPEG/PNG: nothing to measure");
}
BENCHMARK(BM_etl_skipped);
#endif

BENCHMARK_MAIN();
