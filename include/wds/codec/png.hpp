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
#include <atomic>
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

#include "wds/convert.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/limits.hpp"


namespace wds {

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

// PNG decoder. spng contexts cannot be rewound, so one is created per image;
// the object keeps the raw-row scratch buffer between images. Not thread-safe.
class png_decoder {
 public:
  png_info read_info(const std::byte* data, std::size_t size, const limits& lim = {},
                     const location& where = {}) {
    auto ctx = open(data, size, lim, where);
    return info_of(ctx.get(), where);
  }

  // Decodes to `mode` (nullopt = png_info::mode), exactly as Pillow's
  // Image.open(f).convert(mode).
  any_image decode(const std::byte* data, std::size_t size,
                   std::optional<pixel_mode> mode = std::nullopt, const limits& lim = {},
                   const location& where = {}) {
    auto ctx = open(data, size, lim, where);
    const png_info info = info_of(ctx.get(), where);
    check_image_pixels(std::uint64_t(info.width), std::uint64_t(info.height), lim, where);
    spng_ihdr h{};
    spng_get_ihdr(ctx.get(), &h);

    std::size_t len = 0;
    int e = spng_decoded_image_size(ctx.get(), SPNG_FMT_PNG, &len);
    if (e) detail::throw_png(e, where, "size");  // len is bounded by the pixel check above
    raw_.resize(len);
    // spng ORs deinterlaced sub-byte pixels into the buffer: it must start zeroed.
    if (info.interlaced && h.bit_depth < 8) std::fill(raw_.begin(), raw_.end(), std::uint8_t{0});
    e = spng_decode_image(ctx.get(), raw_.data(), len, SPNG_FMT_PNG, 0);
    if (e) detail::throw_png(e, where, "data");

    spng_trns trns{};
    const bool has_trns = info.has_trns && spng_get_trns(ctx.get(), &trns) == 0;
    const int w = info.width, hgt = info.height;
    const int depth = h.bit_depth;
    const int samples = h.color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3 : h.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2
                        : h.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ? 4 : 1;
    const std::size_t row_len = (std::size_t(w) * std::size_t(samples) * std::size_t(depth) + 7) / 8;
    if (len < row_len * std::size_t(hgt)) detail::throw_png(SPNG_EINTERNAL, where, "size");

    // Pillow's native image first.
    any_image native;
    // The transparency key Pillow keeps in info["transparency"] (gray / RGB).
    int key_gray = -1;
    int key_r = -1, key_g = -1, key_b = -1;
    switch (h.color_type) {
      case SPNG_COLOR_TYPE_GRAYSCALE: {
        if (has_trns) key_gray = trns.gray & 0xff;
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
        spng_plte plte{};
        if ((e = spng_get_plte(ctx.get(), &plte)) != 0) detail::throw_png(e, where, "palette");
        // Pillow's palette starts as a gray ramp: entries past PLTE map to (i, i, i).
        std::uint8_t lut[256][4];
        for (int i = 0; i < 256; ++i) {
          lut[i][0] = lut[i][1] = lut[i][2] = std::uint8_t(i);
          lut[i][3] = 255;
        }
        for (std::uint32_t i = 0; i < plte.n_entries && i < 256; ++i) {
          lut[i][0] = plte.entries[i].red;
          lut[i][1] = plte.entries[i].green;
          lut[i][2] = plte.entries[i].blue;
        }
        if (has_trns)
          for (std::uint32_t i = 0; i < trns.n_type3_entries && i < 256; ++i) lut[i][3] = trns.type3_alpha[i];
        const int ch = has_trns ? 4 : 3;
        image<std::uint8_t> im(w, hgt, ch);
        im.set_mode(has_trns ? pixel_mode::rgba : pixel_mode::rgb);
        idx_.resize(std::size_t(w));
        for (int y = 0; y < hgt; ++y) {
          unpack_indices(raw_.data() + std::size_t(y) * row_len, depth, w, idx_.data(), 1);
          std::uint8_t* dst = im.row(y);
          for (int x = 0; x < w; ++x, dst += ch) std::memcpy(dst, lut[idx_[std::size_t(x)]], std::size_t(ch));
        }
        native = std::move(im);
        break;
      }
      default: {  // RGB, LA, RGBA: 8-bit as is, 16-bit keeps the high byte
        const int ch = h.color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3 : h.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2 : 4;
        if (has_trns && ch == 3) { key_r = trns.red & 0xff; key_g = trns.green & 0xff; key_b = trns.blue & 0xff; }
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
    if (!mode || *mode == info.mode) return native;
    const pixel_mode to = *mode;
    // Pillow's convert_transparent: a gray / RGB key becomes alpha 0 when
    // converting L, I or "1" to LA/RGBA, or RGB to RGBA (not RGB to LA).
    if (key_gray >= 0 && (to == pixel_mode::la || to == pixel_mode::rgba)) {
      any_image out = convert(native, to);
      auto& im = std::get<image<std::uint8_t>>(out);
      const int ch = im.channels();
      std::uint8_t* p = im.data();
      for (std::size_t i = 0, n = std::size_t(w) * std::size_t(hgt); i < n; ++i, p += ch)
        if (p[0] == key_gray) p[ch - 1] = 0;
      return out;
    }
    if (key_r >= 0 && to == pixel_mode::rgba) {
      const auto& rgb = std::get<image<std::uint8_t>>(native);
      any_image out = convert(native, to);
      auto& im = std::get<image<std::uint8_t>>(out);
      const int ch = im.channels();
      const std::uint8_t* s = rgb.data();
      std::uint8_t* p = im.data();
      for (std::size_t i = 0, n = std::size_t(w) * std::size_t(hgt); i < n; ++i, p += ch, s += 3)
        if (s[0] == key_r && s[1] == key_g && s[2] == key_b) p[ch - 1] = 0;
      return out;
    }
    return convert(native, to);
  }

 private:
  static detail::spng_ctx_ptr open(const std::byte* data, std::size_t size, const limits& lim,
                                   const location& where) {
    if (data == nullptr || size == 0) throw decode_error(430, where, "empty PNG data");
    detail::spng_ctx_ptr ctx(spng_ctx_new(0));
    if (!ctx) throw std::bad_alloc();
    const std::size_t chunk = static_cast<std::size_t>(
        std::min<std::uint64_t>(lim.max_png_chunk_size, std::numeric_limits<std::uint32_t>::max() >> 1));
    spng_set_chunk_limits(ctx.get(), chunk, chunk);
    spng_set_png_buffer(ctx.get(), data, size);
    return ctx;
  }

  static png_info info_of(spng_ctx* ctx, const location& where) {
    spng_ihdr h{};
    const int e = spng_get_ihdr(ctx, &h);
    if (e) detail::throw_png(e, where, "header");
    png_info info;
    info.width = static_cast<int>(h.width);
    info.height = static_cast<int>(h.height);
    info.bit_depth = h.bit_depth;
    info.color_type = h.color_type;
    info.interlaced = h.interlace_method != 0;
    spng_trns t{};
    // Reading tRNS parses the chunks before IDAT: their errors surface here.
    const int te = spng_get_trns(ctx, &t);
    if (te && te != SPNG_ECHUNKAVAIL) detail::throw_png(te, where, "chunks");
    info.has_trns = te == 0;
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
  std::vector<std::uint8_t> idx_;
};

namespace detail {
template <class T>
std::vector<std::byte> encode_png_impl(image_view<const T> src, int bit_depth, const png_options& opt,
                                       std::vector<std::uint8_t>& scratch) {
  const int ch = src.channels();
  if (ch < 1 || ch > 4) throw decode_error(434, location{}, "cannot write a " + std::to_string(ch) + "-channel image as PNG");
  if (src.width() <= 0 || src.height() <= 0) throw decode_error(434, location{}, "cannot write an empty image as PNG");
  if (opt.compression_level < 0 || opt.compression_level > 9)
    throw decode_error(434, location{}, "PNG compression_level must be 0..9");
  const std::size_t row_len = std::size_t(src.width()) * std::size_t(ch) * sizeof(T);
  scratch.resize(row_len * std::size_t(src.height()));
  for (int y = 0; y < src.height(); ++y) {
    auto* dst = reinterpret_cast<T*>(scratch.data() + std::size_t(y) * row_len);
    const T* s = src.row(y);
    for (int x = 0; x < src.width(); ++x, s += src.x_step())
      for (int c = 0; c < ch; ++c) *dst++ = s[c];
  }
  spng_ctx_ptr ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw std::bad_alloc();
  spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_LEVEL, opt.compression_level);
  spng_ihdr h{};
  h.width = std::uint32_t(src.width());
  h.height = std::uint32_t(src.height());
  h.bit_depth = std::uint8_t(bit_depth);
  h.color_type = std::uint8_t(ch == 1 ? SPNG_COLOR_TYPE_GRAYSCALE : ch == 2 ? SPNG_COLOR_TYPE_GRAYSCALE_ALPHA
                              : ch == 3 ? SPNG_COLOR_TYPE_TRUECOLOR : SPNG_COLOR_TYPE_TRUECOLOR_ALPHA);
  int e = spng_set_ihdr(ctx.get(), &h);
  if (!e) e = spng_encode_image(ctx.get(), scratch.data(), scratch.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
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

}  // namespace wds
