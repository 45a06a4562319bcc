// SPDX-License-Identifier: MIT
// wds::compose: the run-time spec parser (every op, every error with its
// position) and end-to-end runs through the codecs when they are built in.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "wds/compose.hpp"

namespace {

// The spec_error id and offset compose() reports for a spec.
std::pair<int, std::uint64_t> spec_failure(const std::string& spec,
                                           wds::pipeline_input in = wds::pipeline_input::bytes) {
  try {
    (void)wds::compose(spec, in);
  } catch (const wds::spec_error& e) {
    return {e.id(), e.offset()};
  }
  return {0, 0};
}

wds::image<std::uint8_t> gradient(int w, int h, int c) {
  wds::image<std::uint8_t> img(w, h, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) img(x, y, k) = std::uint8_t((x * 7 + y * 3 + k * 50) & 255);
  return img;
}

bool same(wds::image_view<const std::uint8_t> a, wds::image_view<const std::uint8_t> b) {
  if (a.width() != b.width() || a.height() != b.height() || a.channels() != b.channels()) return false;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < a.width(); ++x)
      for (int c = 0; c < a.channels(); ++c)
        if (a(x, y, c) != b(x, y, c)) return false;
  return true;
}

const wds::image<std::uint8_t>& as_u8(const wds::pipeline_value& v) {
  return std::get<wds::image<std::uint8_t>>(std::get<wds::any_image>(v));
}

}  // namespace

TEST_CASE("compose accepts every op on images", "[compose]") {
  const auto img = gradient(40, 30, 3);
  const auto in = [&] { return wds::any_image(wds::image<std::uint8_t>(img)); };
  using wds::pipeline_input;
  struct expect_case {
    const char* spec;
    wds::image<std::uint8_t> want;
  };
  const auto v = img.view();
  std::vector<expect_case> cases;
  cases.push_back({"resize(20)", wds::resize(v, 26, 20, wds::resample_filter::bilinear)});
  cases.push_back({"resize(15x17, bicubic)", wds::resize(v, 17, 15, wds::resample_filter::bicubic)});
  cases.push_back({"resize([15, 17], lanczos)", wds::resize(v, 17, 15, wds::resample_filter::lanczos)});
  cases.push_back({"resize(20, nearest, 25)", wds::resize(v, 25, 19, wds::resample_filter::nearest)});
  cases.push_back({"resize(30)", wds::materialize(v)});
  cases.push_back({"center_crop(24)", std::move(wds::center_crop(v, 24, 24)).take()});
  cases.push_back({"center_crop(35x50)", std::move(wds::center_crop(v, 35, 50)).take()});
  cases.push_back({"crop(-2, 3, 10, 12)", std::move(wds::crop(v, -2, 3, 10, 12)).take()});
  cases.push_back({"pad(1,2,3,4)", wds::pad(v, 1, 2, 3, 4)});
  cases.push_back({"pad(1,2,3,4,9)", wds::pad(v, 1, 2, 3, 4, wds::pad_mode::constant, 9)});
  cases.push_back({"pad(5, reflect)", wds::pad(v, 5, 5, 5, 5, wds::pad_mode::reflect)});
  cases.push_back({"pad(2, 3, symmetric)", wds::pad(v, 2, 3, 2, 3, wds::pad_mode::symmetric)});
  cases.push_back({"pad(1,0,0,2, edge)", wds::pad(v, 1, 0, 0, 2, wds::pad_mode::edge)});
  cases.push_back({"hflip", wds::materialize(wds::hflip(v))});
  cases.push_back({"vflip()", wds::materialize(wds::vflip(v))});
  cases.push_back({"grayscale", wds::grayscale(v)});
  cases.push_back({"grayscale(3)", wds::grayscale(v, 3)});
  cases.push_back({"convert(L)", wds::convert(v, wds::pixel_mode::rgb, wds::pixel_mode::l)});
  cases.push_back({"to_tensor|normalize(imagenet)|to_pil_image",
                   wds::normalize_lut(wds::imagenet_mean(), wds::imagenet_std())(v)});
  cases.push_back({"to_tensor|normalize(0.5,0.5,0.5,0.2,0.2,0.2)|to_pil_image",
                   wds::to_pil_image(wds::normalize(wds::to_tensor(v), {0.5f, 0.5f, 0.5f}, {0.2f, 0.2f, 0.2f}))});
  cases.push_back({" hflip | center_crop( 10 ) ", std::move(wds::center_crop(wds::hflip(v), 10, 10)).take()});
  for (auto& c : cases) {
    INFO(c.spec);
    const auto p = wds::compose(c.spec, pipeline_input::image);
    CHECK(same(as_u8(p.apply_image(in())).view(), c.want.view()));
  }
  // Tensor outputs and npy.
  const auto t = std::get<wds::tensor<float>>(
      wds::compose("to_tensor|normalize(imagenet)", pipeline_input::image).apply_image(in()));
  const auto t2 = wds::normalize(wds::to_tensor(v), wds::imagenet_mean(), wds::imagenet_std());
  REQUIRE(t.values() == t2.values());
  const auto npy = std::get<std::vector<std::byte>>(
      wds::compose("to_tensor|npy", pipeline_input::image).apply_image(in()));
  CHECK(npy == wds::npy_encode(wds::to_tensor(v)));
  const auto npy_img = std::get<std::vector<std::byte>>(wds::compose("npy", pipeline_input::image).apply_image(in()));
  CHECK(npy_img == wds::npy_encode(wds::image_view<const std::uint8_t>(v)));
}

TEST_CASE("compose reports every error with its position", "[compose]") {
  using P = std::pair<int, std::uint64_t>;
  constexpr bool codecs = wds::config::has_jpeg || wds::config::has_png;
  // Checks a bytes spec (when a codec is built in, else decode itself is
  // error 609) and the same spec without "decode|" as an image pipeline.
  auto chk = [&](const std::string& spec, int id, std::uint64_t at) {
    INFO(spec);
    if (codecs || spec.rfind("decode", 0) != 0) CHECK(spec_failure(spec) == P{id, at});
    const std::string prefix = "decode|";
    if (spec.rfind(prefix, 0) == 0 && id != 608 && at >= prefix.size())
      CHECK(spec_failure(spec.substr(prefix.size()), wds::pipeline_input::image) ==
            P{id, at - prefix.size()});
  };
  chk("", 600, 0);
  chk("   ", 600, 0);
  chk("decode||npy", 600, 7);
  chk("decode|npy|", 600, 11);
  chk("decode|rezise(3)|npy", 601, 7);
  chk("decode|resize(3", 602, 15);
  chk("decode|resize(3 4)|npy", 602, 16);
  chk("decode|resize(3,)|npy", 602, 16);
  chk("decode|resize(3)npy", 602, 16);
  chk("decode|resize([3,4)|npy", 602, 14);
  chk("decode|$", 602, 7);
  chk("decode|resize|npy", 603, 7);
  chk("decode|resize(1,bilinear,300,4)|npy", 603, 7);
  chk("decode|hflip(1)|npy", 603, 7);
  chk("decode|crop(1,2,3)|npy", 603, 7);
  chk("decode|pad(1,2,3)|npy", 603, 7);
  chk("decode|pad(1,2,3,4,5,edge,x)|npy", 603, 7);
  chk("decode|pad(1,2,3,4,edge,x)|npy", 603, 24);
  chk("decode|normalize|npy", 605, 7);  // type first: no tensor here
  chk("decode|to_tensor|normalize(1,2,3)|npy", 603, 17);
  chk("decode|resize(0)|npy", 604, 14);
  chk("decode|resize(abc)|npy", 604, 14);
  chk("decode|resize(3x)|npy", 604, 14);
  chk("decode|resize(99999999999)|npy", 604, 14);
  chk("decode|resize(3, cubic)|npy", 604, 17);
  chk("decode|resize(3, bilinear, 3)|npy", 604, 27);
  chk("decode|resize(3x4, bilinear, 9)|npy", 604, 29);
  chk("decode|crop(0,0,0,4)|npy", 604, 16);
  chk("decode|pad(1,2,3,4,256)|npy", 604, 19);
  chk("decode|pad(1,mirror)|npy", 604, 13);
  chk("decode|grayscale(2)|npy", 604, 17);
  chk("decode|convert(yuv)|npy", 604, 15);
  chk("decode(bgr)|npy", 604, 7);
  chk("decode|to_tensor|normalize(0.5,x)|npy", 604, 31);
  chk("decode|to_tensor|normalize(0.5,0)|npy", 604, 31);
  chk("decode|to_tensor|resize(3)|npy", 605, 17);
  chk("decode|to_pil_image|npy", 605, 7);
  chk("decode|decode|npy", 605, 7);
  chk("resize(3)|npy", 606, 0);
  chk("npy", 606, 0);
  chk("decode|npy|hflip", 607, 11);
  chk("decode|resize(3)", 608, 16);
  if (codecs) CHECK(spec_failure("decode", wds::pipeline_input::bytes) == P{608, 6});
  CHECK(spec_failure("decode|npy", wds::pipeline_input::image) == P{605, 0});
  if constexpr (!wds::config::has_jpeg) CHECK(spec_failure("decode|jpeg").first == 609);
  if constexpr (!wds::config::has_png) CHECK(spec_failure("decode|png").first == 609);
  if constexpr (!wds::config::has_png && !wds::config::has_jpeg) chk("decode|npy", 609, 0);
  // The message names the problem and quotes the spec.
  try {
    (void)wds::compose("hflip|rezise(3)|npy", wds::pipeline_input::image);
  } catch (const wds::spec_error& e) {
    CHECK(std::string(e.what()).find("unknown op \"rezise\"") != std::string::npos);
    CHECK(std::string(e.what()).find("at byte 6") != std::string::npos);
  }
}

TEST_CASE("compose runs geometry and resize on 16/32-bit images", "[compose]") {
  wds::image<float> f(9, 6, 1);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 9; ++x) f(x, y) = float(x * 10 + y) / 3.0f;
  const auto p = wds::compose("resize(4, bicubic)|hflip|pad(1, reflect)|center_crop(5x7)", wds::pipeline_input::image);
  const auto out = std::get<wds::image<float>>(std::get<wds::any_image>(p.apply_image(wds::any_image(f))));
  const auto r = wds::resize(f.view(), 6, 4, wds::resample_filter::bicubic);
  const auto pd = wds::pad(wds::hflip(r.view()), 1, 1, 1, 1, wds::pad_mode::reflect);
  const auto want = std::move(wds::center_crop(pd.view(), 5, 7)).take();
  REQUIRE(out.size() == want.size());
  CHECK(std::memcmp(out.data(), want.data(), out.size_bytes()) == 0);
  // center_crop larger than a 32-bit image pads it with 0 (it once left it as it was)
  wds::image<std::int32_t> i32(1, 1, 1, 70000);
  i32.set_mode(wds::pixel_mode::i);
  const auto cc = wds::compose("center_crop(3x5)", wds::pipeline_input::image).apply_image(wds::any_image(i32));
  const auto& ci = std::get<wds::image<std::int32_t>>(std::get<wds::any_image>(cc));
  REQUIRE(ci.width() == 5);
  REQUIRE(ci.height() == 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) CHECK(ci(x, y) == (x == 2 && y == 1 ? 70000 : 0));
  wds::image<std::uint16_t> i16(4, 4, 1, 300);
  i16.set_mode(wds::pixel_mode::i16);
  const auto v = wds::compose("vflip|crop(1,1,2,2)", wds::pipeline_input::image).apply_image(wds::any_image(i16));
  CHECK(std::get<wds::image<std::uint16_t>>(std::get<wds::any_image>(v))(1, 1) == 300);
  try {
    (void)wds::compose("resize(2)", wds::pipeline_input::image).apply_image(wds::any_image(i16));
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 620);
  }
}

TEST_CASE("compose runtime errors name the op", "[compose]") {
  // (grayscale converts any mode to L first, as torchvision's Grayscale does)
  const auto p = wds::compose("grayscale|to_tensor", wds::pipeline_input::image);
  CHECK_NOTHROW(p.apply_image(wds::any_image(wds::image<float>(4, 4, 1, 0.5f))));
  const auto q = wds::compose("to_tensor", wds::pipeline_input::image);
  wds::image<float> f(4, 4, 1, 0.5f);
  try {
    (void)q.apply_image(wds::any_image(std::move(f)), wds::location{"s.tar", "a.png", 512});
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 620);
    CHECK(e.member() == "a.png");
    CHECK(std::string(e.what()).find("to_tensor") != std::string::npos);
  }
  const auto n = wds::compose("to_tensor|normalize(0.5,0.5,1,1)", wds::pipeline_input::image);
  try {
    (void)n.apply_image(wds::any_image(gradient(3, 3, 3)));
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 620);
  }
  try {
    (void)n.apply(nullptr, 0);
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 621);
  }
}

#if WDS_HAS_PNG
TEST_CASE("compose end to end: PNG bytes in, bytes out", "[compose][png]") {
  const auto img = gradient(50, 37, 3);
  const auto png = wds::encode_png(img.view());
  // (explicit limits: png.hpp reads max_decompressed_size = 0 as "nothing")
  wds::limits lim;
  lim.max_decompressed_size = std::uint64_t{1} << 30;
  const auto p = wds::compose("decode|resize(20)|center_crop(16)|hflip|png", wds::pipeline_input::bytes, lim);
  const auto out = p.apply(png.data(), png.size());
  const auto back = std::get<wds::image<std::uint8_t>>(wds::decode_image(out.data(), out.size(), std::nullopt, lim));
  const auto r = wds::resize(img.view(), 27, 20, wds::resample_filter::bilinear);
  const auto want = wds::materialize(wds::hflip(wds::center_crop(r.view(), 16, 16).view()));
  CHECK(same(back.view(), want.view()));
  // decode(l) then npy: the array numpy would write for the L image.
  const auto npy = wds::compose("decode(l)|npy", wds::pipeline_input::bytes, lim).apply(png.data(), png.size());
  CHECK(npy == wds::npy_encode(wds::image_view<const std::uint8_t>(
                   wds::convert(img.view(), wds::pixel_mode::rgb, wds::pixel_mode::l).view())));
  // Corrupt input is the codec's decode_error, not a crash.
  std::vector<std::byte> bad(png.begin(), png.begin() + 40);
  CHECK_THROWS_AS(p.apply(bad.data(), bad.size()), wds::decode_error);
}
#endif

#if WDS_HAS_JPEG
TEST_CASE("compose end to end: the reference ETL image step", "[compose][jpeg]") {
  const auto img = gradient(64, 48, 3);
  const auto jpg = wds::encode_jpeg(img.view());
  const auto p = wds::compose("decode|center_crop(40)|to_tensor|normalize(imagenet)|to_pil_image|jpeg");
  const auto out = p.apply(jpg.data(), jpg.size());
  const auto decoded = std::get<wds::image<std::uint8_t>>(wds::decode_image(jpg.data(), jpg.size()));
  const auto lut = wds::normalize_lut(wds::imagenet_mean(), wds::imagenet_std());
  const auto want = wds::encode_jpeg(lut(wds::center_crop(decoded.view(), 40, 40).view()).view());
  CHECK(out == want);
  const auto q90 = wds::compose("decode|jpeg(90)").apply(jpg.data(), jpg.size());
  wds::jpeg_options o;
  o.quality = 90;
  CHECK(q90 == wds::encode_jpeg(decoded.view(), o));
}
#endif
