// Tar read + group and write throughput against a plain read()/write() loop
// over the same bytes, measured in the same run (ratios are what to compare).
//   build/bench/bench_tar                  (1 GiB synthetic shard)
//   WDS_BENCH_SHARD_MB=256 build/bench/bench_tar
//   build/bench/bench_tar --benchmark_filter=gunzip   (zlib vs ISA-L inflate)
#include <benchmark/benchmark.h>

#include <wds/io.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>
#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
#endif

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

std::size_t shard_bytes() {
  const char* mb = std::getenv("WDS_BENCH_SHARD_MB");
  return static_cast<std::size_t>(mb ? std::atol(mb) : 1024) << 20;
}

// A pets-like shard: per sample a ~110 KB jpg, a ~9 KB png, a cls and a json.
const std::vector<std::byte>& shard() {
  static const std::vector<std::byte> bytes = [] {
    wds::tar_writer w(wds::memory_sink{});
    w.sink().reserve(shard_bytes() + (1 << 20));
    std::vector<std::byte> jpg(110000), png(9000), cls(2), json(150);
    for (std::size_t i = 0; i < jpg.size(); ++i) jpg[i] = static_cast<std::byte>(i * 31);
    char key[32];
    for (int i = 0; w.bytes_written() < shard_bytes(); ++i) {
      std::snprintf(key, sizeof key, "sample%08d", i);
      std::string k = key;
      w.write(k + ".image.jpg", jpg);
      w.write(k + ".trimap.png", png);
      w.write(k + ".cls", cls);
      w.write(k + ".json", json);
    }
    w.finish();
    return w.sink().take();
  }();
  return bytes;
}

const std::string& shard_file() {
  static const std::string path = [] {
    std::string p = "/tmp/wds-bench-shard-" + std::to_string(::getpid()) + ".tar";
    wds::file_sink out(p);
    out.write(shard().data(), shard().size());
    out.close();
    std::atexit([] { std::remove(shard_file().c_str()); });
    return p;
  }();
  return path;
}

void bm_plain_read_file(benchmark::State& state) {
  const std::string& path = shard_file();
  std::vector<std::byte> buf(1 << 20), member;
  for (auto _ : state) {
    int fd = ::open(path.c_str(), O_RDONLY);
    std::size_t total = 0;
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) total += static_cast<std::size_t>(n);
    ::close(fd);
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

void bm_tar_read_file(benchmark::State& state) {
  const std::string& path = shard_file();
  for (auto _ : state) {
    wds::tar_reader r{wds::file_source(path)};
    std::size_t n = 0;
    while (r.next()) n += r.payload().size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

// Groups a whole shard into samples, recycling buffers as a steady-state reader does.
template <class Source>
std::size_t count_fields(Source src) {
  wds::sample_reader r{std::move(src)};
  std::size_t n = 0;
  while (auto s = r.next()) {
    n += s->size();
    r.recycle(std::move(*s));
  }
  return n;
}

// The same grouping through next_borrowed(): payloads alias the read buffer.
void bm_samples_borrowed_read_file(benchmark::State& state) {
  const std::string& path = shard_file();
  for (auto _ : state) {
    wds::sample_reader r{wds::file_source(path)};
    std::size_t n = 0;
    while (const auto* s = r.next_borrowed()) n += s->size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

void bm_samples_read_file(benchmark::State& state) {
  const std::string& path = shard_file();
  for (auto _ : state) benchmark::DoNotOptimize(count_fields(wds::file_source(path)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

void bm_plain_copy_memory(benchmark::State& state) {
  const auto& src = shard();
  std::vector<std::byte> buf(1 << 20);
  for (auto _ : state) {
    wds::memory_source m(src);
    std::size_t total = 0;
    while (std::size_t k = m.read(buf.data(), buf.size())) total += k;
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

void bm_samples_read_memory(benchmark::State& state) {
  const auto& src = shard();
  for (auto _ : state) benchmark::DoNotOptimize(count_fields(wds::memory_source(src)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

void bm_plain_write_file(benchmark::State& state) {
  const auto& src = shard();
  const std::string path = shard_file() + ".out";
  for (auto _ : state) {
    std::remove(path.c_str());  // a fresh file, as file_sink writes one
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    for (std::size_t off = 0; off < src.size(); off += 1 << 20) {
      std::size_t k = std::min<std::size_t>(1 << 20, src.size() - off);
      if (::write(fd, src.data() + off, k) != static_cast<ssize_t>(k)) state.SkipWithError("write failed");
    }
    ::close(fd);
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

void bm_tar_write_file(benchmark::State& state) {
  // Re-writes the shard's samples (read from memory) into a file.
  const auto& src = shard();
  std::vector<wds::sample> samples;
  {
    wds::sample_reader r{wds::memory_source(src)};
    while (auto s = r.next()) samples.push_back(std::move(*s));
  }
  const std::string path = shard_file() + ".out";
  for (auto _ : state) {
    wds::tar_writer w{wds::file_sink(path)};
    for (const auto& s : samples) w.write_sample(s);
    w.finish();
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shard().size()));
}

// Prints the usual table, then each wds benchmark as a ratio to its baseline.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) rate_[r.benchmark_name()] = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const std::pair<const char*, const char*> pairs[] = {
        {"bm_tar_read_file", "bm_plain_read_file"},
        {"bm_samples_read_file", "bm_plain_read_file"},
        {"bm_samples_read_memory", "bm_plain_copy_memory"},
        {"bm_tar_write_file", "bm_plain_write_file"},
    };
    std::printf("\nratios to the plain loop over the same bytes (same run):\n");
    for (auto [ours, base] : pairs) {
      auto a = find(ours), b = find(base);
      if (a > 0 && b > 0)
        std::printf("  %-24s %6.2f GB/s  / %-22s %6.2f GB/s  = %.2fx\n", ours, a / 1e9, base, b / 1e9, a / b);
    }
  }

 private:
  double find(const std::string& prefix) const {
    for (const auto& [name, rate] : rate_)
      if (name.rfind(prefix, 0) == 0) return rate;
    return 0;
  }
  std::map<std::string, double> rate_;
};

#if WDS_HAS_ZLIB
// gzip input: zlib's inflate vs the configured one (ISA-L's igzip with
// WDS_HAS_ISAL), on real photos: pets-small.tar's bytes, repeated to 64 MiB and
// gzipped at zlib's default level (what `gzip` and Python write).
const std::vector<std::byte>& pets_gz() {
  static const std::vector<std::byte> gz = [] {
    std::string here = __FILE__;
    const auto slash = here.rfind("/bench/");
    const std::string path = (slash == std::string::npos ? std::string(".") : here.substr(0, slash)) +
                             "/tests/data/etl/pets-small.tar";
    wds::file_source in(path);
    std::vector<std::byte> tar, buf(1 << 16);
    while (std::size_t n = in.read(buf.data(), buf.size())) tar.insert(tar.end(), buf.begin(), buf.begin() + n);
    wds::gzip_sink<wds::memory_sink> z{wds::memory_sink{}};
    for (std::size_t done = 0; done < (std::size_t{64} << 20); done += tar.size()) z.write(tar.data(), tar.size());
    z.close();
    return z.inner().take();
  }();
  return gz;
}

template <class Source>
void gunzip(benchmark::State& state) {
  std::vector<std::byte> buf(1 << 20);
  std::size_t out = 0;
  for (auto _ : state) {
    Source src(wds::memory_source(pets_gz()), "pets.tar.gz");
    while (std::size_t n = src.read(buf.data(), buf.size())) out += n;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out));
}
void bm_gunzip_zlib(benchmark::State& state) { gunzip<wds::zlib_gzip_source<wds::memory_source>>(state); }
// gzip_source: ISA-L when built with WDS_HAS_ISAL, else zlib again.
void bm_gunzip_configured(benchmark::State& state) {
  state.SetLabel(wds::config::has_isal ? "isal" : "zlib");
  gunzip<wds::gzip_source<wds::memory_source>>(state);
}
#endif

}  // namespace

#if WDS_HAS_ZLIB
BENCHMARK(bm_gunzip_zlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_configured)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
BENCHMARK(bm_plain_read_file)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_tar_read_file)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_samples_read_file)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_samples_borrowed_read_file)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_plain_copy_memory)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_samples_read_memory)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_plain_write_file)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_tar_write_file)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
}
