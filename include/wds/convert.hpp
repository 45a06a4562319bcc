// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// Pixel mode conversions with Pillow 9.4's exact integer formulas
// (libImaging/Convert.c), including its fallback through the "base" mode
// (I, F, I;16, LA -> L; CMYK, RGBA -> RGB) when no direct converter exists.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "wds/error.hpp"
#include "wds/image.hpp"

WDS_NAMESPACE_BEGIN

// Pillow's name for a mode ("L", "LA", "RGB", "RGBA", "CMYK", "I;16", "I", "F").
inline constexpr const char* mode_name(pixel_mode m) noexcept {
  switch (m) {
    case pixel_mode::l: return "L";
    case pixel_mode::la: return "LA";
    case pixel_mode::rgb: return "RGB";
    case pixel_mode::rgba: return "RGBA";
    case pixel_mode::cmyk: return "CMYK";
    case pixel_mode::i16: return "I;16";
    case pixel_mode::i: return "I";
    case pixel_mode::f: return "F";
  }
  return "?";
}

// True for the modes stored as uint8_t samples.
inline constexpr bool is_8bit_mode(pixel_mode m) noexcept {
  return m == pixel_mode::l || m == pixel_mode::la || m == pixel_mode::rgb ||
         m == pixel_mode::rgba || m == pixel_mode::cmyk;
}

namespace detail {

// Error 460: the conversion does not exist in Pillow either (e.g. RGB -> I;16),
// or the image's channel count does not fit its mode.
[[noreturn]] inline void throw_bad_conversion(pixel_mode from, pixel_mode to, const char* why) {
  throw decode_error(460, location{},
                     std::string("cannot convert ") + mode_name(from) + " to " + mode_name(to) +
                         ": " + why);
}

// ITU-R 601-2 luma in Pillow's 16.16 fixed point (L24 >> 16).
inline std::uint8_t luma_601(unsigned r, unsigned g, unsigned b) noexcept {
  return static_cast<std::uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}
// Pillow's L() macro (thousandths), used by the RGB -> F conversion.
inline std::int32_t luma_601_milli(int r, int g, int b) noexcept {
  return r * 299 + g * 587 + b * 114;
}
inline int muldiv255(int a, int b) noexcept {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}
inline std::uint8_t clip8(int v) noexcept {
  return static_cast<std::uint8_t>(v <= 0 ? 0 : v >= 255 ? 255 : v);
}
// f2l: clamp, then truncate toward zero; NaN maps to 0 as on x86.
inline std::uint8_t float_to_l(float v) noexcept {
  if (v <= 0.0f) return 0;
  if (v >= 255.0f) return 255;
  if (!(v == v)) return 0;
  return static_cast<std::uint8_t>(static_cast<int>(v));
}
// f2i: C truncation; values C leaves undefined give INT_MIN like x86's cvttss2si.
inline std::int32_t float_to_i(float v) noexcept {
  if (!(v >= -2147483648.0f && v < 2147483648.0f)) return INT32_MIN;
  return static_cast<std::int32_t>(v);
}

// Applies fn(const S* in, D* out) to every pixel; CI/CO are channel counts.
template <int CI, int CO, class S, class D, class Fn>
void map_pixels(image_view<const S> src, image<D>& dst, Fn fn) {
  for (int y = 0; y < src.height(); ++y) {
    const S* in = src.row(y);
    D* out = dst.row(y);
    const std::ptrdiff_t xs = src.x_step();
    for (int x = 0; x < src.width(); ++x, in += xs, out += CO) fn(in, out);
  }
}

template <class D, int CO, class S, int CI, class Fn>
image<D> map_image(image_view<const S> src, pixel_mode to, Fn fn) {
  image<D> dst(src.width(), src.height(), CO);
  dst.set_mode(to);
  map_pixels<CI, CO>(src, dst, fn);
  return dst;
}

// 8-bit to 8-bit, every pair of L/LA/RGB/RGBA/CMYK.
inline image<std::uint8_t> convert_8bit(image_view<const std::uint8_t> s, pixel_mode from,
                                        pixel_mode to) {
  using u8 = std::uint8_t;
  using M = pixel_mode;
  if (from == to) {
    image<u8> out = materialize(s);
    out.set_mode(to);
    return out;
  }
  // CMYK has direct converters only to RGB(A); everything else goes through RGB.
  if (from == M::cmyk && to != M::rgb && to != M::rgba) {
    image<u8> rgb = convert_8bit(s, M::cmyk, M::rgb);
    return convert_8bit(rgb.view(), M::rgb, to);
  }
  const auto cmyk2rgb = [](const u8* in, u8* out) {
    const int nk = 255 - in[3];
    out[0] = clip8(nk - muldiv255(in[0], nk));
    out[1] = clip8(nk - muldiv255(in[1], nk));
    out[2] = clip8(nk - muldiv255(in[2], nk));
  };
  switch (from) {
    case M::l:
      switch (to) {
        case M::la: return map_image<u8, 2, u8, 1>(s, to, [](const u8* i, u8* o) { o[0] = i[0]; o[1] = 255; });
        case M::rgb: return map_image<u8, 3, u8, 1>(s, to, [](const u8* i, u8* o) { o[0] = o[1] = o[2] = i[0]; });
        case M::rgba: return map_image<u8, 4, u8, 1>(s, to, [](const u8* i, u8* o) { o[0] = o[1] = o[2] = i[0]; o[3] = 255; });
        case M::cmyk: return map_image<u8, 4, u8, 1>(s, to, [](const u8* i, u8* o) { o[0] = o[1] = o[2] = 0; o[3] = u8(255 - i[0]); });
        default: break;
      }
      break;
    case M::la:
      switch (to) {
        case M::l: return map_image<u8, 1, u8, 2>(s, to, [](const u8* i, u8* o) { o[0] = i[0]; });
        case M::rgb: return map_image<u8, 3, u8, 2>(s, to, [](const u8* i, u8* o) { o[0] = o[1] = o[2] = i[0]; });
        case M::rgba: return map_image<u8, 4, u8, 2>(s, to, [](const u8* i, u8* o) { o[0] = o[1] = o[2] = i[0]; o[3] = i[1]; });
        case M::cmyk: return map_image<u8, 4, u8, 2>(s, to, [](const u8* i, u8* o) { o[0] = o[1] = o[2] = 0; o[3] = u8(255 - i[0]); });
        default: break;
      }
      break;
    case M::rgb:
      switch (to) {
        case M::l: return map_image<u8, 1, u8, 3>(s, to, [](const u8* i, u8* o) { o[0] = luma_601(i[0], i[1], i[2]); });
        case M::la: return map_image<u8, 2, u8, 3>(s, to, [](const u8* i, u8* o) { o[0] = luma_601(i[0], i[1], i[2]); o[1] = 255; });
        case M::rgba: return map_image<u8, 4, u8, 3>(s, to, [](const u8* i, u8* o) { o[0] = i[0]; o[1] = i[1]; o[2] = i[2]; o[3] = 255; });
        case M::cmyk: return map_image<u8, 4, u8, 3>(s, to, [](const u8* i, u8* o) { o[0] = u8(255 - i[0]); o[1] = u8(255 - i[1]); o[2] = u8(255 - i[2]); o[3] = 0; });
        default: break;
      }
      break;
    case M::rgba:
      switch (to) {
        case M::l: return map_image<u8, 1, u8, 4>(s, to, [](const u8* i, u8* o) { o[0] = luma_601(i[0], i[1], i[2]); });
        case M::la: return map_image<u8, 2, u8, 4>(s, to, [](const u8* i, u8* o) { o[0] = luma_601(i[0], i[1], i[2]); o[1] = i[3]; });
        case M::rgb: return map_image<u8, 3, u8, 4>(s, to, [](const u8* i, u8* o) { o[0] = i[0]; o[1] = i[1]; o[2] = i[2]; });
        case M::cmyk: return map_image<u8, 4, u8, 4>(s, to, [](const u8* i, u8* o) { o[0] = u8(255 - i[0]); o[1] = u8(255 - i[1]); o[2] = u8(255 - i[2]); o[3] = 0; });
        default: break;
      }
      break;
    case M::cmyk:
      if (to == M::rgb) return map_image<u8, 3, u8, 4>(s, to, [&](const u8* i, u8* o) { cmyk2rgb(i, o); });
      if (to == M::rgba) return map_image<u8, 4, u8, 4>(s, to, [&](const u8* i, u8* o) { cmyk2rgb(i, o); o[3] = 255; });
      break;
    default: break;
  }
  throw_bad_conversion(from, to, "not an 8-bit mode pair");
}

inline void check_channels(int channels, pixel_mode mode) {
  if (channels != channels_of(mode)) throw_bad_conversion(mode, mode, "channel count does not match the mode");
}

}  // namespace detail

// Converts between the 8-bit modes (L, LA, RGB, RGBA, CMYK) exactly as
// Pillow's Image.convert does. Throws decode_error 460 for other modes.
inline image<std::uint8_t> convert(image_view<const std::uint8_t> src, pixel_mode from,
                                   pixel_mode to) {
  if (!is_8bit_mode(from) || !is_8bit_mode(to))
    detail::throw_bad_conversion(from, to, "this overload takes 8-bit modes only");
  detail::check_channels(src.channels(), from);
  return detail::convert_8bit(src, from, to);
}

// Converts any image to any mode exactly as Pillow 9.4's Image.convert(mode)
// (I -> L/RGB clamp to 0..255, I;16 -> L clamps, F -> L clamps and truncates,
// RGB -> I is the 8-bit luma). The source mode is the image's mode().
// Conversions Pillow rejects (RGB/RGBA/CMYK -> I;16) throw decode_error 460.
inline any_image convert(const any_image& src, pixel_mode to) {
  using u8 = std::uint8_t;
  using u16 = std::uint16_t;
  using i32 = std::int32_t;
  using M = pixel_mode;
  using detail::map_image;
  return std::visit(
      [&](const auto& im) -> any_image {
        using T = typename std::decay_t<decltype(im)>::value_type;
        const M from = im.mode();
        detail::check_channels(im.channels(), from);
        if (std::is_same_v<T, u8> != is_8bit_mode(from) ||
            (std::is_same_v<T, u16> && from != M::i16) ||
            (std::is_same_v<T, i32> && from != M::i) || (std::is_same_v<T, float> && from != M::f))
          detail::throw_bad_conversion(from, to, "sample type does not match the mode");
        const image_view<const T> s = im.view();
        if (from == to) return im;
        if constexpr (std::is_same_v<T, u8>) {
          if (is_8bit_mode(to)) return detail::convert_8bit(s, from, to);
          // To I / F / I;16: LA goes through L, CMYK through RGB (Pillow's base modes).
          if (from == M::la) {
            image<u8> l = detail::convert_8bit(s, from, M::l);
            return convert(any_image(std::move(l)), to);
          }
          if (from == M::cmyk) {
            if (to == M::i16) detail::throw_bad_conversion(from, to, "Pillow has no such conversion");
            image<u8> rgb = detail::convert_8bit(s, from, M::rgb);
            return convert(any_image(std::move(rgb)), to);
          }
          if (from == M::l) {
            if (to == M::i) return map_image<i32, 1, u8, 1>(s, to, [](const u8* i, i32* o) { o[0] = i[0]; });
            if (to == M::f) return map_image<float, 1, u8, 1>(s, to, [](const u8* i, float* o) { o[0] = float(i[0]); });
            return map_image<u16, 1, u8, 1>(s, to, [](const u8* i, u16* o) { o[0] = i[0]; });
          }
          // RGB, RGBA
          if (to == M::i16) detail::throw_bad_conversion(from, to, "Pillow has no such conversion");
          if (from == M::rgb) {
            if (to == M::i) return map_image<i32, 1, u8, 3>(s, to, [](const u8* i, i32* o) { o[0] = detail::luma_601(i[0], i[1], i[2]); });
            return map_image<float, 1, u8, 3>(s, to, [](const u8* i, float* o) { o[0] = float(detail::luma_601_milli(i[0], i[1], i[2])) / 1000.0f; });
          }
          if (to == M::i) return map_image<i32, 1, u8, 4>(s, to, [](const u8* i, i32* o) { o[0] = detail::luma_601(i[0], i[1], i[2]); });
          return map_image<float, 1, u8, 4>(s, to, [](const u8* i, float* o) { o[0] = float(detail::luma_601_milli(i[0], i[1], i[2])) / 1000.0f; });
        } else if constexpr (std::is_same_v<T, u16>) {  // I;16
          if (to == M::i) return map_image<i32, 1, u16, 1>(s, to, [](const u16* i, i32* o) { o[0] = i[0]; });
          if (to == M::f) return map_image<float, 1, u16, 1>(s, to, [](const u16* i, float* o) { o[0] = float(i[0]); });
          image<u8> l = map_image<u8, 1, u16, 1>(s, M::l, [](const u16* i, u8* o) { o[0] = i[0] > 255 ? 255 : u8(i[0]); });
          return to == M::l ? any_image(std::move(l)) : any_image(detail::convert_8bit(l.view(), M::l, to));
        } else if constexpr (std::is_same_v<T, i32>) {  // I
          if (to == M::f) return map_image<float, 1, i32, 1>(s, to, [](const i32* i, float* o) { o[0] = float(i[0]); });
          if (to == M::i16) return map_image<u16, 1, i32, 1>(s, to, [](const i32* i, u16* o) { o[0] = u16(i[0] <= 0 ? 0 : i[0] >= 65535 ? 65535 : i[0]); });
          image<u8> l = map_image<u8, 1, i32, 1>(s, M::l, [](const i32* i, u8* o) { o[0] = detail::clip8(i[0]); });
          return to == M::l ? any_image(std::move(l)) : any_image(detail::convert_8bit(l.view(), M::l, to));
        } else {  // F
          if (to == M::i) return map_image<i32, 1, float, 1>(s, to, [](const float* i, i32* o) { o[0] = detail::float_to_i(i[0]); });
          image<u8> l = map_image<u8, 1, float, 1>(s, M::l, [](const float* i, u8* o) { o[0] = detail::float_to_l(i[0]); });
          if (to == M::l) return l;
          if (to == M::i16) return convert(any_image(std::move(l)), to);
          return detail::convert_8bit(l.view(), M::l, to);
        }
      },
      src);
}

// Pillow's info["transparency"] of an image that is not a palette image in
// Pillow (or, with `index`, of one that is): what convert(), the PNG writer
// and the ops that keep info do with it. Read from a PNG tRNS chunk: one
// 16-bit gray sample (modes "1", L, I), an RGB triple, or for a palette
// image the single fully transparent entry; other palette tRNS are `bytes`.
struct color_key {
  enum class kind : std::uint8_t { gray, rgb, index, bytes };
  kind k = kind::gray;
  std::array<int, 3> v{};  // gray / index in v[0]
};

// A Pillow mode as convert() sees it: an 8-bit image may be "1" (bilevel)
// or "P" (palette, colours already looked up in `palette`).
struct pil_mode {
  pixel_mode mode;
  bool bilevel = false;
  const std::array<std::array<std::uint8_t, 4>, 256>* palette = nullptr;
};

namespace detail {
// Image.convert(to) turns a key into alpha 0 (and drops it) for "1"/L/I to
// LA/RGBA and RGB to RGBA.
inline bool key_becomes_alpha(const pil_mode& from, pixel_mode to) noexcept {
  if (from.palette) return false;
  if (to == pixel_mode::rgba && from.mode == pixel_mode::rgb && !from.bilevel) return true;
  return (to == pixel_mode::la || to == pixel_mode::rgba) &&
         (from.bilevel || from.mode == pixel_mode::l || from.mode == pixel_mode::i);
}
}  // namespace detail

// The key Pillow 9.4's Image.convert(to) leaves in info (nullopt: dropped,
// or made alpha: see apply_color_key). L/RGB/P to L/RGB recompute it through
// a 1x1 image; every other pair keeps it as it is.
inline std::optional<color_key> converted_key(const color_key& key, const pil_mode& from, pixel_mode to) {
  using M = pixel_mode;
  const bool same = !from.palette && !from.bilevel && from.mode == to;
  if (same) return key;
  if (detail::key_becomes_alpha(from, to)) return std::nullopt;
  const bool lrgbp = from.palette || (!from.bilevel && (from.mode == M::l || from.mode == M::rgb));
  if (lrgbp && (to == M::l || to == M::rgb)) {
    if (key.k == color_key::kind::bytes) return std::nullopt;  // Pillow warns and deletes it
    std::array<int, 3> c{};
    if (from.palette) {
      const auto& e = (*from.palette)[detail::clip8(key.v[0])];
      c = {e[0], e[1], e[2]};
    } else if (from.mode == M::l) {
      const int t = detail::clip8(key.v[0]);
      c = {t, t, t};
    } else if (key.k == color_key::kind::rgb) {
      c = {detail::clip8(key.v[0]), detail::clip8(key.v[1]), detail::clip8(key.v[2])};
    } else {  // an int on an RGB image: putpixel reads it as 0xBBGGRR
      c = {key.v[0] & 255, (key.v[0] >> 8) & 255, (key.v[0] >> 16) & 255};
    }
    color_key out;
    if (to == M::rgb) {
      out.k = color_key::kind::rgb;
      out.v = c;
    } else {
      out.v[0] = detail::luma_601(unsigned(c[0]), unsigned(c[1]), unsigned(c[2]));
    }
    return out;
  }
  if (from.palette && (to == M::la || to == M::rgba)) return std::nullopt;
  return key;
}

// convert_transparent: in `out` (the LA/RGBA result of converting an image
// `from` for which key_becomes_alpha holds), alpha 0 where the colour equals
// the key's low bytes (gray keys compare all three of L, L, L; an int key on
// an RGB image compares (key, 0, 0)).
inline void apply_color_key(image<std::uint8_t>& out, const color_key& key, const pil_mode& from) {
  const bool gray_src = from.mode != pixel_mode::rgb || from.bilevel;
  int r = key.v[0] & 255, g = key.v[1] & 255, b = key.v[2] & 255;
  if (gray_src) g = b = r;
  else if (key.k != color_key::kind::rgb) g = b = 0;
  const int ch = out.channels();
  for (int y = 0; y < out.height(); ++y) {
    std::uint8_t* p = out.row(y);
    for (int x = 0; x < out.width(); ++x, p += ch) {
      const bool hit = ch == 2 ? p[0] == r : (p[0] == r && p[1] == g && p[2] == b);  // LA: from a gray source
      if (hit) p[ch - 1] = 0;
    }
  }
}

// Image.convert(to)'s whole treatment of `key` for an image converted from
// `from` into `converted` (an LA/RGBA result when key_becomes_alpha holds).
inline void carry_color_key(std::optional<color_key>& key, const pil_mode& from, pixel_mode to,
                            image<std::uint8_t>* converted) {
  if (!key) return;
  if (detail::key_becomes_alpha(from, to)) apply_color_key(*converted, *key, from);
  key = converted_key(*key, from, to);
}

WDS_NAMESPACE_END
