// SPDX-License-Identifier: MIT
#pragma once

// PNG decode/encode through libspng, with Pillow 9.4's mode rules: what
// Image.open(f) gives (1-bit -> L 0/255, 2/4-bit gray scaled to 8 bits,
// 16-bit gray -> I, 16-bit RGB(A)/LA keep the high byte, palette -> RGB or
// RGBA) and what .convert(mode) gives from there, transparency keys included.

#include "wds/config.hpp"

#if !WDS_HAS_PNG
#error "wds/codec/png.hpp needs libspng: define WDS_HAS_PNG=1 and link -lspng (CMake: link wds::wds with WDS_WITH_PNG=AUTO|ON)"
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spng.h>
#if WDS_HAS_ZLIB
#include <zlib.h>
#if WDS_HAS_LIBDEFLATE
#include <libdeflate.h>
#endif
#if WDS_X86_AVX2
#include <immintrin.h>
#endif
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "wds/convert.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/limits.hpp"


WDS_NAMESPACE_BEGIN

// What the PNG header says, and the mode Pillow opens it as (after our
// mapping of "1" to L and "P" to RGB, or RGBA when there is a tRNS chunk).
struct png_info {
  int width = 0;
  int height = 0;
  int bit_depth = 0;
  int color_type = 0;       // PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  bool interlaced = false;
  bool has_trns = false;
  pixel_mode mode = pixel_mode::l;  // native decode mode: L, LA, RGB, RGBA or I
};

struct png_options {
  int compression_level = 6;  // zlib level 0..9 (Pillow's default is zlib's 6)
  // Speed first: every row "up"-filtered, then zlib's run-length strategy
  // (Z_RLE) for rows that are mostly runs (masks, label maps) and, with
  // WDS_HAS_LIBDEFLATE, libdeflate's level 1 for the rest (photos), instead
  // of libspng's per-row choice among all five filters and zlib's default
  // strategy. Same pixels; compression_level only matters at 0 (stored). On a
  // 500x375 mask and photo: faster and smaller than OpenCV's imencode.
  bool fast = false;
  // Written as tRNS as Pillow's PNG writer does with info["transparency"]: a
  // gray key for 1-channel images, an RGB key for 3-channel ones (a key
  // outside the bit depth's range, which only a corrupt source gives, is left out).
  std::optional<color_key> transparency;
};

namespace detail {

struct spng_ctx_deleter {
  void operator()(spng_ctx* c) const noexcept { spng_ctx_free(c); }
};
using spng_ctx_ptr = std::unique_ptr<spng_ctx, spng_ctx_deleter>;

[[noreturn]] inline void throw_png(int err, const location& where, const char* during) {
  int id = 431;
  if (err == SPNG_ESIGNATURE) id = 430;
  else if (err == SPNG_IO_EOF || err == SPNG_EOF || err == SPNG_EIDAT_TOO_SHORT || err == SPNG_IO_ERROR) id = 432;
  else if (err == SPNG_EBIT_DEPTH || err == SPNG_ECOLOR_TYPE || err == SPNG_EINTERLACE_METHOD ||
           err == SPNG_ECOMPRESSION_METHOD || err == SPNG_EFILTER_METHOD) id = 433;
  std::string reason = id == 432 ? "truncated PNG (" : id == 433 ? "unsupported PNG (" : id == 430 ? "not a PNG (" : "corrupt PNG (";
  reason.append(during).append("): ").append(spng_strerror(err));
  if (err == SPNG_ECHUNK_LIMITS || err == SPNG_EUSER_WIDTH || err == SPNG_EUSER_HEIGHT)
    throw limit_error(506, where, "PNG exceeds a limit (" + std::string(during) + "): " + spng_strerror(err));
  throw decode_error(id, where, reason);
}

// Samples per pixel of a PNG colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA).
inline constexpr int png_samples(int color_type) noexcept {
  return color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 1;
}
// The colour type written for an image of 1-4 channels.
inline constexpr std::uint8_t png_color_type(int channels) noexcept {
  return std::uint8_t(channels == 1 ? 0 : channels == 2 ? 4 : channels == 3 ? 2 : 6);
}

inline pixel_mode png_native_mode(const spng_ihdr& h, bool trns) noexcept {
  switch (h.color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE: return h.bit_depth == 16 ? pixel_mode::i : pixel_mode::l;
    case SPNG_COLOR_TYPE_TRUECOLOR: return pixel_mode::rgb;
    case SPNG_COLOR_TYPE_INDEXED: return trns ? pixel_mode::rgba : pixel_mode::rgb;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return h.bit_depth == 16 ? pixel_mode::rgba : pixel_mode::la;  // Pillow: LA;16B -> RGBA
    default: return pixel_mode::rgba;
  }
}

}  // namespace detail

namespace detail {

// CRC-32 of PNG chunks (ISO 3309, as zlib's crc32), without needing zlib.
inline std::uint32_t png_crc32(std::uint32_t crc, const std::uint8_t* p, std::size_t n) noexcept {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

inline std::uint32_t png_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// The pieces libspng reads one after the other (see png_decoder::open).
struct png_stream {
  const std::uint8_t* seg[3];
  std::size_t len[3];
  int i;
  std::size_t off;
};

extern "C" {
inline int wds_png_read(spng_ctx*, void* user, void* dest, size_t length) {
  auto* s = static_cast<png_stream*>(user);
  auto* out = static_cast<std::uint8_t*>(dest);
  while (length > 0) {
    if (s->i >= 3) return SPNG_IO_EOF;
    const std::size_t n = std::min(length, s->len[s->i] - s->off);
    if (n) std::memcpy(out, s->seg[s->i] + s->off, n);
    out += n;
    length -= n;
    s->off += n;
    if (s->off == s->len[s->i]) {
      ++s->i;
      s->off = 0;
    }
  }
  return 0;
}
}

// What Pillow 9.4's PngImagePlugin reads from a file: the chunks before the
// first IDAT (PngImageFile._open), the run of IDAT chunks the zip decoder
// reads (load_read) and the chunks after it (load_end).
struct png_layout {
  std::uint32_t width = 0, height = 0;
  std::uint8_t bit_depth = 0, color_type = 0;
  bool interlaced = false;
  bool has_ihdr = false;
  bool has_plte = false;  // only a PLTE seen after the IHDR of a palette image counts
  std::string plte;
  bool has_trns = false;  // tRNS of a palette image (any length), or a gray/RGB key
  std::string trns;
  std::optional<std::string> comment;  // info["comment"] (UTF-8, as Pillow's JPEG save encodes it)
  std::size_t idat_begin = 0, idat_end = 0;  // byte range of the IDAT run, chunk headers included
  bool idat_clipped = false;                 // the file ends inside the last IDAT or its CRC
  std::size_t after_idat = 0;                // where load_end starts reading chunks
  std::size_t text_memory = 0;
};

// Latin-1 (tEXt, zTXt) to UTF-8, the bytes Pillow's JPEG save writes for a str.
inline std::string png_latin1_to_utf8(const std::uint8_t* p, std::size_t n) {
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] < 0x80) {
      out += char(p[i]);
    } else {
      out += char(0xC0 | (p[i] >> 6));
      out += char(0x80 | (p[i] & 0x3F));
    }
  }
  return out;
}

// Python's bytes.decode("utf-8", "strict") succeeds (no surrogates, no overlongs).
inline bool png_valid_utf8(const std::uint8_t* p, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = p[i];
    if (c < 0x80) { ++i; continue; }
    int len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (i + std::size_t(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + std::size_t(k)] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + std::size_t(k)] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += std::size_t(len);
  }
  return true;
}

enum class png_text_result { ok, skip, too_large };

// Pillow's _safe_zlib_decompress: at most 1 MiB of output (more raises
// "Decompressed Data Too Large"); corrupt or truncated zlib data gives what
// zlib produced before the error (zlib.error -> b"" in the caller, see below).
inline png_text_result png_inflate_text(const std::uint8_t* p, std::size_t n, std::string& out) {
#if WDS_HAS_ZLIB
  constexpr std::size_t max_text = std::size_t{1} << 20;  // ImageFile.SAFEBLOCK
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw std::bad_alloc();
  out.assign(max_text + 1, '\0');
  zs.next_in = const_cast<Bytef*>(p);
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(n, 0xFFFFFFFFu));
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(max_text);
  const int r = inflate(&zs, Z_SYNC_FLUSH);
  const std::size_t produced = max_text - zs.avail_out;
  // Output full while input remains: Python's unconsumed_tail is non-empty.
  bool tail = zs.avail_out == 0 && zs.avail_in > 0 && r != Z_STREAM_END;
  if (tail) {  // zlib may have stopped exactly at the end of the stream
    unsigned char probe[1];
    zs.next_out = probe;
    zs.avail_out = 1;
    const int r2 = inflate(&zs, Z_SYNC_FLUSH);
    tail = !(r2 == Z_STREAM_END && zs.avail_out == 1) && r2 != Z_DATA_ERROR;
    if (r2 == Z_DATA_ERROR) { inflateEnd(&zs); out.clear(); return png_text_result::skip; }
  }
  inflateEnd(&zs);
  if (tail) return png_text_result::too_large;
  if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_MEM_ERROR || r == Z_STREAM_ERROR) {
    out.clear();
    return png_text_result::skip;  // zlib.error
  }
  out.resize(produced);
  return png_text_result::ok;
#else
  (void)p;
  (void)n;
  out.clear();
  return png_text_result::skip;  // no zlib in this build: compressed text is not read
#endif
}

[[noreturn]] inline void png_refuse(int id, const location& where, const std::string& why) {
  throw decode_error(id, where, why);
}

// One chunk handler of Pillow's PngStream (the ones whose content matters:
// refusals, the palette, transparency and text). `open` is true before IDAT.
inline void png_handle_chunk(png_layout& L, const char* cid, const std::uint8_t* s, std::size_t n,
                             bool open, const location& where) {
  auto refuse = [&](const std::string& why) {
    png_refuse(431, where, std::string("corrupt PNG (") + cid + " chunk): " + why +
                               (open ? " (Pillow: cannot identify image file)" : ""));
  };
  auto text = [&](std::size_t chars) {
    L.text_memory += chars;
    if (L.text_memory > (std::size_t{64} << 20)) refuse("more than 64 MiB of text chunks (Pillow's MAX_TEXT_MEMORY)");
  };
  const std::string id(cid, 4);
  if (id == "IHDR") {
    if (n < 13) refuse("IHDR shorter than 13 bytes");
    L.width = png_be32(s);
    L.height = png_be32(s + 4);
    L.bit_depth = s[8];
    L.color_type = s[9];
    L.interlaced = s[12] != 0;
    L.has_ihdr = true;
    if (s[11]) refuse("unknown filter method");
  } else if (id == "PLTE") {
    if (L.has_ihdr && L.color_type == 3 && L.bit_depth <= 8) {
      L.has_plte = true;
      L.plte.assign(reinterpret_cast<const char*>(s), n);
    }
  } else if (id == "tRNS") {
    if (!L.has_ihdr) return;
    const bool pal = L.color_type == 3 && L.bit_depth <= 8;
    if (pal) {
      L.has_trns = true;
      L.trns.assign(reinterpret_cast<const char*>(s), n);
    } else if (L.color_type == 0 && L.bit_depth <= 16) {  // modes 1, L, I: i16(s)
      if (n < 2) refuse("tRNS shorter than 2 bytes");
      L.has_trns = true;
      L.trns.assign(reinterpret_cast<const char*>(s), 2);
    } else if (L.color_type == 2 && (L.bit_depth == 8 || L.bit_depth == 16)) {
      if (n < 6) refuse("tRNS shorter than 6 bytes");
      L.has_trns = true;
      L.trns.assign(reinterpret_cast<const char*>(s), 6);
    }
  } else if (id == "gAMA") {
    if (n < 4) refuse("gAMA shorter than 4 bytes");
  } else if (id == "cHRM") {
    if (n % 4) refuse("cHRM length not a multiple of 4");
  } else if (id == "sRGB") {
    if (n < 1) refuse("empty sRGB");
  } else if (id == "pHYs") {
    if (n < 9) refuse("pHYs shorter than 9 bytes");
  } else if (id == "iCCP") {
    // Pillow reads the compression method at the NUL itself (always 0), or
    // at the last byte when there is no NUL.
    if (n == 0) refuse("empty iCCP");
    const void* nul = std::memchr(s, 0, n);
    const std::size_t i = nul ? std::size_t(static_cast<const std::uint8_t*>(nul) - s) : n - 1;
    if (!nul && s[n - 1] != 0) refuse("unknown iCCP compression method");
    const std::size_t from = nul ? i + 2 : 1;
    std::string icc;
    if (from <= n && png_inflate_text(s + from, n - from, icc) == png_text_result::too_large)
      refuse("iCCP profile inflates to more than 1 MiB");
  } else if (id == "tEXt") {
    const void* nul = std::memchr(s, 0, n);
    const std::size_t k = nul ? std::size_t(static_cast<const std::uint8_t*>(nul) - s) : n;
    if (k == 0) return;
    const std::size_t vn = nul ? n - k - 1 : 0;
    if (k == 7 && std::memcmp(s, "comment", 7) == 0) L.comment = png_latin1_to_utf8(s + k + 1, vn);
    text(vn);
  } else if (id == "zTXt") {
    const void* nul = std::memchr(s, 0, n);
    const std::size_t k = nul ? std::size_t(static_cast<const std::uint8_t*>(nul) - s) : n;
    const std::uint8_t* v = s + (nul ? k + 1 : n);
    const std::size_t vn = nul ? n - k - 1 : 0;
    if (vn && v[0] != 0) refuse("unknown zTXt compression method");
    std::string plain;
    if (vn > 1 && png_inflate_text(v + 1, vn - 1, plain) == png_text_result::too_large)
      refuse("zTXt inflates to more than 1 MiB");
    if (k == 0) return;
    if (k == 7 && std::memcmp(s, "comment", 7) == 0)
      L.comment = png_latin1_to_utf8(reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size());
    text(plain.size());
  } else if (id == "iTXt") {
    const void* nul = std::memchr(s, 0, n);
    if (!nul) return;
    const std::size_t k = std::size_t(static_cast<const std::uint8_t*>(nul) - s);
    const std::uint8_t* r = s + k + 1;
    std::size_t rn = n - k - 1;
    if (rn < 2) return;
    const int cf = r[0], cm = r[1];
    r += 2;
    rn -= 2;
    const void* n1 = std::memchr(r, 0, rn);
    if (!n1) return;
    const std::size_t l1 = std::size_t(static_cast<const std::uint8_t*>(n1) - r);
    const void* n2 = std::memchr(r + l1 + 1, 0, rn - l1 - 1);
    if (!n2) return;
    const std::size_t l2 = std::size_t(static_cast<const std::uint8_t*>(n2) - (r + l1 + 1));
    const std::uint8_t* v = r + l1 + 1 + l2 + 1;
    const std::size_t vn = rn - l1 - 1 - l2 - 1;
    std::string plain;
    if (cf != 0) {
      if (cm != 0) return;
      const auto res = png_inflate_text(v, vn, plain);
      if (res == png_text_result::too_large) refuse("iTXt inflates to more than 1 MiB");
      if (res == png_text_result::skip) return;
    } else {
      plain.assign(reinterpret_cast<const char*>(v), vn);
    }
    if (!png_valid_utf8(r, l1) || !png_valid_utf8(r + l1 + 1, l2) ||
        !png_valid_utf8(reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size()))
      return;
    if (k == 7 && std::memcmp(s, "comment", 7) == 0) L.comment = plain;
    std::size_t chars = 0;  // len() of the Python str: code points
    for (unsigned char c : plain) chars += (c & 0xC0) != 0x80;
    text(chars);
  } else if (id == "acTL") {
    if (n < 8) refuse("acTL shorter than 8 bytes");
  } else if (id == "fcTL" || id == "fdAT") {
    // Pillow's APNG frame chunks; wds reads the default image only.
    png_refuse(433, where, std::string("unsupported PNG: APNG ") + cid + " chunk");
  }
}

// Walks the file as Pillow's PngImageFile._open does (every chunk before the
// first IDAT: name matching [A-Za-z0-9_]{4}, complete data, its handler, its
// CRC), then finds the IDAT run. Throws decode_error where Pillow refuses.
inline png_layout png_scan_open(const std::uint8_t* p, std::size_t size, const location& where) {
  static constexpr unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (size < 8 || std::memcmp(p, sig, 8) != 0) png_refuse(430, where, "not a PNG (bad signature)");
  png_layout L;
  std::size_t pos = 8;
  auto is_name = [](const std::uint8_t* c) {
    for (int k = 0; k < 4; ++k)
      if (!(std::isalnum(c[k]) || c[k] == '_')) return false;
    return true;
  };
  while (true) {
    if (size - pos < 8) png_refuse(432, where, "truncated PNG (chunks): the file ends before IDAT");
    const std::uint8_t* h = p + pos;
    char cid[5] = {char(h[4]), char(h[5]), char(h[6]), char(h[7]), 0};
    if (!is_name(h + 4)) png_refuse(431, where, "corrupt PNG (chunks): invalid chunk name (Pillow: cannot identify image file)");
    const std::uint64_t len = png_be32(h);
    const std::size_t data = pos + 8;
    if (std::memcmp(cid, "IDAT", 4) == 0) {
      L.idat_begin = pos;
      break;
    }
    if (std::memcmp(cid, "IEND", 4) == 0) png_refuse(431, where, "corrupt PNG (chunks): IEND before any IDAT");
    if (len > size - data) png_refuse(432, where, std::string("truncated PNG (") + cid + " chunk)");
    png_handle_chunk(L, cid, p + data, std::size_t(len), true, where);
    if (size - data - std::size_t(len) < 4)
      png_refuse(432, where, std::string("truncated PNG (") + cid + " chunk): no CRC");
    const std::uint32_t want = png_be32(p + data + len);
    const std::uint32_t got = png_crc32(png_crc32(0, h + 4, 4), p + data, std::size_t(len));
    if (want != got)
      png_refuse(431, where, std::string("corrupt PNG (") + cid + " chunk): bad CRC (Pillow: cannot identify image file)");
    pos = data + std::size_t(len) + 4;
  }
  if (!L.has_ihdr) png_refuse(431, where, "corrupt PNG (chunks): no IHDR before IDAT");
  // The IDAT run: consecutive IDAT chunks; CRCs are never checked.
  pos = L.idat_begin;
  while (size - pos >= 8 && std::memcmp(p + pos + 4, "IDAT", 4) == 0) {
    const std::uint64_t len = png_be32(p + pos);
    if (len > size - pos - 8) {
      L.idat_clipped = true;
      pos = size;
      break;
    }
    pos += 8 + std::size_t(len);
    if (size - pos < 4) {  // no CRC
      L.idat_clipped = true;
      pos = size;
      break;
    }
    pos += 4;
  }
  L.idat_end = pos;
  L.after_idat = pos;
  return L;
}

// Pillow's load_end after the pixels: reads chunks until IEND, the end of the
// file or an invalid chunk name (all silently), calling the handlers (their
// refusals propagate) and never checking CRCs. Text here updates the comment.
inline void png_scan_end(png_layout& L, const std::uint8_t* p, std::size_t size, const location& where) {
  std::size_t pos = L.after_idat;
  while (size - pos >= 8) {
    const std::uint8_t* h = p + pos;
    for (int k = 4; k < 8; ++k)
      if (!(std::isalnum(h[k]) || h[k] == '_')) return;
    char cid[5] = {char(h[4]), char(h[5]), char(h[6]), char(h[7]), 0};
    if (std::memcmp(cid, "IEND", 4) == 0) return;
    const std::uint64_t len = png_be32(h);
    const std::size_t data = pos + 8;
    if (len > size - data) png_refuse(432, where, std::string("truncated PNG (") + cid + " chunk after the image data)");
    if (std::memcmp(cid, "IDAT", 4) != 0) png_handle_chunk(L, cid, p + data, std::size_t(len), false, where);
    pos = data + std::size_t(len);
    pos += std::min<std::size_t>(4, size - pos);  // CRC, not checked
  }
}

// limits::png_strict on top of Pillow's rules: every chunk's CRC (IDAT and
// IEND too), an IEND, and the whole zlib stream with its Adler-32.
inline void png_strict_check(const std::uint8_t* p, std::size_t size, const png_layout& L, const location& where) {
  std::size_t pos = 8;
  while (true) {
    if (size - pos < 12) png_refuse(432, where, "truncated PNG (strict): no IEND chunk");
    const std::size_t len = png_be32(p + pos);
    if (len > size - pos - 12) png_refuse(432, where, "truncated PNG (strict): chunk past the end of the file");
    if (png_crc32(0, p + pos + 4, len + 4) != png_be32(p + pos + 8 + len))
      png_refuse(431, where, "corrupt PNG (strict): bad CRC in " + std::string(reinterpret_cast<const char*>(p + pos + 4), 4));
    if (std::memcmp(p + pos + 4, "IEND", 4) == 0) break;
    pos += 12 + len;
  }
#if WDS_HAS_ZLIB
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw std::bad_alloc();
  unsigned char sink[16384];
  int r = Z_OK;
  for (pos = L.idat_begin; pos + 8 <= L.idat_end && r != Z_STREAM_END; pos += 12 + png_be32(p + pos)) {
    zs.next_in = const_cast<Bytef*>(p + pos + 8);
    zs.avail_in = uInt(png_be32(p + pos));
    while (zs.avail_in > 0 && r == Z_OK) {
      zs.next_out = sink;
      zs.avail_out = sizeof sink;
      r = inflate(&zs, Z_NO_FLUSH);
    }
    if (r != Z_OK && r != Z_STREAM_END) break;
  }
  inflateEnd(&zs);
  if (r != Z_STREAM_END) png_refuse(431, where, "corrupt PNG (strict): bad or incomplete zlib stream in IDAT");
#endif
}

#if WDS_HAS_ZLIB
// Whether Pillow's zip decoder (ZipDecode.c) accepts the IDAT stream. It is
// fed at most 64 KiB of one chunk at a time and inflates one row (filter
// byte included) per call while input is left; it is done when the last row
// is out or a row ends together with the stream. A row zlib could finish
// only after the input ran out (a match still being copied) never comes out,
// so then the data ends first: "image file is truncated". zlib errors (and
// its Adler-32 check) count only until done. On success, L.after_idat is
// where Pillow's load_end goes on: after the chunk where it was done (a later
// IDAT there must be whole).
inline bool png_pillow_accepts_idat(const std::uint8_t* p, std::size_t size, png_layout& L,
                                    std::string& why) {
  static constexpr int offset[7] = {7, 3, 3, 1, 1, 0, 0}, row0[7] = {0, 0, 4, 0, 2, 0, 1};
  static constexpr int col_inc[7] = {8, 8, 4, 4, 2, 2, 1}, row_inc[7] = {8, 8, 8, 4, 4, 2, 2};
  const std::uint64_t bits = std::uint64_t(png_samples(L.color_type)) * L.bit_depth;
  struct run { std::uint64_t rows, row_len; };
  std::vector<run> runs;  // (pass) row counts and lengths, empty passes left out
  if (!L.interlaced) {
    runs.push_back({L.height, (std::uint64_t(L.width) * bits + 7) / 8});
  } else {
    for (int k = 0; k < 7; ++k) {
      const std::uint64_t cols = (std::uint64_t(L.width) + std::uint64_t(offset[k])) / std::uint64_t(col_inc[k]);
      const std::uint64_t rows = L.height > std::uint32_t(row0[k])
                                     ? (std::uint64_t(L.height) - std::uint64_t(row0[k]) + std::uint64_t(row_inc[k]) - 1) / std::uint64_t(row_inc[k])
                                     : 0;
      const std::uint64_t row_len = (cols * bits + 7) / 8;
      if (rows && row_len) runs.push_back({rows, row_len});
    }
  }
  std::uint64_t longest = 0;
  for (const run& r : runs) longest = std::max(longest, r.row_len);
  std::vector<unsigned char> row(static_cast<std::size_t>(longest + 1));
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw std::bad_alloc();
  std::size_t k = 0;
  std::uint64_t row_in_run = 0, last = 0;
  const auto fail = [&](const char* reason) {
    inflateEnd(&zs);
    why = reason;
    return false;
  };
  for (std::size_t pos = L.idat_begin; pos + 8 <= L.idat_end && k < runs.size();) {
    const std::size_t len = std::min<std::size_t>(png_be32(p + pos), size - pos - 8);
    const std::size_t stop = pos + 8 + len;
    for (std::size_t at = pos + 8; at < stop;) {
      const std::size_t piece = std::min<std::size_t>(stop - at, 65536);
      zs.next_in = const_cast<Bytef*>(p + at);
      zs.avail_in = uInt(piece);
      while (zs.avail_in > 0) {
        const std::uint64_t need = runs[k].row_len + 1;
        zs.next_out = row.data() + last;
        zs.avail_out = uInt(need - last);
        const int r = inflate(&zs, Z_NO_FLUSH);
        if (r == Z_DATA_ERROR) return fail("broken data stream");
        if (r < 0) return fail("decoder error");
        const std::uint64_t n = need - zs.avail_out;
        if (n < need) {
          last = n;
          break;
        }
        if (row[0] > 4) return fail("unknown filter type");  // IMAGING_CODEC_UNKNOWN
        last = 0;
        if (++row_in_run == runs[k].rows) {
          row_in_run = 0;
          ++k;
        }
        if (k == runs.size() || r == Z_STREAM_END) {
          inflateEnd(&zs);
          L.after_idat = std::min(size, stop + 4);
          return true;
        }
      }
      at += piece;
    }
    pos = stop + 4;
  }
  return fail("image file is truncated");
}

// ---- The whole-stream path (png_decoder::decode): one inflate call per IDAT
// chunk into the whole filtered image instead of libspng's one call per row
// (zlib's fast loop needs 258 bytes of room, which a ~500-byte row rarely
// leaves), Adler-32 with SIMD, and our own unfilter. It only ever says "done"
// for a stream libspng decodes without error to the same bytes; anything else
// goes to the libspng path, which decides as before. ----

#if WDS_X86_AVX2
__attribute__((target("avx2"))) inline std::uint32_t png_hsum_avx2(__m256i v) noexcept {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return std::uint32_t(_mm_cvtsi128_si32(s));
}

// zlib's adler32(adler, p, n). Blocks of 173 x 32 bytes keep every 32-bit sum
// below 2^32 (zlib's NMAX bound, 5552), so one modulo per block is enough.
__attribute__((target("avx2"))) inline std::uint32_t png_adler32_avx2(std::uint32_t adler, const std::uint8_t* p,
                                                                       std::size_t n) noexcept {
  constexpr std::uint32_t base = 65521;
  std::uint32_t s1 = adler & 0xFFFF, s2 = adler >> 16;
  const __m256i weights = _mm256_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15,
                                           14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
  const __m256i ones = _mm256_set1_epi16(1), zero = _mm256_setzero_si256();
  while (n >= 32) {
    const std::size_t blocks = std::min<std::size_t>(n / 32, 173);
    n -= blocks * 32;
    s2 += s1 * std::uint32_t(blocks * 32);
    __m256i v1 = zero, before = zero, v2 = zero;  // byte sums, their running sum, weighted sums
    for (std::size_t b = 0; b < blocks; ++b, p += 32) {
      const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      before = _mm256_add_epi32(before, v1);
      v1 = _mm256_add_epi32(v1, _mm256_sad_epu8(d, zero));
      v2 = _mm256_add_epi32(v2, _mm256_madd_epi16(_mm256_maddubs_epi16(d, weights), ones));
    }
    s1 += png_hsum_avx2(v1);
    s2 += 32 * png_hsum_avx2(before) + png_hsum_avx2(v2);
    s1 %= base;
    s2 %= base;
  }
  for (std::size_t i = 0; i < n; ++i) {
    s1 += p[i];
    s2 += s1;
  }
  return ((s2 % base) << 16) | (s1 % base);
}
#endif

inline std::uint32_t png_adler32(const std::uint8_t* p, std::size_t n, bool simd) noexcept {
#if WDS_X86_AVX2
  if (simd && cpu_has_avx2()) return png_adler32_avx2(1, p, n);
#endif
  (void)simd;
  std::uint32_t a = 1;
  while (n > 0) {  // zlib takes uInt lengths
    const std::size_t piece = std::min<std::size_t>(n, 1u << 30);
    a = std::uint32_t(adler32(a, p, uInt(piece)));
    p += piece;
    n -= piece;
  }
  return a;
}

// Inflates the IDAT run into exactly out_len bytes. True only when the zlib
// header is one zlib accepts (deflate, window <= 32K, no preset dictionary),
// the deflate data ends after exactly out_len bytes and the Adler-32 after it
// matches: then libspng, which inflates the same bytes (and stops after the
// last row), decodes them without error. Raw inflate with a 32K window finds
// exactly the errors zlib's wrapped inflate does (its window is wbits = 15
// whatever the header says).
inline bool png_inflate_whole(const std::uint8_t* p, const png_layout& L, std::uint8_t* out, std::size_t out_len,
                              bool simd) {
  struct piece { const std::uint8_t* at; std::size_t n; };
  std::size_t pos = L.idat_begin, k = 0;
  piece cur{nullptr, 0};
  const auto next = [&]() {  // the next IDAT chunk's data; false at the end of the run
    while (pos + 12 <= L.idat_end) {
      const std::size_t n = png_be32(p + pos);
      if (n > 0x7FFFFFFFu) return false;  // libspng: SPNG_ECHUNK_STDLEN
      cur = {p + pos + 8, n};
      pos += 12 + n;
      if (n) return true;
    }
    return false;
  };
  std::uint8_t head[2];
  for (k = 0; k < 2; ++k) {
    if (cur.n == 0 && !next()) return false;
    head[k] = *cur.at++;
    --cur.n;
  }
  if ((head[0] & 0x0F) != 8 || (head[0] >> 4) > 7 || (head[1] & 0x20) || ((head[0] << 8) | head[1]) % 31) return false;
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) throw std::bad_alloc();
  zs.next_out = out;
  zs.avail_out = uInt(out_len);
  int r = Z_OK;
  while (true) {
    if (cur.n == 0 && !next()) break;
    zs.next_in = const_cast<Bytef*>(cur.at);
    zs.avail_in = uInt(cur.n);
    r = inflate(&zs, Z_NO_FLUSH);
    cur.at = zs.next_in;
    cur.n = zs.avail_in;
    if (r == Z_STREAM_END || (r != Z_OK && r != Z_BUF_ERROR) || (r == Z_BUF_ERROR && cur.n > 0)) break;
  }
  const bool ended = r == Z_STREAM_END && zs.avail_out == 0;
  inflateEnd(&zs);
  if (!ended) return false;
  std::uint32_t want = 0;
  for (k = 0; k < 4; ++k) {
    if (cur.n == 0 && !next()) return false;
    want = (want << 8) | *cur.at++;
    --cur.n;
  }
  return want == png_adler32(out, out_len, simd);
}

// The "sub" filter with one byte per pixel: a running sum along the row,
// 16 bytes per step (log-step prefix sum) where SSE2 is there.
inline void png_unfilter_sub1(const std::uint8_t* src, std::uint8_t* out, std::size_t n) noexcept {
  std::size_t i = 0;
  std::uint8_t acc = 0;
#if defined(__SSE2__)
  __m128i carry = _mm_setzero_si128();  // the last output byte, in every lane
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    x = _mm_add_epi8(x, _mm_slli_si128(x, 1));
    x = _mm_add_epi8(x, _mm_slli_si128(x, 2));
    x = _mm_add_epi8(x, _mm_slli_si128(x, 4));
    x = _mm_add_epi8(x, _mm_slli_si128(x, 8));
    x = _mm_add_epi8(x, carry);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), x);
    const __m128i hi = _mm_unpackhi_epi8(x, x);
    carry = _mm_shuffle_epi32(_mm_unpackhi_epi16(hi, hi), 0xFF);
  }
  if (i) acc = out[i - 1];
#endif
  for (; i < n; ++i) out[i] = acc = std::uint8_t(acc + src[i]);
}

// PNG's row filters undone: `in` holds rows of 1 + row_len bytes (filter type
// first), `out` gets rows of row_len. False on a filter type above 4. `out`
// may be `in`: each row then moves left by its row number + 1, and every
// byte is read before the write that could cover it.
inline bool png_unfilter(const std::uint8_t* in, std::size_t rows, std::size_t row_len, std::size_t bpp,
                         std::uint8_t* out, std::vector<std::uint8_t>& zero_row) {
  zero_row.assign(row_len, 0);
  const std::uint8_t* prev = zero_row.data();
  for (std::size_t y = 0; y < rows; ++y, in += row_len + 1, prev = out, out += row_len) {
    const std::uint8_t* src = in + 1;
    const std::size_t lead = std::min(bpp, row_len);
    switch (in[0]) {
      case 0: std::memmove(out, src, row_len); break;
      case 1:
        if (bpp == 1) {
          png_unfilter_sub1(src, out, row_len);
          break;
        }
        std::memmove(out, src, lead);
        for (std::size_t i = lead; i < row_len; ++i) out[i] = std::uint8_t(src[i] + out[i - bpp]);
        break;
      case 2:
        for (std::size_t i = 0; i < row_len; ++i) out[i] = std::uint8_t(src[i] + prev[i]);
        break;
      case 3:
        for (std::size_t i = 0; i < lead; ++i) out[i] = std::uint8_t(src[i] + (prev[i] >> 1));
        for (std::size_t i = lead; i < row_len; ++i) out[i] = std::uint8_t(src[i] + ((out[i - bpp] + prev[i]) >> 1));
        break;
      case 4:
        for (std::size_t i = 0; i < lead; ++i) out[i] = std::uint8_t(src[i] + prev[i]);  // a = c = 0: b
        for (std::size_t i = lead; i < row_len; ++i) {
          const int a = out[i - bpp], b = prev[i], c = prev[i - bpp];
          const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
          const int pred = (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
          out[i] = std::uint8_t(src[i] + pred);
        }
        break;
      default: return false;
    }
  }
  return true;
}
#endif

}  // namespace detail

// PNG decoder. Accepts and refuses exactly what Pillow 9.4 does (see
// png_scan_open/png_scan_end: chunk names, CRCs of the chunks before IDAT,
// handler checks, never the IDAT/IEND CRCs, Adler-32 only where Pillow's zip
// decoder reaches it); libspng decodes the pixels from a stream rebuilt from
// the IHDR and the IDAT run, so its own stricter chunk rules do not apply.
// limits::png_strict adds all of libspng's checks on the original file.
// spng contexts cannot be rewound, so one is created per image; the object
// keeps the scratch buffers between images. Not thread-safe.
class png_decoder {
 public:
  png_info read_info(const std::byte* data, std::size_t size, const limits& lim = {},
                     const location& where = {}) {
    const detail::png_layout L = scan(data, size, where);
    auto ctx = open(data, size, L, lim, pass::as_is, where);
    return info_of(ctx.get(), L, where);
  }

  // Decodes to `mode` (nullopt = png_info::mode), exactly as Pillow's
  // Image.open(f).convert(mode).
  any_image decode(const std::byte* data, std::size_t size,
                   std::optional<pixel_mode> mode = std::nullopt, const limits& lim = {},
                   const location& where = {}) {
    comment_.reset();
    key_.reset();
    whole_used_ = false;
    has_palette_ = false;
    palette_size_ = 0;
    bilevel_ = false;
    detail::png_layout L = scan(data, size, where);
    if (lim.png_strict) detail::png_strict_check(bytes(data), size, L, where);
    auto ctx = open(data, size, L, lim, pass::as_is, where);
    const png_info info = info_of(ctx.get(), L, where);
    check_image_pixels(std::uint64_t(info.width), std::uint64_t(info.height), lim, where);
    spng_ihdr h{};
    spng_get_ihdr(ctx.get(), &h);
    if (h.color_type == SPNG_COLOR_TYPE_INDEXED) set_palette(L, where);
    bilevel_ = h.color_type == SPNG_COLOR_TYPE_GRAYSCALE && h.bit_depth == 1;

    std::size_t len = 0;
    int e = spng_decoded_image_size(ctx.get(), SPNG_FMT_PNG, &len);
    if (e) detail::throw_png(e, where, "size");  // len is bounded by the pixel check above
    raw_.resize(len);
    whole_used_ = decode_whole(data, L, h, lim, len);
    if (!whole_used_) {
      // spng ORs deinterlaced sub-byte pixels into the buffer: it must start zeroed.
      if (info.interlaced && h.bit_depth < 8) std::fill(raw_.begin(), raw_.end(), std::uint8_t{0});
      e = spng_decode_image(ctx.get(), raw_.data(), len, SPNG_FMT_PNG, 0);
      auto retry = [&](pass how) {
        ctx = open(data, size, L, lim, how, where);
        spng_get_ihdr(ctx.get(), &h);
        if (info.interlaced && h.bit_depth < 8) std::fill(raw_.begin(), raw_.end(), std::uint8_t{0});
        e = spng_decode_image(ctx.get(), raw_.data(), len, SPNG_FMT_PNG, 0);
      };
      // Pillow never checks IDAT CRCs: decode again with the CRCs recomputed.
      if (e == SPNG_ECHUNK_CRC && !lim.png_strict) retry(pass::fixed_crc);
#if WDS_HAS_ZLIB
      // Pillow's zip decoder decides where libspng errs on the stream (Pillow
      // stops once the last row is complete: an Adler-32 or data error past it
      // does not count) and where libspng takes a stream cut at the end of the
      // file because it has every row (Pillow may not: png_pillow_accepts_idat).
      const bool spng_stream_error = e && stream_error(e);
      if (!lim.png_strict && (spng_stream_error || (!e && L.idat_clipped))) {
        std::string why;
        if (!detail::png_pillow_accepts_idat(bytes(data), size, L, why)) refuse_idat(why, where);
        if (spng_stream_error) retry(pass::no_adler);
      }
#endif
    }
    if (e) detail::throw_png(e, where, "data");
    detail::png_scan_end(L, bytes(data), size, where);
    comment_ = L.comment;

    const bool has_trns = info.has_trns;
    const auto k16 = [&](int i) {
      return (std::uint8_t(L.trns[std::size_t(i)]) << 8) | std::uint8_t(L.trns[std::size_t(i) + 1]);
    };
    const int w = info.width, hgt = info.height;
    const int depth = h.bit_depth;
    const int samples = detail::png_samples(h.color_type);
    const std::size_t row_len = (std::size_t(w) * std::size_t(samples) * std::size_t(depth) + 7) / 8;
    if (len < row_len * std::size_t(hgt)) detail::throw_png(SPNG_EINTERNAL, where, "size");

    // Pillow's native image first.
    any_image native;
    switch (h.color_type) {
      case SPNG_COLOR_TYPE_GRAYSCALE: {
        if (has_trns) key_ = color_key{color_key::kind::gray, {k16(0), 0, 0}};
        if (depth == 16) {
          image<std::int32_t> im(w, hgt, 1);
          im.set_mode(pixel_mode::i);
          for (int y = 0; y < hgt; ++y) {
            const auto* src = reinterpret_cast<const std::uint16_t*>(raw_.data() + std::size_t(y) * row_len);
            std::int32_t* dst = im.row(y);
            for (int x = 0; x < w; ++x) { std::uint16_t v; std::memcpy(&v, src + x, 2); dst[x] = v; }
          }
          native = std::move(im);
        } else {
          image<std::uint8_t> im(w, hgt, 1);
          im.set_mode(pixel_mode::l);
          // 1-bit opens as mode "1" (we give 0/255), 2/4-bit scale like Pillow's L;2 / L;4.
          const int scale = depth == 1 ? 255 : depth == 2 ? 0x55 : depth == 4 ? 0x11 : 1;
          for (int y = 0; y < hgt; ++y) unpack_indices(raw_.data() + std::size_t(y) * row_len, depth, w, im.row(y), scale);
          native = std::move(im);
        }
        break;
      }
      case SPNG_COLOR_TYPE_INDEXED: {
        if (has_trns) {  // Pillow: the index when one entry is 0 and all others 255
          const std::size_t zero = L.trns.find('\0');
          const bool simple = zero != std::string::npos && L.trns.find_first_not_of('\xff', zero + 1) == std::string::npos &&
                              L.trns.find_first_not_of('\xff') == zero;
          key_ = simple ? color_key{color_key::kind::index, {int(zero), 0, 0}} : color_key{color_key::kind::bytes, {}};
        }
        auto& lut = palette_;
        const int ch = has_trns ? 4 : 3;
        image<std::uint8_t> im(w, hgt, ch);
        im.set_mode(has_trns ? pixel_mode::rgba : pixel_mode::rgb);
        idx_.resize(std::size_t(w));
        for (int y = 0; y < hgt; ++y) {
          unpack_indices(raw_.data() + std::size_t(y) * row_len, depth, w, idx_.data(), 1);
          std::uint8_t* dst = im.row(y);
          for (int x = 0; x < w; ++x, dst += ch) std::memcpy(dst, lut[idx_[std::size_t(x)]].data(), std::size_t(ch));
        }
        native = std::move(im);
        break;
      }
      default: {  // RGB, LA, RGBA: 8-bit as is, 16-bit keeps the high byte
        const int ch = samples;
        if (has_trns && ch == 3) key_ = color_key{color_key::kind::rgb, {k16(0), k16(2), k16(4)}};
        if (ch == 2 && depth == 16) {  // LA;16B: L, L, L, A from the high bytes
          image<std::uint8_t> im(w, hgt, 4);
          im.set_mode(pixel_mode::rgba);
          for (int y = 0; y < hgt; ++y) {
            const std::uint8_t* src = raw_.data() + std::size_t(y) * row_len;
            std::uint8_t* dst = im.row(y);
            for (int x = 0; x < w; ++x, dst += 4) {
              std::uint16_t l, a;
              std::memcpy(&l, src + 4 * x, 2);
              std::memcpy(&a, src + 4 * x + 2, 2);
              dst[0] = dst[1] = dst[2] = std::uint8_t(l >> 8);
              dst[3] = std::uint8_t(a >> 8);
            }
          }
          native = std::move(im);
          break;
        }
        image<std::uint8_t> im(w, hgt, ch);
        im.set_mode(info.mode);
        const std::size_t n = std::size_t(w) * std::size_t(ch);
        for (int y = 0; y < hgt; ++y) {
          const std::uint8_t* src = raw_.data() + std::size_t(y) * row_len;
          std::uint8_t* dst = im.row(y);
          if (depth == 8) {
            std::memcpy(dst, src, n);
          } else {
            for (std::size_t i = 0; i < n; ++i) {
              std::uint16_t v;
              std::memcpy(&v, src + 2 * i, 2);  // host-endian from SPNG_FMT_PNG
              dst[i] = std::uint8_t(v >> 8);
            }
          }
        }
        native = std::move(im);
        break;
      }
    }
    const pil_mode from{info.mode, bilevel_, has_palette_ ? &palette_ : nullptr};
    if (!mode || (*mode == info.mode && !from.palette && !bilevel_)) return native;
    const pixel_mode to = *mode;
    // Pillow's convert: a gray / RGB key becomes alpha 0 for L, I or "1" to
    // LA/RGBA and RGB to RGBA; other conversions keep or recompute it.
    any_image out = convert(native, to);
    carry_color_key(key_, from, to, std::get_if<image<std::uint8_t>>(&out));
    return out;
  }

  // info["comment"] of the last decode() (tEXt/zTXt/iTXt "comment", before or
  // after the image data), as the UTF-8 bytes Pillow's JPEG save writes.
  const std::optional<std::string>& comment() const noexcept { return comment_; }

  // The last decode() was a palette image: its 256 RGBA entries (Pillow's
  // ramp past the PLTE entries; alpha from tRNS). Padding a palette image
  // in Pillow writes index 0, i.e. palette()[0].
  const std::array<std::array<std::uint8_t, 4>, 256>* palette() const noexcept {
    return has_palette_ ? &palette_ : nullptr;
  }

  // The last decode() was a 1-bit gray image (Pillow's mode "1", which we
  // give as L 0/255).
  bool bilevel() const noexcept { return bilevel_; }

  // The PLTE entries of the last palette decode (Pillow's palette length).
  int palette_size() const noexcept { return palette_size_; }

  // Pillow's info["transparency"] after the last decode() (and its mode
  // conversion): a tRNS key that did not become alpha. Ops that keep info
  // carry it; the PNG writer writes it back.
  const std::optional<color_key>& transparency() const noexcept { return key_; }

  // How the pixels are inflated (the results are the same; the tests compare
  // them): `whole_stream` off sends every image through libspng's row-at-a-
  // time decode, `simd` off computes Adler-32 with zlib instead of AVX2.
  void set_inflate(bool whole_stream, bool simd = true) noexcept {
    whole_stream_ = whole_stream;
    simd_ = simd;
  }
  // The last decode() took the whole-stream path.
  bool whole_stream_used() const noexcept { return whole_used_; }

 private:
  static const std::uint8_t* bytes(const std::byte* p) noexcept { return reinterpret_cast<const std::uint8_t*>(p); }

  static detail::png_layout scan(const std::byte* data, std::size_t size, const location& where) {
    if (data == nullptr || size == 0) throw decode_error(430, where, "empty PNG data");
    return detail::png_scan_open(bytes(data), size, where);
  }

  // How open() feeds libspng: the IDAT run as in the file (its CRCs checked,
  // and with them Adler-32), with recomputed CRCs, or without Adler-32.
  enum class pass { as_is, fixed_crc, no_adler };

  [[noreturn]] static void refuse_idat(const std::string& why, const location& where) {
    const bool cut = why == "image file is truncated";
    throw decode_error(cut ? 432 : 431, where, std::string(cut ? "truncated" : "corrupt") + " PNG (data): " + why);
  }

  // The whole-stream path for non-interlaced images up to 8 bits (16-bit
  // rows would need libspng's host byte order). False: nothing decided, the
  // libspng path runs.
  bool decode_whole(const std::byte* data, const detail::png_layout& L, const spng_ihdr& h, const limits& lim,
                    std::size_t len) {
#if WDS_HAS_ZLIB
    if (!whole_stream_ || lim.png_strict || L.interlaced || L.idat_clipped || h.bit_depth > 8) return false;
    const std::size_t row_len =
        (std::size_t(h.width) * std::size_t(detail::png_samples(h.color_type)) * h.bit_depth + 7) / 8;
    if (row_len == 0 || len != row_len * std::size_t(h.height)) return false;
    const std::size_t bpp = std::max<std::size_t>(1, std::size_t(detail::png_samples(h.color_type)) * h.bit_depth / 8);
    const std::size_t filtered = (row_len + 1) * std::size_t(h.height);
    if (filtered > std::numeric_limits<uInt>::max()) return false;  // zlib counts in uInt
    raw_.resize(filtered);  // unfiltered in place: one filter byte per row more than the pixels
    return detail::png_inflate_whole(bytes(data), L, raw_.data(), filtered, simd_) &&
           detail::png_unfilter(raw_.data(), h.height, row_len, bpp, raw_.data(), zero_row_);
#else
    (void)data, (void)L, (void)h, (void)lim, (void)len;
    return false;
#endif
  }

  static bool stream_error(int e) noexcept {
    return e == SPNG_EZLIB || e == SPNG_EIDAT_TOO_SHORT || e == SPNG_EIDAT_STREAM || e == SPNG_IO_EOF ||
           e == SPNG_EOF || e == SPNG_IO_ERROR;
  }

  void set_palette(const detail::png_layout& L, const location& where) {
    // Pillow's putpalette refuses more than 256 entries (ValueError on load).
    if (L.plte.size() > 770) throw decode_error(431, where, "corrupt PNG (PLTE chunk): more than 256 palette entries");
    for (int i = 0; i < 256; ++i) palette_[std::size_t(i)] = {std::uint8_t(i), std::uint8_t(i), std::uint8_t(i), 255};
    const std::size_t n = L.plte.size() / 3;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = 0; c < 3; ++c) palette_[i][c] = std::uint8_t(L.plte[3 * i + c]);
    if (L.has_trns)
      for (std::size_t i = 0; i < L.trns.size() && i < 256; ++i) palette_[i][3] = std::uint8_t(L.trns[i]);
    has_palette_ = true;
    palette_size_ = int(n);
  }

  // The stream libspng reads: signature, IHDR (Pillow ignores the compression
  // method and takes any interlace method but 0 as Adam7), a gray-ramp PLTE for
  // palette images (the real palette is applied by us), the IDAT run, IEND.
  // CRCs are not checked there. In strict mode it reads the original file.
  detail::spng_ctx_ptr open(const std::byte* data, std::size_t size, const detail::png_layout& L,
                            const limits& lim, pass how, const location& where) {
    detail::spng_ctx_ptr ctx(spng_ctx_new(how == pass::no_adler ? SPNG_CTX_IGNORE_ADLER32 : 0));
    if (!ctx) throw std::bad_alloc();
    const std::size_t chunk = static_cast<std::size_t>(
        std::min<std::uint64_t>(lim.max_png_chunk_size, std::numeric_limits<std::uint32_t>::max() >> 1));
    spng_set_chunk_limits(ctx.get(), chunk, chunk);
    if (lim.png_strict) {
      spng_set_png_buffer(ctx.get(), data, size);
      return ctx;
    }
    // SPNG_CRC_USE on critical chunks also turns off libspng's Adler-32 check.
    if (how == pass::no_adler) spng_set_crc_action(ctx.get(), SPNG_CRC_USE, SPNG_CRC_USE);
    const std::uint8_t* p = bytes(data);
    head_.clear();
    static constexpr std::uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    head_.insert(head_.end(), sig, sig + 8);
    auto put32 = [](std::vector<std::uint8_t>& v, std::uint32_t x) {
      for (int s = 24; s >= 0; s -= 8) v.push_back(std::uint8_t(x >> s));
    };
    auto put_chunk = [&](std::vector<std::uint8_t>& v, const char* id, const std::uint8_t* d, std::size_t n) {
      put32(v, std::uint32_t(n));
      v.insert(v.end(), id, id + 4);
      v.insert(v.end(), d, d + n);
      put32(v, detail::png_crc32(detail::png_crc32(0, reinterpret_cast<const std::uint8_t*>(id), 4), d, n));
    };
    std::uint8_t ihdr[13];
    for (int s = 0; s < 4; ++s) {
      ihdr[s] = std::uint8_t(L.width >> (24 - 8 * s));
      ihdr[4 + s] = std::uint8_t(L.height >> (24 - 8 * s));
    }
    ihdr[8] = L.bit_depth;
    ihdr[9] = L.color_type;
    ihdr[10] = ihdr[11] = 0;
    ihdr[12] = L.interlaced ? 1 : 0;
    put_chunk(head_, "IHDR", ihdr, 13);
    if (L.color_type == 3 && L.bit_depth >= 1 && L.bit_depth <= 8) {
      std::uint8_t ramp[768];
      const int n = 1 << L.bit_depth;
      for (int i = 0; i < n; ++i) ramp[3 * i] = ramp[3 * i + 1] = ramp[3 * i + 2] = std::uint8_t(i);
      put_chunk(head_, "PLTE", ramp, std::size_t(3 * n));
    }
    // The IDAT run as it is in the file, unless it is cut short or its CRCs
    // are wrong: then copied, with the last chunk's length fixed to the bytes
    // present and the CRCs recomputed.
    mid_.clear();
    const std::uint8_t* run = p + L.idat_begin;
    std::size_t run_len = L.idat_end - L.idat_begin;
    if (L.idat_clipped || how != pass::as_is) {
      std::size_t pos = L.idat_begin;
      while (pos + 8 <= L.idat_end && std::memcmp(p + pos + 4, "IDAT", 4) == 0) {
        const std::size_t n = std::min<std::size_t>(detail::png_be32(p + pos), size - pos - 8);
        put_chunk(mid_, "IDAT", p + pos + 8, n);
        pos += 8 + n + 4;
      }
      run = mid_.data();
      run_len = mid_.size();
    }
    static constexpr std::uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    stream_ = detail::png_stream{{head_.data(), run, iend}, {head_.size(), run_len, sizeof iend}, 0, 0};
    const int e = spng_set_png_stream(ctx.get(), detail::wds_png_read, &stream_);
    if (e) detail::throw_png(e, where, "stream");
    return ctx;
  }

  static png_info info_of(spng_ctx* ctx, const detail::png_layout& L, const location& where) {
    spng_ihdr h{};
    const int e = spng_get_ihdr(ctx, &h);
    if (e) detail::throw_png(e, where, "header");
    png_info info;
    info.width = static_cast<int>(h.width);
    info.height = static_cast<int>(h.height);
    info.bit_depth = h.bit_depth;
    info.color_type = h.color_type;
    info.interlaced = h.interlace_method != 0;
    info.has_trns = L.has_trns && h.color_type != SPNG_COLOR_TYPE_GRAYSCALE_ALPHA &&
                    h.color_type != SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
    info.mode = detail::png_native_mode(h, info.has_trns);
    return info;
  }

  // Unpacks 1/2/4/8-bit samples (MSB first), multiplying by `scale`.
  static void unpack_indices(const std::uint8_t* src, int depth, int w, std::uint8_t* dst, int scale) {
    if (depth == 8) {
      std::memcpy(dst, src, std::size_t(w));
      return;
    }
    const int per_byte = 8 / depth;
    const int mask = (1 << depth) - 1;
    for (int x = 0; x < w; ++x) {
      const int byte = src[x / per_byte];
      const int shift = 8 - depth * (x % per_byte + 1);
      dst[x] = std::uint8_t(((byte >> shift) & mask) * scale);
    }
  }

  std::vector<std::uint8_t> raw_;
  std::vector<std::uint8_t> zero_row_;  // whole-stream path
  bool whole_stream_ = true, simd_ = true, whole_used_ = false;
  std::vector<std::uint8_t> idx_;
  std::vector<std::uint8_t> head_, mid_;
  detail::png_stream stream_{};
  std::optional<std::string> comment_;
  std::array<std::array<std::uint8_t, 4>, 256> palette_{};
  bool has_palette_ = false;
  int palette_size_ = 0;
  std::optional<color_key> key_;
  bool bilevel_ = false;
};

namespace detail {
// The tRNS values png_options::transparency asks for on this image (0, 1 or
// 3 of them; see png_options).
inline int png_trns_values(const png_options& opt, int ch, int bit_depth, std::array<std::uint16_t, 3>& v) noexcept {
  if (!opt.transparency) return 0;
  const color_key& k = *opt.transparency;
  const int top = (1 << bit_depth) - 1;
  const auto fits = [&](int x) { return x >= 0 && x <= top; };
  if (ch == 1 && k.k == color_key::kind::gray && fits(k.v[0])) {
    v[0] = std::uint16_t(k.v[0]);
    return 1;
  }
  if (ch == 3 && k.k == color_key::kind::rgb && fits(k.v[0]) && fits(k.v[1]) && fits(k.v[2])) {
    v = {std::uint16_t(k.v[0]), std::uint16_t(k.v[1]), std::uint16_t(k.v[2])};
    return 3;
  }
  return 0;
}

#if WDS_HAS_ZLIB
inline void png_put_chunk(std::vector<std::byte>& out, const char* type, const std::uint8_t* data, std::size_t n) {
  const auto be32 = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(std::byte((v >> s) & 0xff));
  };
  be32(std::uint32_t(n));
  const auto* t = reinterpret_cast<const std::uint8_t*>(type);
  for (int i = 0; i < 4; ++i) out.push_back(std::byte(t[i]));
  const auto* d = reinterpret_cast<const std::byte*>(data);
  out.insert(out.end(), d, d + n);
  be32(png_crc32(png_crc32(0, t, 4), data, n));
}

// png_options::fast, written here rather than by libspng: its filter loop
// alone costs as much as zlib's RLE pass. Every row but the first "up"
// (the first has nothing above it: "none"), then one whole-buffer deflate.
// Empty when the stream would not fit one IDAT chunk (the caller falls back).
template <class T>
std::vector<std::byte> encode_png_fast(image_view<const T> src, int bit_depth, const png_options& opt,
                                       std::vector<std::uint8_t>& scratch) {
  const int ch = src.channels();
  const std::size_t w = std::size_t(src.width()), h = std::size_t(src.height());
  const std::size_t row_len = w * std::size_t(ch) * sizeof(T);
  if (h > (std::size_t{1} << 30) / (row_len + 1)) return {};
  scratch.resize((row_len + 1) * h);
  std::vector<std::uint8_t> rows(2 * row_len);  // this row and the one above, as PNG bytes
  std::size_t sampled = 0, zeros = 0;           // filtered bytes of every 8th row
  for (std::size_t y = 0; y < h; ++y) {
    std::uint8_t* cur = rows.data() + (y & 1) * row_len;
    const std::uint8_t* above = rows.data() + ((y + 1) & 1) * row_len;
    const T* s = src.row(int(y));
    if constexpr (sizeof(T) == 1) {
      if (src.rows_packed()) {
        std::memcpy(cur, s, row_len);
      } else {
        for (std::size_t x = 0, o = 0; x < w; ++x, s += src.x_step())
          for (int c = 0; c < ch; ++c) cur[o++] = std::uint8_t(s[c]);
      }
    } else {  // 16-bit samples, big-endian in the file
      for (std::size_t x = 0, o = 0; x < w; ++x, s += src.x_step())
        for (int c = 0; c < ch; ++c, o += 2) {
          cur[o] = std::uint8_t(s[c] >> 8);
          cur[o + 1] = std::uint8_t(s[c] & 0xff);
        }
    }
    std::uint8_t* d = scratch.data() + y * (row_len + 1);
    d[0] = y ? 2 : 0;
    if (y) {
      for (std::size_t i = 0; i < row_len; ++i) d[1 + i] = std::uint8_t(cur[i] - above[i]);
    } else {
      std::memcpy(d + 1, cur, row_len);
    }
    if (config::has_libdeflate && y % 8 == 0) {  // only libdeflate builds choose
      sampled += row_len;
      zeros += std::size_t(std::count(d + 1, d + 1 + row_len, std::uint8_t{0}));
    }
  }
  // Runs: zlib's RLE is faster and smaller there (500x375 mask: 0.29 ms and
  // 2,474 B vs libdeflate's 0.50 ms and 3,051 B); elsewhere libdeflate level 1
  // is about 1.8x zlib's RLE at 6% more bytes (photo: 191,464 vs 180,078 B).
  [[maybe_unused]] const bool runs = 2 * zeros > sampled;
  std::vector<std::uint8_t> idat;
  std::size_t n = 0;
#if WDS_HAS_LIBDEFLATE
  if (!runs && opt.compression_level > 0) {
    struct drop {
      void operator()(libdeflate_compressor* c) const noexcept { libdeflate_free_compressor(c); }
    };
    thread_local std::unique_ptr<libdeflate_compressor, drop> level1;  // 200 KB, kept per thread
    if (!level1) level1.reset(libdeflate_alloc_compressor(1));
    if (!level1) throw std::bad_alloc();
    idat.resize(libdeflate_zlib_compress_bound(level1.get(), scratch.size()));
    n = libdeflate_zlib_compress(level1.get(), scratch.data(), scratch.size(), idat.data(), idat.size());
    if (n == 0) throw decode_error(435, location{}, "PNG encoding failed: libdeflate");
  }
#endif
  if (n == 0) {
    z_stream z{};
    if (deflateInit2(&z, opt.compression_level, Z_DEFLATED, 15, 8, Z_RLE) != Z_OK)
      throw decode_error(435, location{}, "PNG encoding failed: deflateInit2");
    idat.resize(deflateBound(&z, uLong(scratch.size())));
    z.next_in = scratch.data();
    z.avail_in = uInt(scratch.size());
    z.next_out = idat.data();
    z.avail_out = uInt(idat.size());
    const int rc = deflate(&z, Z_FINISH);
    n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw decode_error(435, location{}, "PNG encoding failed: deflate");
  }
  if (n > (std::size_t{1} << 31) - 1) return {};
  std::vector<std::byte> out;
  out.reserve(n + 80);
  static const std::uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  out.insert(out.end(), reinterpret_cast<const std::byte*>(sig), reinterpret_cast<const std::byte*>(sig) + 8);
  std::uint8_t ihdr[13] = {};
  for (int i = 0; i < 4; ++i) {
    ihdr[i] = std::uint8_t(w >> (24 - 8 * i));
    ihdr[4 + i] = std::uint8_t(h >> (24 - 8 * i));
  }
  ihdr[8] = std::uint8_t(bit_depth);
  ihdr[9] = png_color_type(ch);
  png_put_chunk(out, "IHDR", ihdr, 13);
  std::array<std::uint16_t, 3> tv{};
  if (const int k = png_trns_values(opt, ch, bit_depth, tv)) {
    std::uint8_t t[6];
    for (int i = 0; i < k; ++i) {
      t[2 * i] = std::uint8_t(tv[std::size_t(i)] >> 8);
      t[2 * i + 1] = std::uint8_t(tv[std::size_t(i)] & 0xff);
    }
    png_put_chunk(out, "tRNS", t, std::size_t(2 * k));
  }
  png_put_chunk(out, "IDAT", idat.data(), n);
  png_put_chunk(out, "IEND", nullptr, 0);
  return out;
}
#endif

template <class T>
std::vector<std::byte> encode_png_impl(image_view<const T> src, int bit_depth, const png_options& opt,
                                       std::vector<std::uint8_t>& scratch) {
  const int ch = src.channels();
  if (ch < 1 || ch > 4) throw decode_error(434, location{}, "cannot write a " + std::to_string(ch) + "-channel image as PNG");
  if (src.width() <= 0 || src.height() <= 0) throw decode_error(434, location{}, "cannot write an empty image as PNG");
  if (opt.compression_level < 0 || opt.compression_level > 9)
    throw decode_error(434, location{}, "PNG compression_level must be 0..9");
#if WDS_HAS_ZLIB
  if (opt.fast) {
    std::vector<std::byte> out = encode_png_fast(src, bit_depth, opt, scratch);
    if (!out.empty()) return out;
  }
#endif
  const std::size_t row_len = std::size_t(src.width()) * std::size_t(ch) * sizeof(T);
  const std::size_t total = row_len * std::size_t(src.height());
  // libspng reads packed rows: a packed image as it is, else a copy.
  const void* pixels = src.origin();
  if (!src.packed()) {
    scratch.resize(total);
    for (int y = 0; y < src.height(); ++y) {
      auto* dst = reinterpret_cast<T*>(scratch.data() + std::size_t(y) * row_len);
      const T* s = src.row(y);
      if (src.rows_packed()) {
        std::memcpy(dst, s, row_len);
        continue;
      }
      for (int x = 0; x < src.width(); ++x, s += src.x_step())
        for (int c = 0; c < ch; ++c) *dst++ = s[c];
    }
    pixels = scratch.data();
  }
  spng_ctx_ptr ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw std::bad_alloc();
  spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_LEVEL, opt.compression_level);
  if (opt.fast) {  // without zlib here: libspng with the same choices
    spng_set_option(ctx.get(), SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_UP);
    spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_STRATEGY, 3);  // Z_RLE
  }
  spng_ihdr h{};
  h.width = std::uint32_t(src.width());
  h.height = std::uint32_t(src.height());
  h.bit_depth = std::uint8_t(bit_depth);
  h.color_type = png_color_type(ch);
  int e = spng_set_ihdr(ctx.get(), &h);
  std::array<std::uint16_t, 3> tv{};
  if (const int k = e ? 0 : png_trns_values(opt, ch, bit_depth, tv)) {
    spng_trns t{};
    t.gray = tv[0];
    if (k == 3) {
      t.red = tv[0];
      t.green = tv[1];
      t.blue = tv[2];
    }
    e = spng_set_trns(ctx.get(), &t);
  }
  if (!e) e = spng_encode_image(ctx.get(), pixels, total, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  if (e) throw decode_error(435, location{}, std::string("PNG encoding failed: ") + spng_strerror(e));
  std::size_t n = 0;
  void* buf = spng_get_png_buffer(ctx.get(), &n, &e);
  if (!buf || e) throw decode_error(435, location{}, std::string("PNG encoding failed: ") + spng_strerror(e));
  const auto* b = static_cast<const std::byte*>(buf);
  std::vector<std::byte> out;
  try {
    out.assign(b, b + n);
  } catch (...) {
    std::free(buf);
    throw;
  }
  std::free(buf);
  return out;
}
}  // namespace detail

// Encodes 8-bit L (1 channel), LA (2), RGB (3) or RGBA (4) as PNG.
inline std::vector<std::byte> encode_png(image_view<const std::uint8_t> src, const png_options& opt = {}) {
  std::vector<std::uint8_t> scratch;
  return detail::encode_png_impl(src, 8, opt, scratch);
}

// Encodes 16-bit gray (1 channel) or gray+alpha / RGB / RGBA as 16-bit PNG
// (Pillow opens 16-bit gray as mode I with the same values).
inline std::vector<std::byte> encode_png(image_view<const std::uint16_t> src, const png_options& opt = {}) {
  std::vector<std::uint8_t> scratch;
  return detail::encode_png_impl(src, 16, opt, scratch);
}

inline any_image decode_png(const std::byte* data, std::size_t size,
                            std::optional<pixel_mode> mode = std::nullopt, const limits& lim = {},
                            const location& where = {}) {
  png_decoder d;
  return d.decode(data, size, mode, lim, where);
}

inline png_info read_png_info(const std::byte* data, std::size_t size, const limits& lim = {},
                              const location& where = {}) {
  png_decoder d;
  return d.read_info(data, size, lim, where);
}

WDS_NAMESPACE_END
