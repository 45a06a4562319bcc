// The PNG decoder's whole-stream path (one inflate per IDAT chunk, AVX2
// Adler-32, our own unfilter) against libspng's row-at-a-time path on a
// corpus of valid and corrupted variants: the same pixels, or the same error
// (id and message), every time. Pillow parity itself is checked elsewhere
// (test_png_chunks.cpp, tests/diff); this keeps the fast path from changing
// any decision the libspng path makes.
#include "wds/config.hpp"

#include "catch.hpp"

#if WDS_HAS_PNG && WDS_HAS_ZLIB

#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <zlib.h>

#include "support.hpp"
#include "wds/codec/png.hpp"

namespace {

using bytes_t = std::vector<std::uint8_t>;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
void put32(bytes_t& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(std::uint8_t(x >> s));
}
void put_chunk(bytes_t& v, const char* id, const std::uint8_t* d, std::size_t n) {
  put32(v, std::uint32_t(n));
  v.insert(v.end(), id, id + 4);
  if (n) v.insert(v.end(), d, d + n);
  std::uint32_t c = std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(id), 4));
  if (n) c = std::uint32_t(crc32(c, d, uInt(n)));
  put32(v, c);
}

// A PNG split into what comes before the IDAT run, the zlib stream (all IDAT
// data), and what follows the run.
struct parts {
  bytes_t head, stream, tail;
  std::uint32_t width = 0, height = 0;
  int depth = 0, color = 0;
  bool interlaced = false;
};

bool split(const bytes_t& f, parts& out) {
  if (f.size() < 33) return false;
  std::size_t pos = 8;
  while (pos + 12 <= f.size()) {
    const std::size_t n = be32(&f[pos]);
    if (n > f.size() - pos - 12) return false;
    if (std::memcmp(&f[pos + 4], "IHDR", 4) == 0 && n == 13) {
      out.width = be32(&f[pos + 8]);
      out.height = be32(&f[pos + 12]);
      out.depth = f[pos + 16];
      out.color = f[pos + 17];
      out.interlaced = f[pos + 20] != 0;
    }
    if (std::memcmp(&f[pos + 4], "IDAT", 4) == 0) break;
    pos += 12 + n;
  }
  if (pos + 12 > f.size()) return false;
  out.head.assign(f.begin(), f.begin() + std::ptrdiff_t(pos));
  while (pos + 12 <= f.size() && std::memcmp(&f[pos + 4], "IDAT", 4) == 0) {
    const std::size_t n = be32(&f[pos]);
    if (n > f.size() - pos - 12) return false;
    out.stream.insert(out.stream.end(), f.begin() + std::ptrdiff_t(pos + 8), f.begin() + std::ptrdiff_t(pos + 8 + n));
    pos += 12 + n;
  }
  out.tail.assign(f.begin() + std::ptrdiff_t(pos), f.end());
  return true;
}

// head + the stream in IDAT chunks cut at `cuts` (offsets into the stream;
// equal offsets give empty chunks) + tail.
bytes_t join(const parts& p, const bytes_t& stream, std::vector<std::size_t> cuts = {}) {
  bytes_t f = p.head;
  std::size_t at = 0;
  cuts.push_back(stream.size());
  for (std::size_t c : cuts) {
    c = std::min(std::max(c, at), stream.size());
    put_chunk(f, "IDAT", stream.data() + at, c - at);
    at = c;
  }
  f.insert(f.end(), p.tail.begin(), p.tail.end());
  return f;
}

bytes_t deflate_all(const bytes_t& raw, int level) {
  uLongf n = compressBound(uLong(raw.size()));
  bytes_t out(n);
  REQUIRE(compress2(out.data(), &n, raw.data(), uLong(raw.size()), level) == Z_OK);
  out.resize(n);
  return out;
}

// The filtered rows (filter byte first) of a non-interlaced PNG's stream.
bool inflate_rows(const parts& p, std::size_t row_len, bytes_t& rows) {
  rows.assign((row_len + 1) * p.height, 0);
  uLongf n = uLongf(rows.size());
  return uncompress(rows.data(), &n, p.stream.data(), uLong(p.stream.size())) == Z_OK && n == rows.size();
}

int paeth(int a, int b, int c) {
  const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
  return (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
}

// Re-filters unfiltered rows with filter type type_of(y) (5 and up are written as is).
template <class F>
bytes_t refilter(const bytes_t& raw, std::size_t rows, std::size_t row_len, std::size_t bpp, F type_of) {
  bytes_t out;
  const bytes_t zero(row_len, 0);
  for (std::size_t y = 0; y < rows; ++y) {
    const std::uint8_t* r = &raw[y * row_len];
    const std::uint8_t* up = y ? &raw[(y - 1) * row_len] : zero.data();
    const int t = type_of(y);
    out.push_back(std::uint8_t(t));
    for (std::size_t i = 0; i < row_len; ++i) {
      const int a = i >= bpp ? r[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
      const int pred = t == 1 ? a : t == 2 ? b : t == 3 ? (a + b) / 2 : t == 4 ? paeth(a, b, c) : 0;
      out.push_back(std::uint8_t(r[i] - pred));
    }
  }
  return out;
}

struct outcome {
  bool ok = false;
  int id = 0;
  std::string what;
  std::string pixels;
  int w = 0, h = 0, ch = 0, mode = -1;
  std::string comment;
  int key = -1;
};

outcome decode(wds::png_decoder& dec, const bytes_t& f) {
  outcome o;
  try {
    const wds::any_image im = dec.decode(reinterpret_cast<const std::byte*>(f.data()), f.size());
    std::visit(
        [&](const auto& img) {
          using T = typename std::decay_t<decltype(img)>::value_type;
          o.w = img.width();
          o.h = img.height();
          o.ch = img.channels();
          o.mode = int(img.mode());
          for (int y = 0; y < img.height(); ++y)
            o.pixels.append(reinterpret_cast<const char*>(img.row(y)), std::size_t(img.width() * img.channels()) * sizeof(T));
        },
        im);
    o.ok = true;
    o.comment = dec.comment().value_or("<none>");
    if (dec.transparency()) o.key = int(dec.transparency()->k) * 1000000 + dec.transparency()->v[0];
  } catch (const wds::error& e) {
    o.id = e.id();
    o.what = e.what();
  }
  return o;
}

std::vector<std::string> png_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(wds_test::data_path(dir).c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".png") == 0) out.push_back(dir + "/" + n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bytes_t to_vec(const std::vector<std::byte>& b) {
  bytes_t v(b.size());
  if (!b.empty()) std::memcpy(v.data(), b.data(), b.size());
  return v;
}

// A trimap-like mask (values 1-3, blobs and edges) and a textured RGB image,
// encoded with both of our writers (adaptive filters and "up" + Z_RLE).
std::vector<bytes_t> generated() {
  std::vector<bytes_t> out;
  wds::image<std::uint8_t> mask(173, 131, 1), rgb(97, 61, 3), la(33, 29, 2);
  std::mt19937 rng(7);
  for (int y = 0; y < mask.height(); ++y)
    for (int x = 0; x < mask.width(); ++x) {
      const int dx = x - 80, dy = y - 60, r2 = dx * dx + dy * dy;
      mask.row(y)[x] = std::uint8_t(r2 < 1600 ? 1 : r2 < 2000 ? 3 : 2);
    }
  for (int y = 0; y < rgb.height(); ++y)
    for (int x = 0; x < rgb.width() * 3; ++x) rgb.row(y)[x] = std::uint8_t((x * 7 + y * 3) ^ int(rng() & 15));
  for (int y = 0; y < la.height(); ++y)
    for (int x = 0; x < la.width() * 2; ++x) la.row(y)[x] = std::uint8_t(rng());
  for (const auto* im : {&mask, &rgb, &la})
    for (bool fast : {false, true}) {
      wds::png_options o;
      o.fast = fast;
      out.push_back(to_vec(wds::encode_png(im->view(), o)));
    }
  return out;
}

}  // namespace

TEST_CASE("png whole-stream inflate: Adler-32 as zlib's", "[png][inflate]") {
  std::mt19937 rng(42);
  bytes_t buf(300000);
  for (auto& b : buf) b = std::uint8_t(rng());
  std::vector<std::size_t> lens;
  for (std::size_t n = 0; n < 80; ++n) lens.push_back(n);
  for (std::size_t n : {5535u, 5536u, 5537u, 5552u, 5553u, 5568u, 11071u, 11072u, 11104u, 65536u, 299999u}) lens.push_back(n);
  int checked = 0;
  for (std::size_t off : {0u, 1u, 13u, 31u})
    for (std::size_t n : lens) {
      if (off + n > buf.size()) continue;
      const auto want = std::uint32_t(adler32(1, buf.data() + off, uInt(n)));
      INFO("offset " << off << " length " << n);
      CHECK(wds::detail::png_adler32(buf.data() + off, n, true) == want);
      CHECK(wds::detail::png_adler32(buf.data() + off, n, false) == want);
      ++checked;
    }
  // All 0xFF: the largest sums, where a block too long would overflow 32 bits.
  const bytes_t ff(1 << 20, 0xFF);
  for (std::size_t n : {std::size_t(5536), std::size_t(5537), std::size_t(200000), std::size_t(1) << 20})
    CHECK(wds::detail::png_adler32(ff.data(), n, true) == std::uint32_t(adler32(1, ff.data(), uInt(n))));
  CHECK(checked > 300);
}

TEST_CASE("png whole-stream inflate: same outcome as libspng's row-at-a-time path", "[png][inflate]") {
  wds::png_decoder fast, fast_scalar, ref;
  fast_scalar.set_inflate(true, false);
  ref.set_inflate(false);
  int cases = 0, ok = 0, took_fast = 0, refused = 0;
  std::array<int, 5> filters_seen{};
  const auto check = [&](const bytes_t& f, const std::string& what) {
    const outcome a = decode(fast, f);
    const bool used = fast.whole_stream_used();
    const outcome s = decode(fast_scalar, f);
    const outcome b = decode(ref, f);
    CHECK_FALSE(ref.whole_stream_used());
    ++cases;
    ok += b.ok;
    refused += !b.ok;
    took_fast += used;
    INFO(what);
    CHECK(a.ok == b.ok);
    CHECK(a.id == b.id);
    CHECK(a.what == b.what);
    CHECK(a.w == b.w);
    CHECK(a.h == b.h);
    CHECK(a.ch == b.ch);
    CHECK(a.mode == b.mode);
    CHECK(a.pixels == b.pixels);
    CHECK(a.comment == b.comment);
    CHECK(a.key == b.key);
    CHECK(s.ok == b.ok);
    CHECK(s.what == b.what);
    CHECK(s.pixels == b.pixels);
  };

  std::vector<std::pair<std::string, bytes_t>> sources;
  for (const auto& name : png_files("codecs")) sources.push_back({name, to_vec(wds_test::read_file(wds_test::data_path(name)))});
  int g = 0;
  for (auto& f : generated()) sources.push_back({"generated " + std::to_string(g++), std::move(f)});
  REQUIRE(sources.size() >= 30);

  std::mt19937 rng(2026);
  for (const auto& [name, file] : sources) {
    check(file, name);
    parts p;
    if (!split(file, p) || p.stream.size() < 8) continue;
    const bytes_t& z = p.stream;
    const std::size_t zn = z.size();
    // Chunkings of the same stream, empty chunks, the Adler-32 trailer split.
    for (std::size_t piece : {1u, 2u, 3u, 7u, 64u, 4096u}) {
      std::vector<std::size_t> cuts;
      for (std::size_t c = piece; c < zn; c += piece) cuts.push_back(c);
      check(join(p, z, cuts), name + " pieces of " + std::to_string(piece));
    }
    check(join(p, z, {0}), name + " empty first IDAT");
    check(join(p, z, {zn / 2, zn / 2}), name + " empty middle IDAT");
    check(join(p, z, {zn}), name + " empty last IDAT");
    for (std::size_t back = 1; back <= 6; ++back) check(join(p, z, {zn - back}), name + " split " + std::to_string(back) + " from the end");
    // Wrong Adler-32, whole or split; data after the stream.
    for (std::size_t k = 1; k <= 4; ++k) {
      bytes_t bad = z;
      bad[zn - k] ^= 0x10;
      check(join(p, bad), name + " adler byte " + std::to_string(k));
      check(join(p, bad, {zn - 4}), name + " adler byte " + std::to_string(k) + " in its own IDAT");
    }
    {
      bytes_t junk = z;
      for (int i = 0; i < 5; ++i) junk.push_back(std::uint8_t(0xA5 + i));
      check(join(p, junk), name + " junk after the stream");
      check(join(p, junk, {zn}), name + " junk in a later IDAT");
    }
    // The stream cut (whole chunks, so not a clipped file), and the file cut.
    for (int i = 1; i <= 24; ++i) {
      const std::size_t n = zn * std::size_t(i) / 25;
      check(join(p, bytes_t(z.begin(), z.begin() + std::ptrdiff_t(n))), name + " stream cut at " + std::to_string(n));
    }
    for (std::size_t back = 1; back <= 8; ++back)
      check(join(p, bytes_t(z.begin(), z.end() - std::ptrdiff_t(back))), name + " stream minus " + std::to_string(back));
    for (int i = 0; i < 12; ++i) {
      const std::size_t n = p.head.size() + (zn + 12) * std::size_t(i) / 12;
      check(bytes_t(file.begin(), file.begin() + std::ptrdiff_t(std::min(n, file.size()))), name + " file cut at " + std::to_string(n));
    }
    for (std::size_t back = 1; back <= 16 && back < file.size(); ++back)
      check(bytes_t(file.begin(), file.end() - std::ptrdiff_t(back)), name + " file minus " + std::to_string(back));
    // Bit flips: CRCs fixed (the stream decides) and not (libspng retries).
    for (int i = 0; i < 24; ++i) {
      bytes_t bad = z;
      const std::size_t at = rng() % zn;
      bad[at] ^= std::uint8_t(1u << (rng() % 8));
      check(join(p, bad), name + " flip at " + std::to_string(at));
      if (i % 3 == 0) {
        bytes_t raw = file;
        raw[p.head.size() + 8 + at] ^= 0x04;
        check(raw, name + " flip, CRC left at " + std::to_string(at));
      }
    }
    // zlib headers: every window size, a preset dictionary, other methods, bad check bits.
    for (int cinfo = 0; cinfo <= 8; ++cinfo)
      for (int fdict : {0, 1}) {
        bytes_t hz = z;
        hz[0] = std::uint8_t((cinfo << 4) | 8);
        hz[1] = std::uint8_t((hz[1] & 0xC0) | (fdict << 5));
        hz[1] = std::uint8_t(hz[1] + (31 - ((hz[0] << 8) | hz[1]) % 31) % 31);
        check(join(p, hz), name + " zlib header cinfo " + std::to_string(cinfo) + " fdict " + std::to_string(fdict));
      }
    {
      bytes_t hz = z;
      hz[0] = std::uint8_t((hz[0] & 0xF0) | 7);
      check(join(p, hz), name + " zlib method 7");
      hz = z;
      hz[1] ^= 1;
      check(join(p, hz), name + " zlib check bits");
    }
    // Re-filtered with each filter type and a mix (all five, and one invalid
    // row), stored, fast and default deflate; one byte more or less of data.
    const std::size_t samples = std::size_t(wds::detail::png_samples(p.color));
    const std::size_t row_len = (std::size_t(p.width) * samples * std::size_t(p.depth) + 7) / 8;
    const std::size_t bpp = std::max<std::size_t>(1, samples * std::size_t(p.depth) / 8);
    bytes_t rows;
    if (p.interlaced || p.depth > 8 || row_len == 0 || (row_len + 1) * p.height > (std::size_t(1) << 24) ||
        !inflate_rows(p, row_len, rows))
      continue;
    for (std::size_t y = 0; y < p.height; ++y)
      if (rows[y * (row_len + 1)] < 5) ++filters_seen[rows[y * (row_len + 1)]];
    bytes_t raw(row_len * p.height);
    std::vector<std::uint8_t> zero;
    if (!wds::detail::png_unfilter(rows.data(), p.height, row_len, bpp, raw.data(), zero)) continue;
    for (int t = 0; t <= 6; ++t) {
      const auto type_of = [&](std::size_t y) {
        return t < 5 ? t : t == 5 ? int((y * 7 + 3) % 5) : (y == p.height / 2 ? 5 : int(y % 5));
      };
      const bytes_t fr = refilter(raw, p.height, row_len, bpp, type_of);
      for (int level : {0, 1, 6}) check(join(p, deflate_all(fr, level)), name + " filter " + std::to_string(t) + " level " + std::to_string(level));
      if (t == 5) {
        bytes_t more = fr;
        more.push_back(0);
        check(join(p, deflate_all(more, 6)), name + " one byte too many");
        check(join(p, deflate_all(bytes_t(fr.begin(), fr.end() - 1), 6)), name + " one byte short");
      }
    }
  }
  // The pngchunks corpus (crafted around Pillow's chunk rules) as it is.
  for (const auto& name : png_files("pngchunks")) check(to_vec(wds_test::read_file(wds_test::data_path(name))), name);

  INFO(cases << " cases, " << ok << " decoded, " << refused << " refused, " << took_fast << " by the whole-stream path");
  CHECK(cases > 4000);
  CHECK(took_fast > 1000);
  CHECK(refused > 1000);
  for (int t = 0; t < 5; ++t) CHECK(filters_seen[std::size_t(t)] > 0);
}

#endif
