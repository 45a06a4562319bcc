// SPDX-License-Identifier: MIT
// Transform throughput in megapixels of output per second, with OpenCV's
// cv::resize (INTER_LINEAR: 2-tap, no antialias; INTER_AREA: box antialias)
// in the same run for scale (perf-anchors.md section 4 sizes).
//   bench_transforms --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>

#include "wds/resize.hpp"
#include "wds/transforms.hpp"

#if WDS_BENCH_HAS_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace {

wds::image<std::uint8_t> photo_like(int w, int h, int channels = 3) {
  wds::image<std::uint8_t> img(w, h, channels);
  std::mt19937 g(1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) img(x, y, c) = std::uint8_t((x * 3 + y * 5 + c * 70 + (g() & 15)) & 255);
  if (channels == 4) img.set_mode(wds::pixel_mode::rgba);  // premultiplied, as Pillow
  if (channels == 1) img.set_mode(wds::pixel_mode::l);
  return img;
}

struct shape {
  int in_w, in_h, out_w, out_h;
};
constexpr shape down{1000, 750, 341, 256};
constexpr shape up{180, 240, 256, 341};

void set_rate(benchmark::State& st, int out_w, int out_h) {
  st.counters["MP/s"] = benchmark::Counter(double(out_w) * out_h * double(st.iterations()) / 1e6,
                                           benchmark::Counter::kIsRate);
}

void bm_resize_plan(benchmark::State& st, shape s, wds::resample_filter f, bool simd = true, int channels = 3) {
  const auto img = photo_like(s.in_w, s.in_h, channels);
  const wds::resize_plan plan(s.in_w, s.in_h, s.out_w, s.out_h, f);
  wds::resize_plan::scratch scratch;
  scratch.simd = simd;  // false: the portable kernels (the same bytes)
  wds::image<std::uint8_t> out(s.out_w, s.out_h, channels);
  for (auto _ : st) {
    plan.run(img.view(), out.view(), scratch);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, s.out_w, s.out_h);
}

void bm_resize_oneshot(benchmark::State& st, shape s, wds::resample_filter f) {
  const auto img = photo_like(s.in_w, s.in_h);
  for (auto _ : st) {
    auto out = wds::resize(img.view(), s.out_w, s.out_h, f);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, s.out_w, s.out_h);
}

#if WDS_BENCH_HAS_OPENCV
void bm_cv_resize(benchmark::State& st, shape s, int interp, int channels = 3) {
  const auto img = photo_like(s.in_w, s.in_h, channels);
  const cv::Mat in(s.in_h, s.in_w, CV_8UC(channels), const_cast<std::uint8_t*>(img.data()));
  cv::Mat out;
  cv::setNumThreads(1);
  for (auto _ : st) {
    cv::resize(in, out, cv::Size(s.out_w, s.out_h), 0, 0, interp);
    benchmark::DoNotOptimize(out.data);
  }
  set_rate(st, s.out_w, s.out_h);
}
#endif

// The reference ETL's per-image pixel work on a 500x375 photo.
void bm_center_crop_normalize_lut(benchmark::State& st) {
  const auto img = photo_like(500, 375);
  const auto op = wds::transforms::center_crop(350) | wds::transforms::normalize_u8::imagenet();
  for (auto _ : st) {
    auto out = op(img);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, 350, 350);
}
void bm_center_crop_normalize_unfused(benchmark::State& st) {
  const auto img = photo_like(500, 375);
  for (auto _ : st) {
    auto c = wds::center_crop(img.view(), 350, 350);
    auto out = wds::to_pil_image(
        wds::normalize(wds::to_tensor(c.view()), wds::imagenet_mean(), wds::imagenet_std()));
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, 350, 350);
}
void bm_to_tensor_normalize(benchmark::State& st) {
  using namespace wds::transforms;
  const auto img = photo_like(224, 224);
  const auto op = to_tensor{} | normalize::imagenet();
  for (auto _ : st) {
    auto out = op(img);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, 224, 224);
}
void bm_random_resized_crop(benchmark::State& st) {
  using namespace wds::transforms;
  const auto img = photo_like(500, 375);
  const auto op = random_resized_crop(224) | random_hflip{};
  std::mt19937 g(0);
  for (auto _ : st) {
    auto out = op(img, g);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, 224, 224);
}
void bm_pad_reflect(benchmark::State& st) {
  const auto img = photo_like(500, 375);
  for (auto _ : st) {
    auto out = wds::pad(img.view(), 16, 16, 16, 16, wds::pad_mode::reflect);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, 532, 407);
}
void bm_grayscale(benchmark::State& st) {
  const auto img = photo_like(500, 375);
  for (auto _ : st) {
    auto out = wds::grayscale(img.view());
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(st, 500, 375);
}

}  // namespace

using F = wds::resample_filter;
BENCHMARK_CAPTURE(bm_resize_plan, down_bilinear, down, F::bilinear);
BENCHMARK_CAPTURE(bm_resize_plan, down_bicubic, down, F::bicubic);
BENCHMARK_CAPTURE(bm_resize_plan, down_lanczos, down, F::lanczos);
BENCHMARK_CAPTURE(bm_resize_plan, down_box, down, F::box);
BENCHMARK_CAPTURE(bm_resize_plan, down_nearest, down, F::nearest);
BENCHMARK_CAPTURE(bm_resize_oneshot, down_bilinear, down, F::bilinear);
BENCHMARK_CAPTURE(bm_resize_plan, down_bilinear_scalar, down, F::bilinear, false);
BENCHMARK_CAPTURE(bm_resize_plan, down_bilinear_rgba, down, F::bilinear, true, 4);
BENCHMARK_CAPTURE(bm_resize_plan, down_bilinear_rgba_scalar, down, F::bilinear, false, 4);
BENCHMARK_CAPTURE(bm_resize_plan, down_bilinear_gray, down, F::bilinear, true, 1);
BENCHMARK_CAPTURE(bm_resize_plan, down_bilinear_gray_scalar, down, F::bilinear, false, 1);
BENCHMARK_CAPTURE(bm_resize_plan, down_bicubic_scalar, down, F::bicubic, false);
BENCHMARK_CAPTURE(bm_resize_plan, up_bilinear_scalar, up, F::bilinear, false);
BENCHMARK_CAPTURE(bm_resize_plan, up_bilinear, up, F::bilinear);
BENCHMARK_CAPTURE(bm_resize_plan, up_bicubic, up, F::bicubic);
BENCHMARK_CAPTURE(bm_resize_plan, up_lanczos, up, F::lanczos);
BENCHMARK_CAPTURE(bm_resize_oneshot, up_bilinear, up, F::bilinear);
#if WDS_BENCH_HAS_OPENCV
BENCHMARK_CAPTURE(bm_cv_resize, down_INTER_LINEAR, down, cv::INTER_LINEAR);
BENCHMARK_CAPTURE(bm_cv_resize, down_INTER_AREA, down, cv::INTER_AREA);
BENCHMARK_CAPTURE(bm_cv_resize, down_INTER_AREA_rgba, down, cv::INTER_AREA, 4);
BENCHMARK_CAPTURE(bm_cv_resize, down_INTER_AREA_gray, down, cv::INTER_AREA, 1);
BENCHMARK_CAPTURE(bm_cv_resize, down_INTER_CUBIC, down, cv::INTER_CUBIC);
BENCHMARK_CAPTURE(bm_cv_resize, up_INTER_LINEAR, up, cv::INTER_LINEAR);
BENCHMARK_CAPTURE(bm_cv_resize, up_INTER_AREA, up, cv::INTER_AREA);
BENCHMARK_CAPTURE(bm_cv_resize, up_INTER_CUBIC, up, cv::INTER_CUBIC);
#endif
BENCHMARK(bm_center_crop_normalize_lut);
BENCHMARK(bm_center_crop_normalize_unfused);
BENCHMARK(bm_to_tensor_normalize);
BENCHMARK(bm_random_resized_crop);
BENCHMARK(bm_pad_reflect);
BENCHMARK(bm_grayscale);

BENCHMARK_MAIN();
