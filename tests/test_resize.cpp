// SPDX-License-Identifier: MIT
// Pillow 9.4 / torchvision 0.14 parity of wds/resize.hpp (golden data from
// tests/golden/gen_transforms.py).
#include <cmath>
#include <cstring>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "transforms_golden.hpp"
#include "wds/resize.hpp"
#include "wds/transforms.hpp"

using wds_test::golden_case;
using wds_test::read_cases;
using wds_test::read_image;
using wds_test::read_input;
using wds_test::read_typed;
using wds_test::same_pixels;

TEST_CASE("resize matches Pillow 9.4 Image.resize bit for bit", "[resize][golden]") {
  const auto cases = read_cases("resize");
  REQUIRE(cases.size() > 300);
  std::map<std::string, int> per_filter;
  for (const auto& c : cases) {
    INFO(c.input << " -> " << c.output << " " << c.args.at("filter") << " " << c.args.at("width") << "x"
                 << c.args.at("height"));
    const auto in = read_input(c.input);
    const auto expected = read_image(c.output);
    const auto f = wds::parse_filter(c.args.at("filter"));
    REQUIRE(f);
    const auto out = wds::resize(in.view(), std::stoi(c.args.at("width")), std::stoi(c.args.at("height")), *f);
    int diff = 0;
    CHECK(same_pixels(out.view(), expected.view(), &diff));
    CHECK(diff == 0);
    ++per_filter[c.args.at("filter")];
  }
  CHECK(per_filter.size() == 6);
}

TEST_CASE("resize of modes I and F matches Pillow bit for bit", "[resize][golden]") {
  int n = 0;
  for (const auto& c : read_cases("resize_i")) {
    INFO(c.output << " " << c.args.at("filter"));
    const auto in = read_typed<std::int32_t>(c.input, "<i4");
    const auto want = read_typed<std::int32_t>(c.output, "<i4");
    const auto out = wds::resize(in.view(), std::stoi(c.args.at("width")), std::stoi(c.args.at("height")),
                                 *wds::parse_filter(c.args.at("filter")));
    REQUIRE(out.size() == want.size());
    CHECK(std::memcmp(out.data(), want.data(), out.size_bytes()) == 0);
    ++n;
  }
  for (const auto& c : read_cases("resize_f")) {
    INFO(c.output << " " << c.args.at("filter"));
    const auto in = read_typed<float>(c.input, "<f4");
    const auto want = read_typed<float>(c.output, "<f4");
    const wds::any_image any(in);
    const auto out = std::get<wds::image<float>>(wds::resize(any, std::stoi(c.args.at("width")),
                                                             std::stoi(c.args.at("height")),
                                                             *wds::parse_filter(c.args.at("filter"))));
    REQUIRE(out.size() == want.size());
    CHECK(std::memcmp(out.data(), want.data(), out.size_bytes()) == 0);
    ++n;
  }
  CHECK(n == 60);
}

TEST_CASE("resize_plan is reusable and equals one-shot resize", "[resize]") {
  const auto in = read_input("chelsea_rgb.npy");
  const wds::resize_plan plan(in.width(), in.height(), 30, 17, wds::resample_filter::bicubic);
  wds::resize_plan::scratch scratch;
  const auto a = plan(in.view(), scratch);
  const auto b = plan(in.view(), scratch);
  const auto c = wds::resize(in.view(), 30, 17, wds::resample_filter::bicubic);
  CHECK(same_pixels(a.view(), b.view()));
  CHECK(same_pixels(a.view(), c.view()));
  // A flipped (negative-step) source resizes like its materialized copy.
  const auto flipped = wds::materialize(in.view().flipped_left_right());
  CHECK(same_pixels(plan(in.view().flipped_left_right()).view(), plan(flipped.view()).view()));
  try {
    (void)plan(wds::resize(in.view(), 10, 10).view());
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 634);
  }
}

TEST_CASE("torchvision Resize(int, max_size) output size", "[resize][golden]") {
  std::ifstream f(wds_test::transforms_path("params.txt"));
  REQUIRE(f.good());
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::string op;
    ss >> op;
    if (op != "resized_size") continue;
    int h, w, size, max_size, oh, ow;
    ss >> h >> w >> size >> max_size >> oh >> ow;
    INFO(line);
    const auto r = wds::resized_size(h, w, size, max_size ? std::optional<int>(max_size) : std::nullopt);
    CHECK(r.height == oh);
    CHECK(r.width == ow);
    ++n;
  }
  CHECK(n > 1000);
  try {
    (void)wds::resized_size(100, 200, 256, 256);
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 630);
  }
}

TEST_CASE("torchvision Resize on PIL images", "[resize][golden]") {
  const auto cases = read_cases("tv_resize");
  REQUIRE(!cases.empty());
  for (const auto& c : cases) {
    INFO(c.input << " -> " << c.output);
    const auto in = read_input(c.input);
    const auto expected = read_image(c.output);
    const int max_size = std::stoi(c.args.at("max_size"));
    const wds::transforms::resize op(std::stoi(c.args.at("size")), *wds::parse_filter(c.args.at("filter")),
                                     max_size ? std::optional<int>(max_size) : std::nullopt);
    const auto out = std::move(op(in.view())).take();
    CHECK(same_pixels(out.view(), expected.view()));
  }
}

TEST_CASE("resize rejects bad sizes", "[resize]") {
  wds::image<std::uint8_t> img(4, 4, 3, 1);
  for (auto [w, h] : {std::pair{0, 4}, std::pair{4, 0}, std::pair{-1, -1}}) {
    try {
      (void)wds::resize(img.view(), w, h);
      FAIL("expected an error");
    } catch (const wds::spec_error& e) {
      CHECK(e.id() == 632);
    }
  }
  wds::image<std::uint8_t> five(4, 4, 5, 1);
  try {
    (void)wds::resize(five.view(), 2, 2);
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 636);
  }
}

TEST_CASE("resize: the SIMD and the scalar kernels give the same bytes", "[resize][simd]") {
  // Random pixels with runs of 0 and 255, so the negative lobes of bicubic
  // and lanczos clip; sizes for upscale, downscale, 1 pixel, odd widths, one
  // axis only, and rows too short for one vector load.
  std::uint32_t seed = 12345;
  auto rnd = [&seed] {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
  };
  struct size_case {
    int in_w, in_h, out_w, out_h;
  };
  // Also: large reductions, where the last output pixels have far fewer taps
  // than their neighbours (clipped at the edge), and widths from 1 to 40
  // output pixels, so that every tail of the 2-pixel, 8- and 32-column steps
  // and both row parities are taken.
  std::vector<size_case> sizes = {{1000, 75, 341, 26}, {18, 24, 256, 341}, {1, 1, 7, 5},   {7, 5, 1, 1},
                                  {37, 29, 37, 11},    {37, 29, 13, 29},   {3, 40, 61, 3}, {65, 3, 17, 9},
                                  {2, 2, 3, 3},        {401, 9, 399, 10},  {1000, 7, 10, 3}, {997, 3, 3, 997},
                                  {640, 33, 7, 2},     {5, 600, 4, 9}};
  for (int w = 1; w <= 40; ++w) sizes.push_back({w < 20 ? 3 * w + 1 : 2 * w - 7, 4 + w % 3, w, 3 + w % 2});
  const wds::resample_filter filters[] = {wds::resample_filter::box,     wds::resample_filter::bilinear,
                                          wds::resample_filter::hamming, wds::resample_filter::bicubic,
                                          wds::resample_filter::lanczos, wds::resample_filter::nearest};
  const std::pair<int, wds::pixel_mode> channel_modes[] = {{1, wds::pixel_mode::l},
                                                           {2, wds::pixel_mode::la},
                                                           {3, wds::pixel_mode::rgb},
                                                           {4, wds::pixel_mode::rgba},
                                                           {4, wds::pixel_mode::cmyk}};
  int compared = 0;
  for (const auto& sz : sizes)
    for (auto [channels, mode] : channel_modes) {
      wds::image<std::uint8_t> in(sz.in_w, sz.in_h, channels);
      in.set_mode(mode);
      for (std::size_t i = 0; i < in.size(); ++i) {
        const auto r = rnd();
        in.data()[i] = (r & 7) == 0 ? 0 : (r & 7) == 1 ? 255 : std::uint8_t(r >> 4);
      }
      for (auto f : filters) {
        INFO(sz.in_w << "x" << sz.in_h << " -> " << sz.out_w << "x" << sz.out_h << ", " << channels
                     << " channels, " << wds::filter_name(f));
        const wds::resize_plan plan(sz.in_w, sz.in_h, sz.out_w, sz.out_h, f);
        wds::resize_plan::scratch simd, scalar;
        scalar.simd = false;
        const auto a = plan(in.view(), simd);
        const auto b = plan(in.view(), scalar);
        REQUIRE(a.size() == b.size());
        CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
        // A view of a wider image (rows not packed end to end) too.
        wds::image<std::uint8_t> wide(sz.in_w + 5, sz.in_h, channels);
        for (int y = 0; y < sz.in_h; ++y)
          std::memcpy(wide.row(y), in.row(y), std::size_t(sz.in_w) * std::size_t(channels));
        auto view = wds::image_view<const std::uint8_t>(wide.view()).subview(0, 0, sz.in_w, sz.in_h);
        view.set_mode(mode);
        const auto c = plan(view, simd);
        CHECK(std::memcmp(a.data(), c.data(), a.size()) == 0);
        ++compared;
      }
    }
  CHECK(compared == int(sizes.size()) * 5 * 6);
}
