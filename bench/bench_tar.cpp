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
#include <wds/codec/gzip_parallel.hpp>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
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
// WDS_HAS_ISAL). Two shards, each repeated to 64 MiB and gzipped at zlib's
// default level (what `gzip` and Python write): real photos (pets-small.tar:
// JPEG data, mostly literals) and text (a tar of this repo's headers).
std::string repo_path(const std::string& rel) {
  const std::string here = __FILE__;
  const auto slash = here.rfind("/bench/");
  return (slash == std::string::npos ? std::string(".") : here.substr(0, slash)) + "/" + rel;
}

std::vector<std::byte> read_whole(const std::string& path) {
  wds::file_source in(path);
  std::vector<std::byte> out, buf(1 << 16);
  while (std::size_t n = in.read(buf.data(), buf.size())) out.insert(out.end(), buf.begin(), buf.begin() + n);
  return out;
}

std::vector<std::byte> gzip_64mib(const std::vector<std::byte>& tar) {
  wds::gzip_sink<wds::memory_sink> z{wds::memory_sink{}};
  for (std::size_t done = 0; done < (std::size_t{64} << 20); done += tar.size()) z.write(tar.data(), tar.size());
  z.close();
  return z.inner().take();
}

const std::vector<std::byte>& pets_gz() {
  static const std::vector<std::byte> gz = gzip_64mib(read_whole(repo_path("tests/data/etl/pets-small.tar")));
  return gz;
}

const std::vector<std::byte>& text_gz() {
  static const std::vector<std::byte> gz = [] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::recursive_directory_iterator(repo_path("include/wds")))
      if (e.is_regular_file()) names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    wds::tar_writer w(wds::memory_sink{});
    for (const auto& n : names) w.write(n.substr(n.rfind("/include/") + 1), read_whole(n));
    w.finish();
    return gzip_64mib(w.sink().take());
  }();
  return gz;
}

template <class Source>
void gunzip(benchmark::State& state, const std::vector<std::byte>& gz) {
  std::vector<std::byte> buf(1 << 20);
  std::size_t out = 0;
  for (auto _ : state) {
    Source src(wds::memory_source(gz), "shard.tar.gz");
    while (std::size_t n = src.read(buf.data(), buf.size())) out += n;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out));
}
using zlib_source = wds::zlib_gzip_source<wds::memory_source>;
using configured_source = wds::gzip_source<wds::memory_source>;  // ISA-L with WDS_HAS_ISAL
void bm_gunzip_zlib(benchmark::State& state) { gunzip<zlib_source>(state, pets_gz()); }
void bm_gunzip_configured(benchmark::State& state) {
  state.SetLabel(wds::config::has_isal ? "isal" : "zlib");
  gunzip<configured_source>(state, pets_gz());
}
// One member on state.range(0) threads (1: the configured sequential decoder).
void gunzip_parallel(benchmark::State& state, const std::vector<std::byte>& gz) {
  wds::parallel_gzip_options opt;
  opt.threads = static_cast<unsigned>(state.range(0));
  std::vector<std::byte> buf(1 << 20);
  std::size_t out = 0;
  for (auto _ : state) {
    wds::parallel_gzip_source<wds::memory_source> src(wds::memory_source(gz), "shard.tar.gz", {}, opt);
    while (std::size_t n = src.read(buf.data(), buf.size())) out += n;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out));
}
void bm_gunzip_parallel(benchmark::State& state) { gunzip_parallel(state, pets_gz()); }
void bm_gunzip_text_parallel(benchmark::State& state) { gunzip_parallel(state, text_gz()); }
void bm_gunzip_text_zlib(benchmark::State& state) { gunzip<zlib_source>(state, text_gz()); }
void bm_gunzip_text_configured(benchmark::State& state) {
  state.SetLabel(wds::config::has_isal ? "isal" : "zlib");
  gunzip<configured_source>(state, text_gz());
}
// The whole reader over a .tar.gz file, as a loader runs it: gzip_source fed by
// read() into its buffer, the tar reader's 1 MiB reads, payloads copied out.
// The photos as one tar (pets-small.tar's members repeated under r<i>/ to
// 64 MiB, so there is one end marker), gzipped at zlib's default level.
const std::string& pets_tar_gz_file() {
  static const std::string path = [] {
    const auto one = read_whole(repo_path("tests/data/etl/pets-small.tar"));
    wds::tar_writer w(wds::memory_sink{});
    for (int i = 0; w.bytes_written() < (std::size_t{64} << 20); ++i) {
      wds::tar_reader r{wds::memory_source(one)};
      while (const auto* m = r.next()) w.write("r" + std::to_string(i) + "/" + m->name, r.payload());
    }
    w.finish();
    const auto tar = w.sink().take();
    wds::gzip_sink<wds::memory_sink> z{wds::memory_sink{}};
    z.write(tar.data(), tar.size());
    z.close();
    const auto gz = z.inner().take();
    std::string p = "/tmp/wds-bench-pets-" + std::to_string(::getpid()) + ".tar.gz";
    wds::file_sink out(p);
    out.write(gz.data(), gz.size());
    out.close();
    std::atexit([] { std::remove(pets_tar_gz_file().c_str()); });
    return p;
  }();
  return path;
}

template <template <class> class Gzip>
void gunzip_samples(benchmark::State& state) {
  const std::string& path = pets_tar_gz_file();
  std::uint64_t out = 0;
  for (auto _ : state) {
    Gzip<wds::file_source> src(wds::file_source(path), path);
    wds::sample_reader r{std::move(src)};
    while (auto s = r.next()) r.recycle(std::move(*s));
    out += r.tar().offset();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out));
}
void bm_gunzip_samples_zlib(benchmark::State& state) { gunzip_samples<wds::zlib_gzip_source>(state); }
void bm_gunzip_samples_configured(benchmark::State& state) {
  state.SetLabel(wds::config::has_isal ? "isal" : "zlib");
  gunzip_samples<wds::gzip_source>(state);
}

#if WDS_HAS_ISAL
// igzip called directly on the whole buffer: what the library itself does,
// so the gap to bm_gunzip_configured is gzip_source's own cost.
void bm_gunzip_isal_direct(benchmark::State& state) {
  const auto& gz = pets_gz();
  std::vector<std::uint8_t> buf(1 << 20);
  auto st = std::make_unique<inflate_state>();
  std::size_t out = 0;
  for (auto _ : state) {
    isal_inflate_init(st.get());
    st->crc_flag = ISAL_GZIP;
    st->next_in = const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(gz.data()));
    st->avail_in = static_cast<std::uint32_t>(gz.size());
    int rc = 0;
    while (rc == 0 && st->block_state != ISAL_BLOCK_FINISH) {
      st->next_out = buf.data();
      st->avail_out = static_cast<std::uint32_t>(buf.size());
      rc = isal_inflate(st.get());
      out += buf.size() - st->avail_out;
    }
    if (rc != 0) state.SkipWithError("isal_inflate failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out));
}
#endif
#endif

}  // namespace

#if WDS_HAS_ZLIB
BENCHMARK(bm_gunzip_zlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_configured)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_text_zlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_text_configured)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_parallel)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_text_parallel)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_samples_zlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gunzip_samples_configured)->Unit(benchmark::kMillisecond)->UseRealTime();
#if WDS_HAS_ISAL
BENCHMARK(bm_gunzip_isal_direct)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
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
