// wds::dataset (read + decode + resize + batch, N threads) against the same
// work written by hand with the lower layers (sample_reader, image_decoder,
// resize, memcpy collation) on one thread, in the same run; and the peak RSS
// of a run with a 1000-sample shuffle buffer.
//   build/bench/bench_dataset
//   WDS_BENCH_DATASET_COPIES=20 build/bench/bench_dataset --benchmark_filter=dataset
//   bench/run_all.sh adds bench_python_dataset.py on the same shards (ratio, same run).
#include <benchmark/benchmark.h>

#include <wds/config.hpp>

#if WDS_HAS_JPEG

#include <wds/codec/decode.hpp>
#include <wds/dataset.hpp>
#include <wds/resize.hpp>
#include <wds/shard_writer.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string pets_small_path() {
  std::string here = __FILE__;
  auto slash = here.rfind("/bench/");
  std::string root = slash == std::string::npos ? std::string(".") : here.substr(0, slash);
  return root + "/tests/data/etl/pets-small.tar";
}

// COPIES copies of pets-small's photos and labels, in 4 shards under /tmp, or
// under $WDS_BENCH_DATASET_DIR (kept, for bench_python_dataset.py to read the same).
const std::string& shard_dir() {
  static const std::string dir = [] {
    const char* c = std::getenv("WDS_BENCH_DATASET_COPIES");
    const int copies = c ? std::atoi(c) : 8;
    std::string d;
    if (const char* e = std::getenv("WDS_BENCH_DATASET_DIR"); e && *e) {
      d = e;
      ::mkdir(d.c_str(), 0755);
    } else {
      char tmpl[] = "/tmp/wds-bench-dataset-XXXXXX";
      d = ::mkdtemp(tmpl);
    }
    std::vector<wds::sample> base;
    wds::sample_reader r{wds::file_source(pets_small_path())};
    while (auto s = r.next()) {
      wds::sample t(s->key());
      t.set("jpg", s->at("image.jpg"));
      t.set("cls", s->at("cls"));
      base.push_back(std::move(t));
    }
    wds::shard_writer_options o;
    o.maxcount = (base.size() * std::size_t(copies) + 3) / 4;
    wds::shard_writer w(d + "/b-%03d.tar", o);
    for (int k = 0; k < copies; ++k)
      for (auto s : base) {
        s.set_key(s.key() + "_" + std::to_string(k));
        w.write(s);
      }
    w.close();
    return d;
  }();
  return dir;
}

constexpr int side = 160, batch = 16;

wds::image<std::uint8_t> square(const wds::image<std::uint8_t>& im) {
  return wds::resize(im.view(), side, side, wds::resample_filter::bilinear);
}

void BM_by_hand(benchmark::State& st) {
  std::size_t items = 0;
  for (auto _ : st) {
    wds::image_decoder dec;
    std::vector<std::uint8_t> images;
    std::vector<std::int64_t> labels;
    for (const auto& url : wds::resolve_shards(shard_dir()).urls) {
      wds::sample_reader r{wds::file_source(url), url};
      while (auto s = r.next()) {
        auto any = dec.decode(s->at("jpg").data(), s->at("jpg").size(), wds::pixel_mode::rgb);
        auto im = square(std::get<wds::image<std::uint8_t>>(any));
        images.insert(images.end(), im.data(), im.data() + im.size());
        labels.push_back(wds::decode_cls(s->at("cls")));
        if (labels.size() == batch) {
          benchmark::DoNotOptimize(images.data());
          items += labels.size();
          images.clear();
          labels.clear();
        }
      }
    }
    items += labels.size();
  }
  st.counters["samples/s"] = benchmark::Counter(double(items), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_by_hand)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_dataset(benchmark::State& st) {
  std::size_t items = 0;
  auto ds = wds::dataset(shard_dir())
                .threads(std::size_t(st.range(0)))
                .decode("rgb8")
                .map([](wds::decoded_sample s) {
                  auto& im = s.get<wds::image<std::uint8_t>>("jpg");
                  im = square(im);
                  return s;
                })
                .to_tuple<wds::image<std::uint8_t>, std::int64_t>("jpg", "cls")
                .batched(batch);
  for (auto _ : st)
    for (auto& [images, labels] : ds) {
      benchmark::DoNotOptimize(images.data());
      items += labels.size();
    }
  st.counters["samples/s"] = benchmark::Counter(double(items), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_dataset)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Undecoded samples through a 1000-sample shuffle buffer: peak RSS afterwards
// (the process's peak: run it alone, --benchmark_filter=shuffle_rss).
void BM_shuffle_rss(benchmark::State& st) {
  std::size_t items = 0;
  auto ds = wds::dataset(shard_dir()).shuffle(1000).threads(1);
  for (auto _ : st)
    for (auto& s : ds) items += s.size() > 0;
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  st.counters["peak_rss_MiB"] = double(ru.ru_maxrss) / 1024.0;
  st.counters["samples/s"] = benchmark::Counter(double(items), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_shuffle_rss)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace

#endif

BENCHMARK_MAIN();
