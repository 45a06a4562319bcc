// check_rest's EOI scan (detail::jpeg_rest_is_clean) against the full check
// it replaces: over real JPEGs, libjpeg transcodes of them (restart markers,
// arithmetic coding, progressive, one scan per component) and thousands of
// corrupted variants (truncations, bit flips below the region, EOI removed,
// junk after EOI, markers inserted), a region decode with check_rest must end
// exactly as with the full decode of the rest: the same pixels, or the same
// error id and message. The variants are made here, deterministically.
#include "wds/config.hpp"

#include "catch.hpp"

#if WDS_HAS_JPEG

#include <csetjmp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "codec_golden.hpp"
#include "wds/codec/jpeg.hpp"

using wds_test::data_file;

namespace {

using bytes = std::vector<std::byte>;

// --- libjpeg transcodes (lossless: the same coefficients, another stream layout) ---

enum class layout { restart_1, restart_3, restart_rows, arithmetic, progressive, scan_per_component };

struct transcode_error {
  jpeg_error_mgr mgr;  // first member
  std::jmp_buf jump;
};

extern "C" void wds_test_transcode_error_exit(j_common_ptr ci) {
  std::longjmp(reinterpret_cast<transcode_error*>(ci->err)->jump, 1);
}

// Only trivially destructible locals between setjmp and the longjmp.
bool transcode_step(jpeg_decompress_struct& in, jpeg_compress_struct& out, transcode_error& err,
                    const bytes& src, layout how, unsigned char** buf, unsigned long* len) {
  if (setjmp(err.jump)) return false;
  jpeg_mem_src(&in, reinterpret_cast<const unsigned char*>(src.data()), static_cast<unsigned long>(src.size()));
  jpeg_read_header(&in, TRUE);
  jvirt_barray_ptr* coefs = jpeg_read_coefficients(&in);
  jpeg_copy_critical_parameters(&in, &out);
  jpeg_mem_dest(&out, buf, len);
  static jpeg_scan_info per_component[4];
  switch (how) {
    case layout::restart_1: out.restart_interval = 1; break;
    case layout::restart_3: out.restart_interval = 3; break;
    case layout::restart_rows: out.restart_in_rows = 1; break;
    case layout::arithmetic: out.arith_code = TRUE; break;
    case layout::progressive: jpeg_simple_progression(&out); break;
    case layout::scan_per_component:
      for (int c = 0; c < out.num_components; ++c) per_component[c] = jpeg_scan_info{1, {c, 0, 0, 0}, 0, 63, 0, 0};
      out.scan_info = per_component;
      out.num_scans = out.num_components;
      break;
  }
  jpeg_write_coefficients(&out, coefs);
  jpeg_finish_compress(&out);
  jpeg_finish_decompress(&in);
  return true;
}

bytes transcode(const bytes& src, layout how) {
  transcode_error err;
  jpeg_std_error(&err.mgr);
  err.mgr.error_exit = wds_test_transcode_error_exit;
  jpeg_decompress_struct in{};
  jpeg_compress_struct out{};
  in.err = &err.mgr;
  out.err = &err.mgr;
  jpeg_create_decompress(&in);
  jpeg_create_compress(&out);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  const bool ok = transcode_step(in, out, err, src, how, &buf, &len);
  bytes result;
  if (ok) result.assign(reinterpret_cast<std::byte*>(buf), reinterpret_cast<std::byte*>(buf) + len);
  jpeg_destroy_compress(&out);
  jpeg_destroy_decompress(&in);
  std::free(buf);
  return result;
}

// --- corrupted variants ---

struct rng {  // xorshift64: the same variants on every run
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  std::size_t below(std::size_t n) { return n ? std::size_t(next() % n) : 0; }
};

// Offset of the first entropy-coded byte (after the first SOS segment).
std::size_t entropy_start(const bytes& b) {
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    const unsigned m = std::to_integer<unsigned>(b[i + 1]);
    const std::size_t len = (std::to_integer<std::size_t>(b[i + 2]) << 8) | std::to_integer<std::size_t>(b[i + 3]);
    if (m == 0xDA) return i + 2 + len;
    i += 2 + len;
  }
  return b.size();
}

bytes with(std::initializer_list<int> v) {
  bytes out;
  for (int x : v) out.push_back(std::byte(x));
  return out;
}

// Marker sequences to insert: every kind the readers treat differently.
std::vector<bytes> markers() {
  std::vector<bytes> m = {
      with({0xFF, 0xD9}),                          // EOI early
      with({0xFF, 0xFF, 0xFF, 0xD9}),              // EOI after fill bytes
      with({0xFF, 0xD0}), with({0xFF, 0xD3}), with({0xFF, 0xD7}),  // RSTn
      with({0xFF, 0xC4, 0x00, 0x02}),              // empty DHT
      with({0xFF, 0xDB, 0x00, 0x02}),              // empty DQT
      with({0xFF, 0xDD, 0x00, 0x04, 0x00, 0x01}),  // DRI
      with({0xFF, 0xDA, 0x00, 0x02}),              // SOS: a second scan
      with({0xFF, 0xC0, 0x00, 0x02}),              // SOF
      with({0xFF, 0xFE, 0x00, 0x05, 0x41, 0x42, 0x43}),  // COM
      with({0xFF, 0xE1, 0x00, 0x04, 0x00, 0x00}),  // APP1
      with({0xFF, 0xE2, 0x10, 0x00}),              // APP2 longer than the file
      with({0xFF, 0xDC, 0x00, 0x04, 0x00, 0x10}),  // DNL
      with({0xFF, 0x01}),                          // TEM
      with({0xFF, 0xF0}),                          // reserved JPG0
      with({0xFF, 0x02}),                          // reserved RES
      with({0xFF, 0xD8}),                          // SOI
      with({0xFF}),                                // a lone FF (pairs with the next byte)
      with({0xFF, 0x00}),                          // a stuffed FF
      with({0x00, 0x00, 0x00}),                    // plain junk
  };
  return m;
}

std::vector<bytes> variants(const bytes& good, std::uint64_t seed, std::size_t budget) {
  std::vector<bytes> out;
  const std::size_t n = good.size();
  const std::size_t es = entropy_start(good);
  REQUIRE(es + 2 < n);
  rng r{seed};
  out.push_back(good);
  // Truncations: through the whole entropy segment, every byte near the end,
  // and a few in the header.
  const std::size_t step = std::max<std::size_t>(1, (n - es) / (budget / 4));
  for (std::size_t cut = es; cut < n; cut += step) out.emplace_back(good.begin(), good.begin() + long(cut));
  for (std::size_t k = 1; k <= 12 && k < n; ++k) out.emplace_back(good.begin(), good.end() - long(k));
  for (std::size_t cut : {std::size_t(2), es / 2, es - 1, es}) out.emplace_back(good.begin(), good.begin() + long(cut));
  // EOI replaced, junk after it, a second EOI.
  for (const bytes& tail : {with({0x00, 0x00}), with({0xFF, 0xD8}), with({0xFF, 0xC4}), with({0x12, 0x34})}) {
    bytes b(good.begin(), good.end() - 2);
    b.insert(b.end(), tail.begin(), tail.end());
    out.push_back(b);
  }
  for (const bytes& tail : {with({0x00}), with({0xFF}), with({0xFF, 0xD9}), with({0xFF, 0xDA, 0x00, 0x08}),
                            with({0x41, 0x42, 0x43, 0x44, 0x45})}) {
    bytes b = good;
    b.insert(b.end(), tail.begin(), tail.end());
    out.push_back(b);
  }
  // Bit and byte flips in the entropy data, most of them in its second half
  // (below a centred region).
  for (std::size_t k = 0; k < budget / 4; ++k) {
    bytes b = good;
    const std::size_t lo = k % 4 == 0 ? es : es + (n - es) / 2;
    const std::size_t at = lo + r.below(n - 2 - lo);
    const int mask = k % 3 == 0 ? int(1u << r.below(8)) : int(1 + r.below(255));
    b[at] = std::byte(std::to_integer<int>(b[at]) ^ mask);
    if (k % 5 == 0) {  // a second flip close by
      const std::size_t at2 = std::min(n - 3, at + 1 + r.below(64));
      b[at2] = std::byte(std::to_integer<int>(b[at2]) ^ 0x5A);
    }
    out.push_back(b);
  }
  // A byte set to FF (a random marker code after it), or zeroed.
  for (std::size_t k = 0; k < budget / 8; ++k) {
    bytes b = good;
    const std::size_t at = es + r.below(n - 2 - es);
    b[at] = k % 2 ? std::byte{0xFF} : std::byte{0x00};
    out.push_back(b);
  }
  // Markers inserted: in the entropy data, and right before EOI.
  const auto ms = markers();
  for (std::size_t k = 0; k < budget / 4; ++k) {
    const bytes& m = ms[k % ms.size()];
    const std::size_t at = k % 3 == 0 ? n - 2 : es + r.below(n - 2 - es);
    bytes b = good;
    b.insert(b.begin() + long(at), m.begin(), m.end());
    out.push_back(b);
  }
  // The tail of the entropy data zeroed or filled with a copy of earlier data.
  for (std::size_t k = 0; k < 6; ++k) {
    bytes b = good;
    const std::size_t from = es + (n - es) * (k + 3) / 10;
    for (std::size_t i = from; i + 2 < n; ++i) b[i] = k % 2 ? b[es + (i - from) % (from - es)] : std::byte{0};
    out.push_back(b);
  }
  return out;
}

// --- the comparison ---

struct outcome {
  bool ok = false;
  int id = 0;
  std::string what;
  wds::jpeg_region_image r;
};

outcome run(wds::jpeg_decoder& d, const bytes& b, wds::jpeg_region reg, const wds::jpeg_decode_options& opt) {
  outcome o;
  try {
    o.r = d.decode_region(b.data(), b.size(), reg, opt);
    o.ok = true;
  } catch (const wds::decode_error& e) {
    o.id = e.id();
    o.what = e.what();
  }
  return o;
}

bool same_outcome(const outcome& a, const outcome& b) {
  if (a.ok != b.ok) return false;
  if (!a.ok) return a.id == b.id && a.what == b.what;
  const auto& p = a.r.pixels;
  const auto& q = b.r.pixels;
  return a.r.x == b.r.x && a.r.y == b.r.y && p.width() == q.width() && p.height() == q.height() &&
         p.channels() == q.channels() && p.mode() == q.mode() &&
         (p.empty() || std::memcmp(p.data(), q.data(), p.size()) == 0);
}

struct tally {
  int variants = 0, cases = 0, scanned = 0, ok = 0, failed = 0;
};

// Every variant of `good`, with regions in turn (centred like the ETL's
// CenterCrop, the top third, the last rows, a small window), in RGB and in
// the file's mode, and strict for a quarter; fast and full decoders are each
// reused across variants.
void compare_all(const char* name, const bytes& good, std::uint64_t seed, std::size_t budget, tally& t) {
  wds::jpeg_decoder fast, full;
  wds::detail::jpeg_decoder_testing::force_full_rest_check(full, true);
  const auto info = fast.read_info(good.data(), good.size());
  const int W = info.width, H = info.height;
  const wds::jpeg_region regions[] = {{W / 4, H / 4, W / 2 + 1, H / 2},
                                      {0, 0, W, std::max(1, H / 3)},
                                      {0, std::max(0, H - 3), W, 3},
                                      {W / 3, H / 5, 9, 7}};
  const auto all = variants(good, seed, budget);
  const bool thin = std::getenv("WDS_RUNNING_UNDER_VALGRIND") != nullptr;  // tests/valgrind.sh
  for (std::size_t v = 0; v < all.size(); ++v) {
    if (thin && v % 7 != 0) continue;
    ++t.variants;
    for (int pass = 0; pass < 3; ++pass) {
      if (pass == 2 && v % 4 != 0) continue;
      wds::jpeg_decode_options opt;
      opt.check_rest = true;
      if (pass == 0) opt.mode = wds::pixel_mode::rgb;
      opt.strict = pass == 2;  // corrupt data below the region is error 403 here
      const wds::jpeg_region reg = regions[(v + std::size_t(pass)) % 4];
      const outcome a = run(fast, all[v], reg, opt);
      const bool scanned = wds::detail::jpeg_decoder_testing::rest_scanned(fast);
      const outcome b = run(full, all[v], reg, opt);
      CHECK_FALSE(wds::detail::jpeg_decoder_testing::rest_scanned(full));
      INFO(name << " variant " << v << " (" << all[v].size() << " bytes) pass " << pass << " region " << reg.x << ","
                << reg.y << " " << reg.width << "x" << reg.height << ": scan " << (a.ok ? "ok" : a.what) << ", full "
                << (b.ok ? "ok" : b.what));
      CHECK(same_outcome(a, b));
      ++t.cases;
      t.scanned += scanned ? 1 : 0;
      t.ok += b.ok ? 1 : 0;
      t.failed += b.ok ? 0 : 1;
      if (scanned) CHECK(a.ok);
    }
  }
}

}  // namespace

TEST_CASE("jpeg: check_rest's EOI scan ends as the full check does", "[jpeg][region][rest]") {
  tally t;
  std::uint64_t seed = 0x9E3779B97F4A7C15ull;
  const char* files[] = {"photo_q75_420.jpg", "photo_q90_444.jpg", "photo_q85_422.jpg", "photo_prog.jpg",
                         "photo_opt.jpg",     "gray_q75.jpg",      "cmyk.jpg",          "odd_17x9.jpg",
                         "coffee_q60_422.jpg", "chelsea_q95.jpg",  "tiny_1x1.jpg"};
  for (const char* f : files) compare_all(f, data_file(f), seed++, 320, t);
  const layout layouts[] = {layout::restart_1, layout::restart_3, layout::restart_rows,
                            layout::arithmetic, layout::progressive, layout::scan_per_component};
  const char* layout_names[] = {"restart_1", "restart_3", "restart_rows", "arithmetic", "progressive", "scan_per_component"};
  for (const char* f : {"photo_q75_420.jpg", "chelsea_q95.jpg", "gray_q75.jpg"}) {
    for (std::size_t l = 0; l < 6; ++l) {
      const bytes b = transcode(data_file(f), layouts[l]);
      REQUIRE_FALSE(b.empty());
      compare_all((std::string(f) + " " + layout_names[l]).c_str(), b, seed++, 240, t);
    }
  }
  // A photo of the ETL's size, with and without restart markers.
  const bytes rocket = data_file("rocket.jpg");
  compare_all("rocket.jpg", rocket, seed++, 120, t);
  compare_all("rocket.jpg restart_rows", transcode(rocket, layout::restart_rows), seed++, 80, t);
  INFO(t.variants << " variants, " << t.cases << " cases, " << t.scanned << " ended by the scan, " << t.ok << " decoded, " << t.failed << " failed");
  const bool thin = std::getenv("WDS_RUNNING_UNDER_VALGRIND") != nullptr;
  CHECK(t.cases > (thin ? 900 : 8000));
  // Not a vacuous comparison: the scan decides many cases, and both outcomes occur.
  CHECK(t.scanned > t.cases / 5);
  CHECK(t.failed > t.cases / 10);
  WARN(t.variants << " variants, " << t.cases << " cases, " << t.scanned << " ended by the scan, " << t.ok << " decoded, " << t.failed << " failed");
}

TEST_CASE("jpeg: check_rest's EOI scan is taken only where it is exact", "[jpeg][region][rest]") {
  using testing = wds::detail::jpeg_decoder_testing;
  wds::jpeg_decoder dec;
  wds::jpeg_decode_options opt;
  opt.check_rest = true;
  const wds::jpeg_region top{0, 0, 16, 8};
  const bytes good = data_file("photo_q75_420.jpg");
  // A whole baseline file: the scan, and the pixels of the region.
  const auto r = dec.decode_region(good.data(), good.size(), top, opt);
  CHECK(testing::rest_scanned(dec));
  CHECK(r.pixels.width() == 16);
  // Strict mode must see corrupt data below the region: the full check.
  wds::jpeg_decode_options strict = opt;
  strict.strict = true;
  (void)dec.decode_region(good.data(), good.size(), top, strict);
  CHECK_FALSE(testing::rest_scanned(dec));
  const bytes bad = data_file("corrupt_base_0.jpg");
  CHECK_THROWS_AS(dec.decode_region(bad.data(), bad.size(), top, strict), wds::decode_error);
  // Multi-scan files were read to EOI by jpeg_start_decompress: the full check.
  const bytes prog = data_file("photo_prog.jpg");
  (void)dec.decode_region(prog.data(), prog.size(), top, opt);
  CHECK_FALSE(testing::rest_scanned(dec));
  // A second SOS before EOI: not EOI next, so the full check, which refuses it.
  bytes two = good;
  const bytes sos = with({0xFF, 0xDA, 0x00, 0x02});
  two.insert(two.end() - 2, sos.begin(), sos.end());
  CHECK_THROWS_AS(dec.decode_region(two.data(), two.size(), top, opt), wds::decode_error);
  CHECK_FALSE(testing::rest_scanned(dec));
  // Truncated: the full check's error 402.
  const bytes cut(good.begin(), good.end() - 40);
  try {
    (void)dec.decode_region(cut.data(), cut.size(), top, opt);
    FAIL("decoded a truncated file");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 402);
  }
  // Without check_rest nothing is checked below the region.
  opt.check_rest = false;
  (void)dec.decode_region(cut.data(), cut.size(), top, opt);
  CHECK_FALSE(testing::rest_scanned(dec));
}

TEST_CASE("jpeg: the EOI scan reads markers as libjpeg does", "[jpeg][rest]") {
  auto eoi_next = [](const bytes& b) {
    const auto* p = reinterpret_cast<const unsigned char*>(b.data());
    return wds::detail::jpeg_eoi_is_next(p, p + b.size());
  };
  CHECK(eoi_next(with({0xFF, 0xD9})));
  CHECK(eoi_next(with({0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD9, 0xFF, 0xDA})));
  CHECK(eoi_next(with({0xFF, 0xFF, 0x00, 0xFF, 0xD9})));  // FF FF 00 is a data byte
  CHECK_FALSE(eoi_next({}));
  CHECK_FALSE(eoi_next(with({0x12, 0x34})));
  CHECK_FALSE(eoi_next(with({0xFF})));
  CHECK_FALSE(eoi_next(with({0xFF, 0xFF})));
  CHECK_FALSE(eoi_next(with({0x00, 0xFF, 0xC4, 0xFF, 0xD9})));
  CHECK_FALSE(eoi_next(with({0xFF, 0xDA, 0xFF, 0xD9})));
  CHECK_FALSE(eoi_next(with({0xFF, 0x01, 0xFF, 0xD9})));
  CHECK_FALSE(eoi_next(with({0xFF, 0xDC, 0xFF, 0xD9})));
}

TEST_CASE("jpeg: rows libjpeg would store non-temporally go through the scratch row", "[jpeg][region]") {
  // Widths whose rows start at every alignment (RGB rows of 3 * 32 bytes all
  // share the buffer's): the pixels equal the plain decode's either way.
  wds::jpeg_decoder dec;
  wds::jpeg_encoder enc;
  for (int w : {32, 64, 96, 33, 50, 200}) {
    wds::image<std::uint8_t> src(w, 40, 3);
    for (int y = 0; y < 40; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) src(x, y, c) = std::uint8_t((x * 7 + y * 13 + c * 50) & 0xFF);
    const auto file = enc.encode(src.view(), {});
    wds::jpeg_decode_options rgb;
    rgb.mode = wds::pixel_mode::rgb;
    const auto full = dec.decode(file.data(), file.size(), rgb);
    REQUIRE(full.width() == w);
    for (const wds::jpeg_region reg : {wds::jpeg_region{0, 0, w, 40}, wds::jpeg_region{0, 5, w, 30},
                                       wds::jpeg_region{3, 5, w - 6, 30}}) {
      const auto r = dec.decode_region(file.data(), file.size(), reg, rgb);
      REQUIRE(r.pixels.width() == reg.width);
      for (int y = 0; y < reg.height; ++y)
        CHECK(std::memcmp(r.pixels.row(y), full.row(reg.y + y) + reg.x * 3, std::size_t(reg.width) * 3) == 0);
    }
  }
}

#endif  // WDS_HAS_JPEG
