// Mode conversions against Pillow 9.4 (golden data: tests/golden/gen_codecs.py).
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "codec_golden.hpp"
#include "wds/convert.hpp"

using wds_test::any_from;
using wds_test::npy_array;
using wds_test::read_npy;

namespace {

// Mode names in the convert lines are never "-".
wds::pixel_mode parse_mode(const std::string& m) { return wds_test::parse_pillow_mode(m).value(); }

// Same dtype, shape and bytes.
bool same_pixels(const wds::any_image& got, const npy_array& want, std::string& why) {
  const char* dt = wds_test::dtype_of(got);
  if (want.descr != dt) { why = std::string("dtype ") + dt + " != " + want.descr; return false; }
  return std::visit(
      [&](const auto& im) {
        const std::size_t c = want.shape.size() > 2 ? want.shape[2] : 1;
        if (std::size_t(im.height()) != want.shape[0] || std::size_t(im.width()) != want.shape[1] ||
            std::size_t(im.channels()) != c) {
          why = "shape " + std::to_string(im.height()) + "x" + std::to_string(im.width()) + "x" + std::to_string(im.channels());
          return false;
        }
        if (im.size_bytes() != want.bytes.size() || std::memcmp(im.data(), want.bytes.data(), want.bytes.size()) != 0) {
          why = "pixels differ";
          return false;
        }
        return true;
      },
      got);
}

}  // namespace

TEST_CASE("convert: every mode pair equals Pillow 9.4 Image.convert", "[convert]") {
  std::ifstream mf(wds_test::data_path("codecs/manifest.txt"));
  REQUIRE(mf);
  std::string line;
  int checked = 0, errors = 0;
  while (std::getline(mf, line)) {
    std::istringstream ls(line);
    std::string kind, input, from, to, expected;
    ls >> kind;
    if (kind != "convert") continue;
    ls >> input >> from >> to >> expected;
    INFO(line);
    const auto in = read_npy(wds_test::data_path("codecs/" + input));
    const wds::any_image src = any_from(in, parse_mode(from));
    if (expected == "error") {
      try {
        (void)wds::convert(src, parse_mode(to));
        FAIL("conversion should throw");
      } catch (const wds::decode_error& e) {
        CHECK(e.id() == 460);
      }
      ++errors;
      continue;
    }
    const auto want = read_npy(wds_test::data_path("codecs/" + expected));
    const wds::any_image got = wds::convert(src, parse_mode(to));
    std::string why;
    CHECK(same_pixels(got, want, why));
    INFO(why);
    // The 8-bit overload agrees with the variant one.
    if (wds::is_8bit_mode(parse_mode(from)) && wds::is_8bit_mode(parse_mode(to))) {
      const auto& s8 = std::get<wds::image<std::uint8_t>>(src);
      const wds::any_image g8 = wds::convert(s8.view(), parse_mode(from), parse_mode(to));
      CHECK(same_pixels(g8, want, why));
    }
    ++checked;
  }
  CHECK(checked == 61);  // 8 x 8 pairs minus the 3 Pillow rejects
  CHECK(errors == 3);
}

TEST_CASE("convert: views with steps (flipped, cropped) convert like packed images", "[convert]") {
  wds::image<std::uint8_t> rgb(7, 5, 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb.data()[i] = std::uint8_t(i * 37 + 11);
  auto v = rgb.view().subview(1, 1, 5, 3).flipped_left_right().flipped_up_down();
  const auto packed = wds::materialize(v);
  const auto a = wds::convert(v, wds::pixel_mode::rgb, wds::pixel_mode::l);
  const auto b = wds::convert(packed.view(), wds::pixel_mode::rgb, wds::pixel_mode::l);
  REQUIRE(a.width() == 5);
  REQUIRE(a.height() == 3);
  CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
  CHECK(a.mode() == wds::pixel_mode::l);
  // L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 for one pixel by hand.
  const std::uint8_t* p = v.pixel(0, 0);
  CHECK(a(0, 0) == ((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16));
}

TEST_CASE("convert: bad arguments are decode_error 460", "[convert]") {
  wds::image<std::uint8_t> rgb(2, 2, 3, 9);
  auto expect_460 = [](auto&& fn) {
    try {
      fn();
      FAIL("no exception");
    } catch (const wds::decode_error& e) {
      CHECK(e.id() == 460);
      CHECK(std::string(e.what()).find("[wds.decode.460]") != std::string::npos);
    }
  };
  // Channel count does not match the claimed mode.
  expect_460([&] { (void)wds::convert(rgb.view(), wds::pixel_mode::l, wds::pixel_mode::rgb); });
  // The 8-bit overload cannot produce I/F.
  expect_460([&] { (void)wds::convert(rgb.view(), wds::pixel_mode::rgb, wds::pixel_mode::f); });
  // Pillow has no RGB -> I;16.
  expect_460([&] { (void)wds::convert(wds::any_image(rgb), wds::pixel_mode::i16); });
  // An int32 image that claims to be L.
  wds::image<std::int32_t> i(2, 2, 1, 5);
  i.set_mode(wds::pixel_mode::l);
  expect_460([&] { (void)wds::convert(wds::any_image(std::move(i)), wds::pixel_mode::rgb); });
}

TEST_CASE("convert: same mode is a copy", "[convert]") {
  wds::image<float> f(3, 2, 1, 1.5f);
  const auto out = wds::convert(wds::any_image(f), wds::pixel_mode::f);
  const auto& g = std::get<wds::image<float>>(out);
  CHECK(g.width() == 3);
  CHECK(g(2, 1) == 1.5f);
}
