// PNG decode parity with Pillow 9.4 (golden data: tests/golden/gen_codecs.py),
// encode round trips, limits and bad input.
#include "wds/config.hpp"

#include "catch.hpp"

#if WDS_HAS_PNG

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "codec_golden.hpp"
#include "wds/codec/decode.hpp"
#include "wds/codec/png.hpp"
#if WDS_HAS_ZLIB
#include <zlib.h>
#endif
#if WDS_ABI_DEFLATE_
#include <libdeflate.h>
#endif

using wds_test::data_file;
using wds_test::manifest;
using wds_test::matches;
using wds_test::parse_pillow_mode;

namespace {

template <class T>
bool same_image(const wds::image<T>& a, const wds::image<T>& b) {
  return a.width() == b.width() && a.height() == b.height() && a.channels() == b.channels() &&
         std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

TEST_CASE("png: decoded pixels equal Pillow's Image.open().convert()", "[png]") {
  wds::png_decoder dec;
  wds::image_decoder reused;
  int ok = 0;
  for (const auto& m : manifest("decode", ".png")) {
    INFO(m.text);
    const auto bytes = data_file(m.args[0]);
    const auto mode = parse_pillow_mode(m.args[1]);
    REQUIRE(m.args[3] != "error");
    std::string why;
    const wds::any_image got = dec.decode(bytes.data(), bytes.size(), mode);
    CHECK(matches(got, m.args[3], why));
    INFO(why);
    const wds::any_image via = wds::decode_image(bytes.data(), bytes.size(), mode);
    CHECK(matches(via, m.args[3], why));
    CHECK(matches(reused.decode(bytes.data(), bytes.size(), mode), m.args[3], why));
    if (!mode) {
      const auto info = dec.read_info(bytes.data(), bytes.size());
      CHECK(std::visit([](const auto& im) { return im.mode(); }, got) == info.mode);
    }
    ++ok;
  }
  CHECK(ok >= 160);  // the manifest must not silently shrink
}

TEST_CASE("png: header info", "[png]") {
  const auto b = data_file("i16_interlaced.png");
  const auto info = wds::read_png_info(b.data(), b.size());
  CHECK(info.width == 37);
  CHECK(info.height == 23);
  CHECK(info.bit_depth == 16);
  CHECK(info.color_type == 0);
  CHECK(info.interlaced);
  CHECK(info.mode == wds::pixel_mode::i);
  const auto p = data_file("p8_trns.png");
  const auto pi = wds::read_png_info(p.data(), p.size());
  CHECK(pi.has_trns);
  CHECK(pi.mode == wds::pixel_mode::rgba);
}

TEST_CASE("png: encode round trips (8-bit L/LA/RGB/RGBA, 16-bit gray)", "[png]") {
  wds::png_decoder dec;
  for (int ch = 1; ch <= 4; ++ch) {
    wds::image<std::uint8_t> im(29, 13, ch);
    for (std::size_t i = 0; i < im.size(); ++i) im.data()[i] = std::uint8_t(i * 31 + ch);
    for (int level : {0, 6, 9}) {
      wds::png_options opt;
      opt.compression_level = level;
      const auto png = wds::encode_png(im.view(), opt);
      const auto back = dec.decode(png.data(), png.size());
      REQUIRE(back.index() == 0);
      CHECK(same_image(std::get<wds::image<std::uint8_t>>(back), im));
    }
    // Strided views encode like their packed copies.
    auto v = im.view().subview(2, 1, 20, 9).flipped_up_down();
    CHECK(wds::encode_png(v) == wds::encode_png(wds::materialize(v).view()));
  }
  wds::image<std::uint16_t> g(31, 7, 1);
  for (std::size_t i = 0; i < g.size(); ++i) g.data()[i] = std::uint16_t(i * 2111);
  const auto png = wds::encode_png(g.view());
  const auto back = dec.decode(png.data(), png.size());  // Pillow: mode I
  REQUIRE(back.index() == 2);
  const auto& i32 = std::get<wds::image<std::int32_t>>(back);
  for (std::size_t i = 0; i < g.size(); ++i) REQUIRE(i32.data()[i] == g.data()[i]);
  // A trimap encoded and decoded is unchanged (the ETL writes and reads these).
  const auto tri = dec.decode(data_file("l8.png").data(), data_file("l8.png").size());
  const auto& t8 = std::get<wds::image<std::uint8_t>>(tri);
  const auto re = wds::encode_png(t8.view());
  CHECK(same_image(std::get<wds::image<std::uint8_t>>(dec.decode(re.data(), re.size())), t8));
  wds::image<std::uint8_t> empty;
  CHECK_THROWS_AS(wds::encode_png(empty.view()), wds::decode_error);
  wds::png_options bad;
  bad.compression_level = 10;
  CHECK_THROWS_AS(wds::encode_png(t8.view(), bad), wds::decode_error);
}

TEST_CASE("png: fast encoding keeps the pixels, and tRNS", "[png]") {
  wds::png_decoder dec;
  wds::png_options fast;
  fast.fast = true;
  for (int ch = 1; ch <= 4; ++ch) {
    wds::image<std::uint8_t> im(37, 11, ch);
    for (std::size_t i = 0; i < im.size(); ++i) im.data()[i] = std::uint8_t((i * 2654435761u) >> 13);
    for (const auto& v : {im.view(), im.view().subview(3, 2, 30, 8).flipped_left_right().flipped_up_down()}) {
      for (int level : {0, 1, 9}) {
        fast.compression_level = level;
        const auto png = wds::encode_png(v, fast);
        const auto back = dec.decode(png.data(), png.size());
        REQUIRE(back.index() == 0);
        CHECK(same_image(std::get<wds::image<std::uint8_t>>(back), wds::materialize(v)));
      }
    }
  }
  fast.compression_level = 6;
  wds::image<std::uint16_t> g(31, 7, 1);
  for (std::size_t i = 0; i < g.size(); ++i) g.data()[i] = std::uint16_t(i * 2111);
  const auto png16 = wds::encode_png(g.view(), fast);
  const auto back16 = dec.decode(png16.data(), png16.size());
  REQUIRE(back16.index() == 2);
  for (std::size_t i = 0; i < g.size(); ++i) REQUIRE(std::get<wds::image<std::int32_t>>(back16).data()[i] == g.data()[i]);
  // A gray key written as tRNS by both writers: Pillow's LA conversion makes it alpha 0.
  wds::image<std::uint8_t> l(5, 2, 1, 7);
  l(1, 0) = 60;
  for (bool quick : {false, true}) {
    wds::png_options o;
    o.fast = quick;
    o.transparency = wds::color_key{wds::color_key::kind::gray, {60, 0, 0}};
    const auto png = wds::encode_png(l.view(), o);
    const auto la = std::get<wds::image<std::uint8_t>>(dec.decode(png.data(), png.size(), wds::pixel_mode::la));
    CHECK(la(1, 0, 1) == 0);
    CHECK(la(0, 0, 1) == 255);
    REQUIRE(dec.transparency() == std::nullopt);  // became alpha
    (void)dec.decode(png.data(), png.size());
    REQUIRE(dec.transparency().has_value());
    CHECK(dec.transparency()->v[0] == 60);
  }
}

#if WDS_HAS_ZLIB
namespace {

// The IDAT payload of a PNG written by encode_png_fast (one IDAT chunk).
std::vector<std::uint8_t> idat_of(const std::vector<std::byte>& png) {
  std::vector<std::uint8_t> out;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    const auto b = [&](std::size_t i) { return std::uint32_t(std::to_integer<std::uint8_t>(png[i])); };
    const std::size_t len = (b(at) << 24) | (b(at + 1) << 16) | (b(at + 2) << 8) | b(at + 3);
    if (std::memcmp(&png[at + 4], "IDAT", 4) == 0) {
      const auto* d = reinterpret_cast<const std::uint8_t*>(&png[at + 8]);
      out.insert(out.end(), d, d + len);
    }
    at += 12 + len;
  }
  return out;
}

// An 8-bit image's rows as png(fast) filters them: "none" first, then "up".
std::vector<std::uint8_t> up_filtered(const wds::image<std::uint8_t>& im) {
  const std::size_t row = std::size_t(im.width()) * std::size_t(im.channels());
  std::vector<std::uint8_t> f;
  for (int y = 0; y < im.height(); ++y) {
    f.push_back(y ? 2 : 0);
    for (std::size_t i = 0; i < row; ++i) {
      const std::uint8_t above = y ? im.data()[std::size_t(y - 1) * row + i] : 0;
      f.push_back(std::uint8_t(im.data()[std::size_t(y) * row + i] - above));
    }
  }
  return f;
}

std::vector<std::uint8_t> zlib_rle(const std::vector<std::uint8_t>& in, int level) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, level, Z_DEFLATED, 15, 8, Z_RLE) == Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&z, uLong(in.size())));
  z.next_in = const_cast<std::uint8_t*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

TEST_CASE("png: fast encoding gives runs to zlib's RLE and the rest to libdeflate when built in", "[png]") {
  INFO("libdeflate " << (wds::config::has_libdeflate ? "built in" : "not built in"));
  wds::png_decoder dec;
  // A label map (runs: nearly every "up"-filtered byte is 0) and noise (few zeros),
  // 1 and 3 channels; the noise image is 49% flat so the choice is near its threshold.
  wds::image<std::uint8_t> mask(300, 120, 1), noise(97, 61, 3), half(64, 64, 1);
  for (int y = 0; y < mask.height(); ++y)
    for (int x = 0; x < mask.width(); ++x) mask(x, y) = std::uint8_t((x - 150) * (x - 150) + (y - 60) * (y - 60) < 2500 ? 2 : 1);
  for (std::size_t i = 0; i < noise.size(); ++i) noise.data()[i] = std::uint8_t((i * 2654435761u) >> 11);
  for (int y = 0; y < half.height(); ++y)
    for (int x = 0; x < half.width(); ++x) half(x, y) = x < 33 ? std::uint8_t((x * 131 + y * 71) * 2654435761u >> 24) : 9;
  int by_libdeflate = 0;
  for (const auto* im : {&mask, &noise, &half}) {
    for (int level : {0, 1, 6, 9}) {
      wds::png_options fast;
      fast.fast = true;
      fast.compression_level = level;
      const auto png = wds::encode_png(im->view(), fast);
      INFO(im->width() << "x" << im->height() << "x" << im->channels() << " level " << level);
      const auto back = dec.decode(png.data(), png.size());
      REQUIRE(back.index() == 0);
      CHECK(same_image(std::get<wds::image<std::uint8_t>>(back), *im));
      const auto rows = up_filtered(*im);
      std::vector<std::uint8_t> want = zlib_rle(rows, level);
#if WDS_ABI_DEFLATE_
      // The sampled rows (every 8th) of `half` have 33 of 64 filtered bytes non-zero: not runs.
      if (level > 0 && im != &mask) {
        libdeflate_compressor* c = libdeflate_alloc_compressor(1);
        REQUIRE(c != nullptr);
        want.assign(libdeflate_zlib_compress_bound(c, rows.size()), 0);
        want.resize(libdeflate_zlib_compress(c, rows.data(), rows.size(), want.data(), want.size()));
        libdeflate_free_compressor(c);
        ++by_libdeflate;
      }
#endif
      CHECK(idat_of(png) == want);
    }
  }
  CHECK(by_libdeflate == (wds::config::has_libdeflate ? 6 : 0));
}
#endif

TEST_CASE("png: bad input is a decode_error or limit_error, never a crash", "[png][bad]") {
  wds::png_decoder dec;
  auto expect_id = [&](const std::vector<std::byte>& b, int lo, int hi) {
    try {
      (void)dec.decode(b.data(), b.size());
      FAIL("decoded bad input");
    } catch (const wds::decode_error& e) {
      INFO(e.what());
      CHECK(e.id() >= lo);
      CHECK(e.id() <= hi);
    }
  };
  expect_id(data_file("bad_crc.png"), 431, 431);
  expect_id(data_file("trunc.png"), 431, 432);
  expect_id(data_file("zero_width.png"), 431, 431);
  expect_id(data_file("depth3.png"), 431, 433);
  expect_id(data_file("garbage.bin"), 430, 430);
  expect_id({}, 430, 430);
  try {
    (void)dec.decode(data_file("huge.png").data(), data_file("huge.png").size());
    FAIL("decoded a 10 GP header");
  } catch (const wds::limit_error& e) {
    CHECK(e.id() == 500);
  }
  // decode_image: unknown data is 461.
  const auto garbage = data_file("garbage.bin");
  try {
    (void)wds::decode_image(garbage.data(), garbage.size(), std::nullopt);
    FAIL("decoded garbage");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 461);
  }
  // Every single-byte change and every truncation of a small file: error or pixels.
  const auto good = data_file("p4_interlaced_trns.png");
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto b = good;
    b[i] = std::byte(std::to_integer<int>(b[i]) ^ 0x5A);
    try {
      (void)dec.decode(b.data(), b.size(), wds::pixel_mode::rgba);
    } catch (const wds::decode_error&) {
    }
    try {
      (void)dec.decode(good.data(), i, wds::pixel_mode::rgba);
    } catch (const wds::decode_error&) {
    }
  }
}

TEST_CASE("png: limits", "[png][limits]") {
  wds::png_decoder dec;
  const auto b = data_file("rgb8.png");  // 37 x 23 = 851 px
  wds::limits lim;
  lim.max_image_pixels = 850;
  CHECK_THROWS_AS(dec.decode(b.data(), b.size(), std::nullopt, lim), wds::limit_error);
  lim.max_image_pixels = 851;
  lim.warn_image_pixels = 850;
  const auto before = wds::decompression_bomb_warnings();
  CHECK_NOTHROW(dec.decode(b.data(), b.size(), std::nullopt, lim));
  CHECK(wds::decompression_bomb_warnings() == before + 1);
}

#else
TEST_CASE("png: skipped (WDS_HAS_PNG=0)", "[png]") { SUCCEED("built without libspng"); }
#endif
