// JPEG decode/encode parity with Pillow 9.4 (golden data: tests/golden/gen_codecs.py),
// region decodes, DCT scaling, limits and bad input.
#include "wds/config.hpp"

#include "catch.hpp"

#if WDS_HAS_JPEG

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "codec_golden.hpp"
#include "wds/codec/decode.hpp"
#include "wds/codec/jpeg.hpp"

using wds_test::crop;
using wds_test::data_file;
using wds_test::manifest;
using wds_test::matches;
using wds_test::parse_pillow_mode;

namespace {

bool same(const wds::image<std::uint8_t>& a, const wds::image<std::uint8_t>& b) {
  return a.width() == b.width() && a.height() == b.height() && a.channels() == b.channels() &&
         std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

TEST_CASE("jpeg: decoded pixels equal Pillow's Image.open().convert()", "[jpeg]") {
  wds::jpeg_decoder dec;  // one decoder for every file: state must not leak between images
  wds::image_decoder reused;
  int ok = 0, errors = 0;
  for (const auto& m : manifest("decode", ".jpg")) {
    INFO(m.text);
    const auto bytes = data_file(m.args[0]);
    const auto mode = parse_pillow_mode(m.args[1]);
    const int scale = std::stoi(m.args[2]);
    const std::string& expected = m.args[3];
    if (expected == "error") {
      try {
        wds::jpeg_decode_options opt;
        opt.scale_denom = scale;
        (void)dec.decode(bytes.data(), bytes.size(), opt);
        FAIL("Pillow raised, wds decoded");
      } catch (const wds::decode_error& e) {
        CHECK(e.id() >= 400);
        CHECK(e.id() <= 403);
      }
      // decode_image agrees (files cut before the SOI marker are not JPEGs at all).
      CHECK_THROWS_AS(wds::decode_image(bytes.data(), bytes.size(), mode), wds::decode_error);
      ++errors;
      continue;
    }
    // Pixels decoded from corrupt entropy data depend on libjpeg-turbo's IDCT code
    // path; the golden ones come from its SIMD path, which valgrind runs switch off.
    if (std::getenv("JSIMD_FORCENONE") && m.args[0].rfind("corrupt_", 0) == 0) continue;
    std::string why;
    if (scale == 1) {
      const wds::any_image got = wds::decode_image(bytes.data(), bytes.size(), mode);
      CHECK(matches(got, expected, why));
      INFO(why);
      CHECK(matches(reused.decode(bytes.data(), bytes.size(), mode), expected, why));
    }
    if (!mode || wds::is_8bit_mode(*mode)) {
      wds::jpeg_decode_options opt;
      opt.mode = mode;
      opt.scale_denom = scale;
      const wds::any_image got = dec.decode(bytes.data(), bytes.size(), opt);
      CHECK(matches(got, expected, why));
      INFO(why);
      if (scale > 1) {  // the generator asked Pillow's draft() for (w // scale, h // scale)
        const auto info = dec.read_info(bytes.data(), bytes.size());
        CHECK(wds::jpeg_draft_scale(info.width, info.height, info.width / scale, info.height / scale) == scale);
      }
    }
    ++ok;
  }
  CHECK(ok >= 60);
  CHECK(errors >= 10);
}

TEST_CASE("jpeg: encoded bytes equal Pillow's save()", "[jpeg]") {
  wds::jpeg_encoder enc;
  int identical = 0, total = 0;
  for (const auto& m : manifest("encode", "")) {
    INFO(m.text);
    const auto in = wds_test::read_npy(wds_test::data_path("codecs/" + m.args[0]));
    const int h = int(in.shape[0]), w = int(in.shape[1]), c = in.shape.size() > 2 ? int(in.shape[2]) : 1;
    wds::image<std::uint8_t> im(w, h, c);
    std::memcpy(im.data(), in.bytes.data(), im.size());
    im.set_mode(*parse_pillow_mode(m.args[1]));
    wds::jpeg_options opt;
    opt.quality = std::stoi(m.args[3]);
    opt.subsampling = m.args[4] == "444" ? wds::jpeg_subsampling::s444
                      : m.args[4] == "422" ? wds::jpeg_subsampling::s422 : wds::jpeg_subsampling::s420;
    opt.progressive = m.args[5] == "1";
    opt.optimize = m.args[6] == "1";
    const auto got = enc.encode(im.view(), opt);
    const auto want = data_file(m.args[2]);
    ++total;
    if (got == want) {
      ++identical;
    } else {
      // Not byte-identical: at least the pixels must decode the same.
      wds::jpeg_decoder dec;
      CHECK(same(dec.decode(got.data(), got.size()), dec.decode(want.data(), want.size())));
    }
    CHECK(got == want);
    // The free function gives the same bytes as the reusable encoder.
    CHECK(wds::encode_jpeg(im.view(), opt) == got);
  }
  CHECK(total == 19);
  CHECK(identical == total);
}

TEST_CASE("jpeg: encoder input may be any view (cropped, flipped)", "[jpeg]") {
  const auto bytes = data_file("photo_q90_444.jpg");
  const auto full = wds::decode_jpeg(bytes.data(), bytes.size());
  auto v = full.view().subview(3, 5, 101, 77).flipped_left_right();
  const auto packed = wds::materialize(v);
  CHECK(wds::encode_jpeg(v) == wds::encode_jpeg(packed.view()));
  // RGBA and LA cannot be JPEG (Pillow: "cannot write mode RGBA as JPEG").
  wds::image<std::uint8_t> rgba(4, 4, 4, 1);
  rgba.set_mode(wds::pixel_mode::rgba);
  try {
    (void)wds::encode_jpeg(rgba.view());
    FAIL("RGBA encoded");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 406);
  }
  wds::image<std::uint8_t> la(4, 4, 2, 1);
  CHECK_THROWS_AS(wds::encode_jpeg(la.view()), wds::decode_error);
  wds::image<std::uint8_t> empty;
  CHECK_THROWS_AS(wds::encode_jpeg(empty.view()), wds::decode_error);
  wds::jpeg_options bad;
  bad.quality = 101;
  CHECK_THROWS_AS(wds::encode_jpeg(full.view(), bad), wds::decode_error);
  // A COM marker, as Pillow writes one back when the source JPEG had it.
  wds::jpeg_options com;
  com.comment = "hello";
  const auto with = wds::encode_jpeg(full.view(), com);
  const std::string s(reinterpret_cast<const char*>(with.data()), with.size());
  CHECK(s.find(std::string("\xFF\xFE\x00\x07hello", 9)) != std::string::npos);
}

TEST_CASE("jpeg: a gray image written as RGB gives the bytes of its RGB copy", "[jpeg]") {
  // encode_gray_as_rgb feeds libjpeg the planes (Y = v, Cb = Cr = 128) as
  // raw data; the RGB encode is the one checked against Pillow above.
  wds::jpeg_encoder enc;
  std::uint32_t seed = 3;
  const int sizes[][2] = {{350, 350}, {1, 1}, {17, 33}, {16, 16}, {15, 17}, {100, 1}, {1, 100}, {351, 349}};
  for (const auto& sz : sizes) {
    wds::image<std::uint8_t> g(sz[0], sz[1], 1);
    for (std::size_t i = 0; i < g.size(); ++i) {
      seed = seed * 1103515245u + 12345u;
      g.data()[i] = i % 3 ? std::uint8_t(seed >> 24) : std::uint8_t((seed >> 28) & 3);
    }
    const auto rgb_of = [](wds::image_view<const std::uint8_t> v) {
      wds::image<std::uint8_t> rgb(v.width(), v.height(), 3);
      for (int y = 0; y < v.height(); ++y)
        for (int x = 0; x < v.width(); ++x) rgb(x, y, 0) = rgb(x, y, 1) = rgb(x, y, 2) = v(x, y);
      return rgb;
    };
    for (int q : {75, 1, 95})
      for (auto sub : {wds::jpeg_subsampling::s420, wds::jpeg_subsampling::s422, wds::jpeg_subsampling::s444}) {
        wds::jpeg_options o;
        o.quality = q;
        o.subsampling = sub;
        o.comment = q == 1 ? "Created with GIMP" : "";
        INFO(sz[0] << "x" << sz[1] << " q" << q << " subsampling " << int(sub));
        std::vector<std::byte> want, got;
        enc.encode(rgb_of(g.view()).view(), o, want);
        enc.encode_gray_as_rgb(g.view(), o, got);
        CHECK(got == want);
        if (sz[0] > 2 && sz[1] > 2) {
          const auto v = g.view().subview(1, 1, sz[0] - 2, sz[1] - 2).flipped_left_right();
          enc.encode(rgb_of(v).view(), o, want);
          enc.encode_gray_as_rgb(v, o, got);
          CHECK(got == want);
        }
      }
  }
  std::vector<std::byte> out;
  wds::image<std::uint8_t> rgb(4, 4, 3, 0);
  CHECK_THROWS_AS(enc.encode_gray_as_rgb(rgb.view(), {}, out), wds::decode_error);
  wds::image<std::uint8_t> empty;
  CHECK_THROWS_AS(enc.encode_gray_as_rgb(empty.view(), {}, out), wds::decode_error);
}

TEST_CASE("jpeg: region decode equals a crop of the full decode", "[jpeg][region]") {
  const char* files[] = {"photo_q75_420.jpg", "photo_q90_444.jpg", "photo_q85_422.jpg", "photo_prog.jpg",
                         "photo_prog_444.jpg", "coffee_q60_422.jpg", "gray_q75.jpg", "gray_prog.jpg",
                         "cmyk.jpg", "odd_17x9.jpg", "odd_9x17_422.jpg", "tiny_1x1.jpg", "rocket.jpg"};
  wds::jpeg_decoder dec;
  int regions = 0;
  for (const char* f : files) {
    const auto bytes = data_file(f);
    for (int scale : {1, 2, 8}) {
      for (std::optional<wds::pixel_mode> mode : {std::optional<wds::pixel_mode>{}, std::optional{wds::pixel_mode::rgb}}) {
        wds::jpeg_decode_options opt;
        opt.scale_denom = scale;
        opt.mode = mode;
        const auto full = dec.decode(bytes.data(), bytes.size(), opt);
        const int W = full.width(), H = full.height();
        const wds::jpeg_region cases[] = {
            {0, 0, W, H},          {1, 1, W - 2, H - 2}, {3, 7, 5, 3},           {W / 3, H / 3, W / 3 + 1, H / 2},
            {W - 1, H - 1, 1, 1},  {17, 0, 9, H},        {0, 13, W, 1},          {-5, -3, W / 2, H / 2},
            {W / 2, H / 2, W, H},  {-10, -10, W + 20, H + 20}, {W + 5, 0, 10, 10}, {7, 9, 0, 4},
            {W / 2 - 175, H / 2 - 175, 350, 350}, {9, 5, 33, 17}, {16, 16, 16, 16}, {15, 15, 18, 18}};
        for (const auto& r : cases) {
          INFO(f << " scale " << scale << " region " << r.x << "," << r.y << " " << r.width << "x" << r.height);
          const auto got = dec.decode_region(bytes.data(), bytes.size(), r, opt);
          const int x0 = std::clamp(r.x, 0, W), y0 = std::clamp(r.y, 0, H);
          const int x1 = std::clamp(r.x + std::max(r.width, 0), 0, W), y1 = std::clamp(r.y + std::max(r.height, 0), 0, H);
          CHECK(got.x == x0);
          CHECK(got.y == y0);
          if (x1 <= x0 || y1 <= y0) {
            CHECK(got.pixels.empty());
            continue;
          }
          REQUIRE(got.pixels.width() == x1 - x0);
          REQUIRE(got.pixels.height() == y1 - y0);
          CHECK(got.pixels.mode() == full.mode());
          CHECK(same(got.pixels, crop(full, x0, y0, x1 - x0, y1 - y0)));
          ++regions;
        }
      }
    }
  }
  CHECK(regions > 500);
}

TEST_CASE("jpeg: truncated files fail like Pillow, also in region decodes", "[jpeg][bad]") {
  wds::jpeg_decoder dec;
  for (const char* f : {"trunc_base_noeoi.jpg", "trunc_base_cut10.jpg", "trunc_base_half.jpg",
                        "trunc_prog_noeoi.jpg", "trunc_prog_half.jpg"}) {
    INFO(f);
    const auto bytes = data_file(f);
    try {
      (void)dec.decode(bytes.data(), bytes.size());
      FAIL("decoded a truncated file");
    } catch (const wds::decode_error& e) {
      CHECK(e.id() == 402);
      CHECK(std::string(e.what()).find("truncated") != std::string::npos);
    }
    // The top rows of a truncated baseline file are readable without check_rest;
    // with it, the region decode reports the truncation as the full decode does.
    wds::jpeg_decode_options opt;
    opt.check_rest = true;
    CHECK_THROWS_AS(dec.decode_region(bytes.data(), bytes.size(), {0, 0, 8, 8}, opt), wds::decode_error);
  }
  const auto half = data_file("trunc_base_half.jpg");
  const auto r = dec.decode_region(half.data(), half.size(), {0, 0, 16, 8});
  const auto good = data_file("photo_q75_420.jpg");
  CHECK(same(r.pixels, crop(dec.decode(good.data(), good.size()), 0, 0, 16, 8)));
  // The decoder still works after errors.
  CHECK(dec.decode(good.data(), good.size()).width() == 161);
}

TEST_CASE("jpeg: bad input is a decode_error, never a crash", "[jpeg][bad]") {
  wds::jpeg_decoder dec;
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
  expect_id(data_file("garbage.bin"), 400, 400);
  expect_id(data_file("zero_height.jpg"), 400, 401);
  expect_id({}, 400, 400);
  expect_id(data_file("trunc_base_hdr.jpg"), 402, 402);
  // Flip every byte of the header region in turn: errors or pixels, nothing else.
  const auto good = data_file("photo_q75_420.jpg");
  const auto prog = data_file("photo_prog.jpg");
  wds::jpeg_decode_options half;
  half.scale_denom = 2;
  half.check_rest = true;
  for (const auto* src : {&good, &prog}) {
    for (std::size_t i = 0; i < src->size(); i += i < 700 ? 3 : 97) {
      auto b = *src;
      b[i] = std::byte(std::to_integer<int>(b[i]) ^ 0xA5);
      try {
        (void)dec.decode(b.data(), b.size());
      } catch (const wds::decode_error&) {
      }
      try {
        (void)dec.decode_region(b.data(), b.size(), {9, 13, 40, 30}, half);
      } catch (const wds::decode_error&) {
      }
      try {  // and every truncation point of the header
        if (i < 700) (void)dec.decode(src->data(), i);
      } catch (const wds::decode_error&) {
      }
    }
  }
  // Corrupt entropy data: Pillow ignores libjpeg's warnings; strict mode does not.
  const auto bad = data_file("corrupt_base_0.jpg");
  CHECK_NOTHROW(dec.decode(bad.data(), bad.size()));
  wds::jpeg_decode_options strict;
  strict.strict = true;
  try {
    (void)dec.decode(bad.data(), bad.size(), strict);
    FAIL("strict decode of corrupt data");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 403);
  }
  // Options that make no sense.
  wds::jpeg_decode_options odd;
  odd.scale_denom = 3;
  CHECK_THROWS_AS(dec.decode(good.data(), good.size(), odd), wds::decode_error);
  odd.scale_denom = 1;
  odd.mode = wds::pixel_mode::f;
  CHECK_THROWS_AS(dec.decode(good.data(), good.size(), odd), wds::decode_error);
}

TEST_CASE("jpeg: a reused decoder does not leak tables into a file without DHT", "[jpeg]") {
  // Pillow writes the standard Huffman tables, so dropping the DHT segments
  // leaves a file that a fresh libjpeg decodes to the same pixels.
  const auto good = data_file("photo_q75_420.jpg");
  std::vector<std::byte> no_dht(good.begin(), good.begin() + 2);
  std::size_t i = 2;
  while (i + 4 <= good.size()) {
    const int m = std::to_integer<int>(good[i + 1]);
    if (m == 0xDA) break;
    const std::size_t len = (std::size_t(std::to_integer<int>(good[i + 2])) << 8) | std::to_integer<int>(good[i + 3]);
    if (m != 0xC4) no_dht.insert(no_dht.end(), good.begin() + std::ptrdiff_t(i), good.begin() + std::ptrdiff_t(i + 2 + len));
    i += 2 + len;
  }
  no_dht.insert(no_dht.end(), good.begin() + std::ptrdiff_t(i), good.end());
  REQUIRE(no_dht.size() < good.size());
  wds::jpeg_decoder dec;
  const auto want = dec.decode(good.data(), good.size());
  const auto opt = data_file("photo_opt.jpg");  // optimized (non-standard) tables
  (void)dec.decode(opt.data(), opt.size());
  CHECK(same(dec.decode(no_dht.data(), no_dht.size()), want));
  // The encoder likewise: optimized tables must not stick to the next baseline encode.
  wds::jpeg_encoder enc;
  wds::jpeg_options o;
  o.optimize = true;
  (void)enc.encode(want.view(), o);
  CHECK(enc.encode(want.view()) == wds::encode_jpeg(want.view()));
}

TEST_CASE("jpeg: pixel limits like Pillow's DecompressionBomb checks", "[jpeg][limits]") {
  wds::jpeg_decoder dec;
  const auto huge = data_file("huge.jpg");  // header claims 65000 x 65000
  try {
    (void)dec.decode(huge.data(), huge.size());
    FAIL("decoded a 4 GP header");
  } catch (const wds::limit_error& e) {
    CHECK(e.id() == 500);
  }
  const auto good = data_file("photo_q75_420.jpg");  // 161 x 123 = 19803 px
  wds::limits lim;
  lim.max_image_pixels = 19802;
  CHECK_THROWS_AS(dec.decode(good.data(), good.size(), {}, lim), wds::limit_error);
  lim.max_image_pixels = 19803;
  lim.warn_image_pixels = 19802;
  const auto before = wds::decompression_bomb_warnings();
  CHECK_NOTHROW(dec.decode(good.data(), good.size(), {}, lim));
  CHECK(wds::decompression_bomb_warnings() == before + 1);
  // decode_image passes limits and location through.
  wds::location where{"shard-1.tar", "0001.jpg", 1536};
  try {
    (void)wds::decode_image(huge.data(), huge.size(), wds::pixel_mode::rgb, {}, where);
    FAIL("no limit error");
  } catch (const wds::limit_error& e) {
    CHECK(std::string(e.what()).find("[wds.limit.500] \"shard-1.tar\" member \"0001.jpg\" at byte 1536") == 0);
  }
}

TEST_CASE("jpeg: header info and draft scale choice", "[jpeg]") {
  const auto b = data_file("cmyk.jpg");
  const auto info = wds::read_jpeg_info(b.data(), b.size());
  CHECK(info.width == 64);
  CHECK(info.height == 48);
  CHECK(info.components == 4);
  CHECK(info.mode == wds::pixel_mode::cmyk);
  const auto p = data_file("photo_prog.jpg");
  CHECK(wds::read_jpeg_info(p.data(), p.size()).progressive);
  // Pillow: scale = min(w // rw, h // rh), then the largest of 8, 4, 2, 1 not above it.
  CHECK(wds::jpeg_draft_scale(500, 375, 224, 224) == 1);
  CHECK(wds::jpeg_draft_scale(500, 375, 250, 187) == 2);
  CHECK(wds::jpeg_draft_scale(1000, 750, 250, 187) == 4);
  CHECK(wds::jpeg_draft_scale(1000, 750, 125, 90) == 8);
  CHECK(wds::jpeg_draft_scale(4000, 3000, 100, 100) == 8);
  CHECK(wds::jpeg_draft_scale(640, 427, 0, 10) == 1);
}

namespace {

// decode_region through decode_region_rows: the rows stacked into an image.
struct rows_outcome {
  bool ok = false;
  int id = 0;
  std::string what;
  wds::jpeg_rows_info info;
  wds::image<std::uint8_t> pixels;
  bool scanned = false;
};

rows_outcome stream_region(wds::jpeg_decoder& dec, const std::vector<std::byte>& b, wds::jpeg_region r,
                           const wds::jpeg_decode_options& opt) {
  rows_outcome o;
  std::vector<std::uint8_t> px;
  int next = 0, width = -1, channels = -1;
  bool in_order = true;
  try {
    o.info = dec.decode_region_rows(b.data(), b.size(), r, opt, {}, {}, [&](wds::image_view<const std::uint8_t> row, int y) {
      in_order = in_order && y == next++ && row.height() == 1 && (width < 0 || row.width() == width);
      width = row.width();
      channels = row.channels();
      o.pixels.set_mode(row.mode());
      const std::uint8_t* p = row.origin();
      px.insert(px.end(), p, p + std::size_t(row.width()) * std::size_t(row.channels()));
    });
    o.ok = true;
  } catch (const wds::decode_error& e) {
    o.id = e.id();
    o.what = e.what();
  }
  CHECK(in_order);
  if (o.ok && next > 0) {
    const wds::pixel_mode m = o.pixels.mode();
    o.pixels = wds::image<std::uint8_t>(width, next, channels);
    o.pixels.set_mode(m);
    std::memcpy(o.pixels.data(), px.data(), px.size());
  }
  o.scanned = wds::detail::jpeg_decoder_testing::rest_scanned(dec);
  return o;
}

}  // namespace

TEST_CASE("jpeg: decode_region_rows hands out decode_region's rows, errors included", "[jpeg][region]") {
  std::vector<std::string> files;
  for (const char* dir : {"codecs", "bad"})
    for (const auto& e : std::filesystem::directory_iterator(wds_test::data_path(dir)))
      if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() > 50);
  wds::jpeg_decoder streamed, whole;  // separate decoders, each reused for every file
  int same_pixels = 0, same_errors = 0, scanned = 0;
  // Under valgrind (tests/valgrind.sh) one combination in 7 (coprime with the 40 per file).
  const bool thin = std::getenv("WDS_RUNNING_UNDER_VALGRIND") != nullptr;
  const int stride = thin ? 7 : 1;
  int combo = 0;
  using M = std::optional<wds::pixel_mode>;
  for (const auto& f : files) {
    const auto bytes = wds_test::read_file(f);
    for (M mode : {M{}, M{wds::pixel_mode::rgb}, M{wds::pixel_mode::l}, M{wds::pixel_mode::rgba}, M{wds::pixel_mode::cmyk}})
      for (int flags = 0; flags < 8; ++flags) {
        if (combo++ % stride != 0) continue;
        wds::jpeg_decode_options opt;
        opt.mode = mode;
        opt.check_rest = flags & 1;
        opt.strict = flags & 2;
        opt.scale_denom = flags & 4 ? 2 : 1;
        for (const wds::jpeg_region r : {wds::jpeg_region{0, 0, 1 << 20, 1 << 20}, wds::jpeg_region{5, 3, 350, 350},
                                         wds::jpeg_region{33, 17, 9, 40}, wds::jpeg_region{-4, -4, 3, 3}}) {
          INFO(f << " mode " << (mode ? wds::mode_name(*mode) : "native") << " flags " << flags << " region " << r.x
                 << "," << r.y);
          rows_outcome want;
          try {
            const auto img = whole.decode_region(bytes.data(), bytes.size(), r, opt);
            want.ok = true;
            want.info.x = img.x;
            want.info.y = img.y;
            want.info.width = img.pixels.empty() ? 0 : img.pixels.width();
            want.info.height = img.pixels.empty() ? 0 : img.pixels.height();
            want.info.mode = img.pixels.mode();
            want.pixels = img.pixels;
          } catch (const wds::decode_error& e) {
            want.id = e.id();
            want.what = e.what();
          }
          want.scanned = wds::detail::jpeg_decoder_testing::rest_scanned(whole);
          const rows_outcome got = stream_region(streamed, bytes, r, opt);
          REQUIRE(got.ok == want.ok);
          CHECK(got.scanned == want.scanned);
          scanned += got.scanned;
          if (!want.ok) {
            CHECK(got.id == want.id);
            CHECK(got.what == want.what);
            ++same_errors;
            continue;
          }
          CHECK(got.info.x == want.info.x);
          CHECK(got.info.y == want.info.y);
          CHECK(got.info.width == want.info.width);
          CHECK(got.info.height == want.info.height);
          if (want.info.width == 0) {
            CHECK(got.pixels.empty());
            continue;
          }
          CHECK(got.info.mode == want.info.mode);
          CHECK(got.pixels.mode() == want.pixels.mode());
          CHECK(same(got.pixels, want.pixels));
          ++same_pixels;
        }
      }
  }
  CHECK(same_pixels > 1000 / stride);
  CHECK(same_errors > 100 / stride);
  CHECK(scanned > 100 / stride);
}

TEST_CASE("jpeg: decode_region_rows aborts cleanly when the row callback throws", "[jpeg][region]") {
  const auto bytes = data_file("photo_q75_420.jpg");
  wds::jpeg_decoder dec;
  wds::jpeg_decode_options opt;
  opt.check_rest = true;
  int seen = 0;
  CHECK_THROWS_AS(dec.decode_region_rows(bytes.data(), bytes.size(), {0, 0, 64, 64}, opt, {}, {},
                                         [&](wds::image_view<const std::uint8_t>, int y) {
                                           ++seen;
                                           if (y == 2) throw std::runtime_error("stop");
                                         }),
                  std::runtime_error);
  CHECK(seen == 3);
  // The same decoder goes on as a fresh one would.
  wds::jpeg_decoder fresh;
  CHECK(same(dec.decode(bytes.data(), bytes.size()), fresh.decode(bytes.data(), bytes.size())));
}

TEST_CASE("jpeg: begin_rows/write_row/finish_rows write encode()'s bytes", "[jpeg]") {
  const auto bytes = data_file("photo_q90_444.jpg");
  const auto rgb = wds::decode_jpeg(bytes.data(), bytes.size());
  wds::jpeg_decode_options as_l;
  as_l.mode = wds::pixel_mode::l;
  wds::jpeg_decoder dec;
  const auto gray = dec.decode(bytes.data(), bytes.size(), as_l);
  const auto cmyk_file = data_file("cmyk.jpg");
  const auto cmyk = dec.decode(cmyk_file.data(), cmyk_file.size());
  REQUIRE(cmyk.channels() == 4);
  wds::jpeg_encoder rows, whole;
  int compared = 0;
  for (const auto* im : {&rgb, &gray, &cmyk})
    for (int variant = 0; variant < 6; ++variant) {
      wds::jpeg_options o;
      o.quality = variant == 1 ? 95 : variant == 2 ? 1 : 75;
      o.subsampling = variant == 3 ? wds::jpeg_subsampling::s444 : wds::jpeg_subsampling::s420;
      o.progressive = variant == 4;
      o.optimize = variant == 5;
      o.comment = variant == 2 ? "a comment" : "";
      // Sub-rectangles too: odd sizes, one row, one column.
      const int W = im->width(), H = im->height();
      const std::array<int, 4> rects[] = {{0, 0, W, H}, {3, 1, W - 5, H - 3}, {0, 7, W, 1}, {9, 0, 1, H}};
      for (const auto& r : rects) {
        INFO("channels " << im->channels() << " variant " << variant << " rect " << r[2] << "x" << r[3]);
        const auto v = im->view().subview(r[0], r[1], r[2], r[3]);
        const auto packed = wds::materialize(v);
        std::vector<std::byte> want, got;
        whole.encode(v, o, want);
        rows.begin_rows(r[2], r[3], im->channels(), o);
        for (int y = 0; y < r[3]; ++y) rows.write_row(packed.row(y));
        rows.finish_rows(got);
        CHECK(got == want);
        ++compared;
      }
    }
  CHECK(compared == 72);

  // Misuse is a decode_error and leaves the encoder usable.
  std::vector<std::byte> out, want;
  whole.encode(rgb.view(), {}, want);
  const auto check_406 = [](auto&& fn) {
    try {
      fn();
      FAIL("no error");
    } catch (const wds::decode_error& e) {
      CHECK(e.id() == 406);
    }
  };
  wds::jpeg_encoder e;
  check_406([&] { e.write_row(rgb.row(0)); });
  check_406([&] { e.finish_rows(out); });
  check_406([&] { e.begin_rows(0, 5, 3); });
  check_406([&] { e.begin_rows(5, 5, 2); });
  e.begin_rows(rgb.width(), rgb.height(), 3);
  for (int y = 0; y < 5; ++y) e.write_row(rgb.row(y));
  check_406([&] { e.finish_rows(out); });  // rows missing: abandoned
  check_406([&] { e.write_row(rgb.row(0)); });
  e.begin_rows(rgb.width(), 2, 3);
  e.write_row(rgb.row(0));
  e.write_row(rgb.row(1));
  check_406([&] { e.write_row(rgb.row(2)); });  // past the height
  // Abandoned halfway by begin_rows and by encode(): the next image is right.
  e.begin_rows(rgb.width(), rgb.height(), 3);
  e.write_row(rgb.row(0));
  e.encode(rgb.view(), {}, out);
  CHECK(out == want);
  e.begin_rows(rgb.width(), rgb.height(), 3);
  e.write_row(rgb.row(0));
  e.begin_rows(rgb.width(), rgb.height(), 3);
  for (int y = 0; y < rgb.height(); ++y) e.write_row(rgb.row(y));
  e.finish_rows(out);
  CHECK(out == want);
}

#else
TEST_CASE("jpeg: skipped (WDS_HAS_JPEG=0)", "[jpeg]") { SUCCEED("built without libjpeg"); }
#endif
