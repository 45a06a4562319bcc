// JPEG/PNG codec throughput (MP/s of source pixels) against OpenCV's
// imdecode/imencode on the same bytes, in the same run (compare ratios).
//   build/bench/bench_codecs
//   WDS_BENCH_IMAGE=photo.jpg build/bench/bench_codecs   (any JPEG photo >= 500x375)
// Inputs: a real photo (tests/data/codecs/rocket.jpg by default) center-cropped
// to 500x375 and encoded like Pillow (q75 / q90, 4:2:0), the same pixels as a
// PNG, and a 500x375 trimap-like L PNG (values 1..3, nested ellipses).
#include <benchmark/benchmark.h>

#include <wds/codec/jpeg.hpp>
#include <wds/codec/png.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef WDS_BENCH_HAS_OPENCV
#define WDS_BENCH_HAS_OPENCV 0
#endif
#if WDS_BENCH_HAS_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

namespace {

constexpr int kW = 500, kH = 375;

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + " (set WDS_BENCH_IMAGE)");
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const std::byte*>(c.data());
  return {p, p + c.size()};
}

std::string default_image() {
  std::string here = __FILE__;  // .../bench/bench_codecs.cpp
  return here.substr(0, here.rfind('/')) + "/../tests/data/codecs/rocket.jpg";
}

struct inputs {
  wds::image<std::uint8_t> photo;  // 500x375 RGB
  wds::image<std::uint8_t> trimap; // 500x375 L
  std::vector<std::byte> jpeg_q75, jpeg_q90, png_photo, png_trimap;
};

const inputs& data() {
  static const inputs in = [] {
    inputs d;
    const char* env = std::getenv("WDS_BENCH_IMAGE");
    const auto src = read_all(env ? env : default_image());
    const auto full = wds::decode_jpeg(src.data(), src.size(), wds::pixel_mode::rgb);
    if (full.width() < kW || full.height() < kH) throw std::runtime_error("bench image smaller than 500x375");
    d.photo = wds::materialize(full.view().subview((full.width() - kW) / 2, (full.height() - kH) / 2, kW, kH));
    d.trimap = wds::image<std::uint8_t>(kW, kH, 1, 1);
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) {
        const double u = (x - kW / 2.0) / (kW * 0.4), v = (y - kH / 2.0) / (kH * 0.4);
        const double r = u * u + v * v;
        d.trimap(x, y) = r < 0.6 ? 2 : r < 1.0 ? 3 : 1;
      }
    wds::jpeg_options q90;
    q90.quality = 90;
    d.jpeg_q75 = wds::encode_jpeg(d.photo.view());
    d.jpeg_q90 = wds::encode_jpeg(d.photo.view(), q90);
    d.png_photo = wds::encode_png(d.photo.view());
    d.png_trimap = wds::encode_png(d.trimap.view());
    return d;
  }();
  return in;
}

void set_rate(benchmark::State& st, double pixels_per_iter) {
  st.counters["MP/s"] = benchmark::Counter(pixels_per_iter * double(st.iterations()) / 1e6,
                                           benchmark::Counter::kIsRate);
}

const std::vector<std::byte>& jpeg_of(int q) { return q == 90 ? data().jpeg_q90 : data().jpeg_q75; }

void jpeg_decode(benchmark::State& st) {
  const auto& b = jpeg_of(int(st.range(0)));
  wds::jpeg_decoder dec;
  wds::jpeg_decode_options opt;
  opt.mode = wds::pixel_mode::rgb;
  for (auto _ : st) benchmark::DoNotOptimize(dec.decode(b.data(), b.size(), opt));
  set_rate(st, kW * kH);
}
BENCHMARK(jpeg_decode)->Arg(75)->Arg(90);

void jpeg_decode_new_decoder_each_time(benchmark::State& st) {
  const auto& b = jpeg_of(int(st.range(0)));
  for (auto _ : st) benchmark::DoNotOptimize(wds::decode_jpeg(b.data(), b.size(), wds::pixel_mode::rgb));
  set_rate(st, kW * kH);
}
BENCHMARK(jpeg_decode_new_decoder_each_time)->Arg(75);

// CenterCrop(350) fast path: MP/s of the *source* image, as in perf-anchors.md.
void jpeg_decode_region_350(benchmark::State& st) {
  const auto& b = jpeg_of(int(st.range(0)));
  wds::jpeg_decoder dec;
  wds::jpeg_decode_options opt;
  opt.mode = wds::pixel_mode::rgb;
  opt.check_rest = st.range(1) != 0;
  const wds::jpeg_region r{(kW - 350) / 2, (kH - 350) / 2, 350, 350};
  for (auto _ : st) benchmark::DoNotOptimize(dec.decode_region(b.data(), b.size(), r, opt));
  set_rate(st, kW * kH);
}
BENCHMARK(jpeg_decode_region_350)->Args({75, 0})->Args({75, 1})->Args({90, 0});

void jpeg_decode_scaled(benchmark::State& st) {
  const auto& b = jpeg_of(75);
  wds::jpeg_decoder dec;
  wds::jpeg_decode_options opt;
  opt.mode = wds::pixel_mode::rgb;
  opt.scale_denom = int(st.range(0));
  for (auto _ : st) benchmark::DoNotOptimize(dec.decode(b.data(), b.size(), opt));
  set_rate(st, kW * kH);
}
BENCHMARK(jpeg_decode_scaled)->Arg(2)->Arg(4);

void jpeg_encode(benchmark::State& st) {
  wds::jpeg_encoder enc;
  wds::jpeg_options opt;
  opt.quality = int(st.range(0));
  std::vector<std::byte> out;
  for (auto _ : st) {
    enc.encode(data().photo.view(), opt, out);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, kW * kH);
}
BENCHMARK(jpeg_encode)->Arg(75)->Arg(90);

// path 0: whole-stream inflate + AVX2 Adler-32 (the default), 1: the same
// with zlib's Adler-32, 2: libspng's row-at-a-time decode (the baseline).
void png_decode(benchmark::State& st) {
  const auto& b = st.range(0) ? data().png_photo : data().png_trimap;
  wds::png_decoder dec;
  dec.set_inflate(st.range(1) < 2, st.range(1) == 0);
  for (auto _ : st) benchmark::DoNotOptimize(dec.decode(b.data(), b.size()));
  set_rate(st, kW * kH);
}
BENCHMARK(png_decode)->ArgNames({"rgb_photo", "path"})->ArgsProduct({{0, 1}, {0, 1, 2}});

void png_encode(benchmark::State& st) {
  const auto& im = st.range(0) ? data().photo : data().trimap;
  std::size_t bytes = 0;
  for (auto _ : st) {
    const auto out = wds::encode_png(im.view());
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, kW * kH);
  st.counters["bytes"] = double(bytes);
}
BENCHMARK(png_encode)->ArgName("rgb_photo")->Arg(0)->Arg(1);

void png_encode_fast(benchmark::State& st) {
  const auto& im = st.range(0) ? data().photo : data().trimap;
  wds::png_options fast;
  fast.fast = true;
  std::size_t bytes = 0;
  for (auto _ : st) {
    const auto out = wds::encode_png(im.view(), fast);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, kW * kH);
  st.counters["bytes"] = double(bytes);
}
BENCHMARK(png_encode_fast)->ArgName("rgb_photo")->Arg(0)->Arg(1);

#if WDS_BENCH_HAS_OPENCV
cv::Mat as_mat(const std::vector<std::byte>& b) {
  return cv::Mat(1, int(b.size()), CV_8UC1, const_cast<std::byte*>(b.data()));
}

void opencv_jpeg_imdecode(benchmark::State& st) {
  const auto m = as_mat(jpeg_of(int(st.range(0))));
  for (auto _ : st) benchmark::DoNotOptimize(cv::imdecode(m, cv::IMREAD_COLOR));
  set_rate(st, kW * kH);
}
BENCHMARK(opencv_jpeg_imdecode)->Arg(75)->Arg(90);

void opencv_jpeg_imdecode_reduced_2(benchmark::State& st) {
  const auto m = as_mat(jpeg_of(75));
  for (auto _ : st) benchmark::DoNotOptimize(cv::imdecode(m, cv::IMREAD_REDUCED_COLOR_2));
  set_rate(st, kW * kH);
}
BENCHMARK(opencv_jpeg_imdecode_reduced_2);

void opencv_jpeg_imencode(benchmark::State& st) {
  const cv::Mat img(kH, kW, CV_8UC3, const_cast<std::uint8_t*>(data().photo.data()));
  std::vector<uchar> out;
  const std::vector<int> params{cv::IMWRITE_JPEG_QUALITY, int(st.range(0))};
  for (auto _ : st) {
    cv::imencode(".jpg", img, out, params);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, kW * kH);
}
BENCHMARK(opencv_jpeg_imencode)->Arg(75)->Arg(90);

void opencv_png_imdecode(benchmark::State& st) {
  const auto m = as_mat(st.range(0) ? data().png_photo : data().png_trimap);
  for (auto _ : st) benchmark::DoNotOptimize(cv::imdecode(m, cv::IMREAD_UNCHANGED));
  set_rate(st, kW * kH);
}
BENCHMARK(opencv_png_imdecode)->ArgName("rgb_photo")->Arg(0)->Arg(1);

void opencv_png_imencode(benchmark::State& st) {
  const auto& im = st.range(0) ? data().photo : data().trimap;
  const cv::Mat img(kH, kW, st.range(0) ? CV_8UC3 : CV_8UC1, const_cast<std::uint8_t*>(im.data()));
  std::vector<uchar> out;
  for (auto _ : st) {
    cv::imencode(".png", img, out);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, kW * kH);
  st.counters["bytes"] = double(out.size());
}
BENCHMARK(opencv_png_imencode)->ArgName("rgb_photo")->Arg(0)->Arg(1);
#endif

}  // namespace

BENCHMARK_MAIN();
