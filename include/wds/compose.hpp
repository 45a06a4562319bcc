// SPDX-License-Identifier: MIT
#pragma once

// Run-time transform specs for the CLI (--map EXT=SPEC) and the server:
//
//   auto p = wds::compose("decode|resize(256)|center_crop(224)|jpeg(90)");
//   std::vector<std::byte> out = p.apply(bytes.data(), bytes.size(), where);
//
// A spec is ops separated by '|'; an op is a name with optional arguments in
// parentheses. The whole spec is checked (names, arguments, the type flowing
// between ops, codecs built in) by compose() before any input is read; every
// problem is a wds::spec_error whose offset() is the byte position in the spec.
// The same ops as wds::transforms run underneath; to_tensor|normalize|
// to_pil_image is fused into one lookup table (bit-identical).

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "wds/config.hpp"
#include "wds/convert.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/limits.hpp"
#include "wds/npy.hpp"
#include "wds/resize.hpp"
#include "wds/tensor.hpp"
#include "wds/transforms.hpp"

#if WDS_HAS_JPEG || WDS_HAS_PNG
#include "wds/codec/decode.hpp"
#endif
#if WDS_HAS_JPEG
#include "wds/codec/jpeg.hpp"
#endif
#if WDS_HAS_PNG
#include "wds/codec/png.hpp"
#endif

WDS_NAMESPACE_BEGIN

// What flows between ops: encoded bytes, a decoded image, or a CHW tensor.
using pipeline_value = std::variant<std::vector<std::byte>, any_image, tensor<float>>;

// Where a compiled pipeline starts: encoded bytes (the spec begins with
// decode and ends with an encoder) or a decoded image (no decode; an encoder
// at the end is optional).
enum class pipeline_input : std::uint8_t { bytes, image };

class compiled_pipeline;
inline compiled_pipeline compose(std::string_view spec, pipeline_input input = pipeline_input::bytes,
                                 const limits& lim = {});

namespace detail {

enum class value_kind : std::uint8_t { bytes, image, tensor, encoded };

inline const char* kind_name(value_kind k) noexcept {
  switch (k) {
    case value_kind::bytes: return "encoded bytes";
    case value_kind::image: return "an image";
    case value_kind::tensor: return "a tensor";
    case value_kind::encoded: return "encoded output";
  }
  return "?";
}

enum class op_code : std::uint8_t {
  decode, resize, center_crop, crop, pad, hflip, vflip, grayscale, to_tensor, normalize,
  to_pil_image, normalize_u8, convert, jpeg, png, npy
};

struct compose_step {
  op_code op{};
  std::size_t offset = 0;  // of the op name in the spec
  std::string name;
  std::vector<int> ints;   // sizes, paddings, quality, ...
  std::vector<float> floats;
  std::optional<pixel_mode> mode;
  resample_filter filter = resample_filter::bilinear;
  pad_mode padding = pad_mode::constant;
  std::optional<int> max_size;
  normalize_lut lut;
};

struct spec_arg {
  std::string text;
  std::size_t offset = 0;
};

[[noreturn]] inline void spec_fail(int id, std::size_t offset, std::string_view spec, const std::string& why) {
  location where;
  where.offset = offset;
  throw spec_error(id, std::move(where), why + " (in spec \"" + std::string(spec) + "\")");
}

inline bool parse_int(std::string_view s, long long lo, long long hi, int& out) noexcept {
  if (s.empty() || s.size() > 12) return false;
  std::size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return false;
  long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  if (neg) v = -v;
  if (v < lo || v > hi) return false;
  out = int(v);
  return true;
}

inline bool parse_float(std::string_view s, float& out) {
  if (s.empty() || s.size() > 40) return false;
  for (char c : s)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
      return false;
  const std::string t(s);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !(v == v) || v > 3.4e38 || v < -3.4e38) return false;
  out = float(v);  // torch.as_tensor(mean, dtype=float32)
  return true;
}

inline std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

inline std::optional<pixel_mode> parse_mode(std::string_view s) {
  const std::string m = lower(s);
  if (m == "l") return pixel_mode::l;
  if (m == "la") return pixel_mode::la;
  if (m == "rgb") return pixel_mode::rgb;
  if (m == "rgba") return pixel_mode::rgba;
  if (m == "cmyk") return pixel_mode::cmyk;
  if (m == "i16" || m == "i;16") return pixel_mode::i16;
  if (m == "i") return pixel_mode::i;
  if (m == "f") return pixel_mode::f;
  return std::nullopt;
}

constexpr int max_spec_size = 1 << 24;  // pixels per side an op may ask for

}  // namespace detail

// A parsed, type-checked spec. Copyable; apply() is const and may run from
// several threads at once.
class compiled_pipeline {
 public:
  compiled_pipeline() = default;

  const std::string& spec() const noexcept { return spec_; }
  pipeline_input input() const noexcept { return input_; }
  // True when the spec ends with jpeg, png or npy.
  bool encodes() const noexcept { return !steps_.empty() && is_encoder(steps_.back().op); }

  // Bytes in, bytes out (spec compiled with pipeline_input::bytes).
  std::vector<std::byte> apply(const std::byte* data, std::size_t size, const location& where = {}) const {
    if (input_ != pipeline_input::bytes)
      throw spec_error(621, where, "pipeline \"" + spec_ + "\" takes images, not bytes");
    state s;
    s.bytes.assign(data, data + size);
    s.kind = detail::value_kind::bytes;
    run(s, where);
    return std::move(s.bytes);
  }
  std::vector<std::byte> apply(const std::vector<std::byte>& data, const location& where = {}) const {
    return apply(data.data(), data.size(), where);
  }

  // Image in; the result is an image, a tensor, or encoded bytes (when the
  // spec ends with an encoder). Spec compiled with pipeline_input::image.
  pipeline_value apply_image(any_image img, const location& where = {}) const {
    if (input_ != pipeline_input::image)
      throw spec_error(621, where, "pipeline \"" + spec_ + "\" takes encoded bytes, not images");
    state s;
    s.set_image(std::move(img));
    run(s, where);
    switch (s.kind) {
      case detail::value_kind::tensor: return std::move(s.t);
      case detail::value_kind::encoded:
      case detail::value_kind::bytes: return std::move(s.bytes);
      default: return s.take_image();
    }
  }

 private:
  friend compiled_pipeline compose(std::string_view, pipeline_input, const limits&);

  static bool is_encoder(detail::op_code op) noexcept {
    return op == detail::op_code::jpeg || op == detail::op_code::png || op == detail::op_code::npy;
  }

  // Intermediate images live in `keep` until apply() returns, so crops and
  // flips stay views.
  struct state {
    detail::value_kind kind = detail::value_kind::bytes;
    std::vector<std::byte> bytes;
    tensor<float> t;
    std::vector<image<std::uint8_t>> keep;
    image_view<const std::uint8_t> u8;
    bool is_u8 = false;
    any_image other;  // non-8-bit image when !is_u8
    // Pillow's info["comment"]: set by decode, kept by the ops that keep
    // info (crop, resize, convert, flips), dropped by padding and tensors,
    // written by jpeg.
    std::optional<std::string> comment;
    // Set while the image is still a palette image in Pillow (decode(native)
    // of a palette PNG, until an op converts it): padding writes palette[fill].
    bool has_palette = false;
    std::array<std::array<std::uint8_t, 4>, 256> palette{};
    int palette_size = 0;  // PLTE entries (see png_palette_as_saved)
    bool bilevel = false;  // Pillow's mode "1" (see image_decoder::bilevel)
    // Pillow's info["transparency"]: kept and dropped with the comment,
    // recomputed or made alpha by convert, written by png.
    std::optional<color_key> key;

    // The image is new in Pillow (padding, fromarray, tensors): no info.
    void drop_info() {
      comment.reset();
      key.reset();
    }
    pil_mode pillow_mode() const {
      const pixel_mode m = is_u8 ? u8.mode() : std::visit([](const auto& im) { return im.mode(); }, other);
      return {m, bilevel, has_palette ? &palette : nullptr};
    }

    void set_u8(image<std::uint8_t> img) {
      keep.push_back(std::move(img));
      u8 = keep.back().view();
      is_u8 = true;
      kind = detail::value_kind::image;
    }
    void set_u8(image_ref<std::uint8_t> r) {
      if (r.owns()) return set_u8(std::move(r).take());
      u8 = r.view();
      is_u8 = true;
      kind = detail::value_kind::image;
    }
    void set_image(any_image img) {
      if (auto* p = std::get_if<image<std::uint8_t>>(&img)) return set_u8(std::move(*p));
      other = std::move(img);
      is_u8 = false;
      kind = detail::value_kind::image;
    }
    any_image take_image() {
      if (!is_u8) return std::move(other);
      return materialize(u8);
    }
    std::pair<int, int> size() const {  // width, height
      if (is_u8) return {u8.width(), u8.height()};
      return std::visit([](const auto& im) { return std::pair<int, int>(im.width(), im.height()); }, other);
    }
  };

  [[noreturn]] void runtime_fail(const detail::compose_step& st, const location& where,
                                 const std::string& why) const {
    throw spec_error(620, where, "op \"" + st.name + "\" (spec \"" + spec_ + "\" at " +
                                     std::to_string(st.offset) + "): " + why);
  }

  // Specs can come from clients (the server's etl_args): an op may not build an
  // image larger than the decoders may (limit 500, checked before allocating).
  void check_output(const detail::compose_step& st, const location& where, long long w, long long h) const {
    if (w <= 0 || h <= 0) return;
    const auto pixels = static_cast<unsigned long long>(w) * static_cast<unsigned long long>(h);
    if (static_cast<unsigned long long>(w) > limits_.max_image_pixels || pixels > limits_.max_image_pixels)
      throw limit_error(500, where,
                        "op \"" + st.name + "\" would make an image of " + std::to_string(w) + "x" +
                            std::to_string(h) + " pixels, which exceeds limits::max_image_pixels (" +
                            std::to_string(limits_.max_image_pixels) + ")");
  }

  const image_view<const std::uint8_t>& need_u8(const state& s, const detail::compose_step& st,
                                                const location& where) const {
    if (!s.is_u8)
      runtime_fail(st, where,
                   std::string("needs an 8-bit image, got mode ") +
                       std::visit([](const auto& im) { return mode_name(im.mode()); }, s.other) +
                       " (add convert(rgb) or convert(l) before it)");
    return s.u8;
  }

  // The fill of constant padding: `value` in every channel, or palette[value]
  // for a palette image.
  static pixel_fill<std::uint8_t> u8_fill(const state& s, int value) {
    if (s.bilevel) value = value ? 255 : 0;
    if (!s.has_palette) return {std::uint8_t(value), std::uint8_t(value), std::uint8_t(value), std::uint8_t(value)};
    return s.palette[std::size_t(value & 255)];
  }

  // Padding a palette image makes a new P image without info, so its tRNS
  // transparency is gone: our RGBA expansion becomes RGB.
  static void padded_palette(state& s) {
    if (!s.has_palette || !s.is_u8 || s.u8.channels() != 4) return;
    image<std::uint8_t> rgb(s.u8.width(), s.u8.height(), 3);
    rgb.set_mode(pixel_mode::rgb);
    for (int y = 0; y < s.u8.height(); ++y) {
      std::uint8_t* d = rgb.row(y);
      for (int x = 0; x < s.u8.width(); ++x, d += 3) std::memcpy(d, s.u8.pixel(x, y), 3);
    }
    s.set_u8(std::move(rgb));
  }

  // What Pillow's PNG writer and a reopen make of a palette image: with at
  // most 16 PLTE entries it writes 1-, 2- or 4-bit indices (1-bit: index != 0,
  // else the low bits), tRNS cut to the PLTE length, and entries past PLTE
  // read back as its gray ramp. Each pixel's index is the first entry with
  // its colour (pixels of a palette image hold palette colours only).
  static image<std::uint8_t> png_palette_as_saved(image_view<const std::uint8_t> src,
                                                  const std::array<std::array<std::uint8_t, 4>, 256>& pal, int n) {
    const int colors = std::max(std::min(n, 256), 1);
    const int bits = colors <= 2 ? 1 : colors <= 4 ? 2 : colors <= 16 ? 4 : 8;
    const int ch = src.channels();
    std::array<std::array<std::uint8_t, 4>, 256> saved{};
    bool same = true;
    for (int i = 0; i < 256; ++i) {
      const int j = bits == 1 ? (i != 0) : bits == 8 ? i : i & ((1 << bits) - 1);
      saved[std::size_t(i)] = j < n ? pal[std::size_t(j)] : std::array<std::uint8_t, 4>{std::uint8_t(j), std::uint8_t(j), std::uint8_t(j), 255};
      same = same && std::memcmp(saved[std::size_t(i)].data(), pal[std::size_t(i)].data(), std::size_t(ch)) == 0;
    }
    image<std::uint8_t> out = materialize(src);
    if (same) return out;
    const auto code = [ch](const std::uint8_t* p) {
      std::uint32_t v = 0;
      for (int c = 0; c < ch; ++c) v = (v << 8) | p[c];
      return v;
    };
    std::vector<std::pair<std::uint32_t, int>> first;  // colour -> lowest index, sorted by colour
    for (int i = 0; i < 256; ++i) first.emplace_back(code(pal[std::size_t(i)].data()), i);
    std::stable_sort(first.begin(), first.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (int y = 0; y < out.height(); ++y) {
      std::uint8_t* p = out.row(y);
      for (int x = 0; x < out.width(); ++x, p += ch) {
        const std::uint32_t c = code(p);
        auto it = std::lower_bound(first.begin(), first.end(), c, [](const auto& e, std::uint32_t v) { return e.first < v; });
        if (it != first.end() && it->first == c) std::memcpy(p, saved[std::size_t(it->second)].data(), std::size_t(ch));
      }
    }
    return out;
  }

  [[noreturn]] void palette_tensor_fail(const detail::compose_step& st, const location& where) const {
    runtime_fail(st, where, "torchvision makes a tensor of palette indices from a palette image, wds decodes "
                            "palettes to colours: add convert(rgb) first");
  }

  // Applies fn(image_view<const T>) -> image<T> to a non-8-bit image.
  template <class F>
  static void map_other(state& s, F&& fn) {
    any_image next = std::visit(
        [&](const auto& im) -> any_image {
          using T = typename std::decay_t<decltype(im)>::value_type;
          return fn(image_view<const T>(im.view()));
        },
        s.other);
    s.other = std::move(next);
  }

  void run(state& s, const location& where) const {
    using detail::op_code;
    for (const auto& st : steps_) {
      switch (st.op) {
        case op_code::decode: {
#if WDS_HAS_JPEG || WDS_HAS_PNG
          image_decoder dec;
          any_image img = dec.decode(s.bytes.data(), s.bytes.size(), st.mode, limits_, where);
          s.comment = dec.comment();
          s.has_palette = dec.palette() != nullptr;
          if (s.has_palette) s.palette = *dec.palette();
          s.bilevel = dec.bilevel();
          s.palette_size = dec.palette_size();
          s.key = dec.transparency();
          s.bytes.clear();
          s.bytes.shrink_to_fit();
          s.set_image(std::move(img));
#endif
          break;
        }
        case op_code::resize: {
          if (!s.is_u8) {
            if (std::holds_alternative<image<std::uint16_t>>(s.other))
              runtime_fail(st, where, "I;16 images cannot be resized (Pillow 9.4 refuses too); add convert(i)");
            map_other(s, [&](auto v) {
              using T = typename decltype(v)::value_type;
              const image_size o = st.ints.size() == 2 ? image_size{st.ints[0], st.ints[1]}
                                                       : resized_size(v.height(), v.width(), st.ints[0], st.max_size);
              if (o.height == v.height() && o.width == v.width()) return materialize(v);
              if (o.height < 1 || o.width < 1) runtime_fail(st, where, "output size would be 0");
              check_output(st, where, o.width, o.height);
              if constexpr (std::is_same_v<T, std::uint16_t>) return materialize(v);  // excluded above
              else return resize_plan(v.width(), v.height(), o.width, o.height, st.filter)(v);
            });
            break;
          }
          const auto& v = need_u8(s, st, where);
          // Pillow resizes palette and bilevel images ("P", "1") with NEAREST.
          const resample_filter filter = s.has_palette || s.bilevel ? resample_filter::nearest : st.filter;
          image_size o = st.ints.size() == 2 ? image_size{st.ints[0], st.ints[1]}
                                             : resized_size(v.height(), v.width(), st.ints[0], st.max_size);
          if (o.height == v.height() && o.width == v.width()) break;
          if (o.height < 1 || o.width < 1) runtime_fail(st, where, "output size would be 0");
          check_output(st, where, o.width, o.height);
          s.set_u8(resize_plan(v.width(), v.height(), o.width, o.height, filter)(v));
          break;
        }
        case op_code::center_crop: {
          check_output(st, where, st.ints[1], st.ints[0]);
          const auto [w, h] = s.size();
          const bool pads = center_crop_pads(w, h, st.ints[0], st.ints[1]);
          if (pads) s.drop_info();  // padded: a new image
          if (s.is_u8) {
            s.set_u8(wds::center_crop(s.u8, st.ints[0], st.ints[1], u8_fill(s, 0)));
            if (pads) padded_palette(s);
          } else {
            map_other(s, [&](auto v) { return std::move(wds::center_crop(v, st.ints[0], st.ints[1])).take(); });
          }
          break;
        }
        case op_code::crop:
          check_output(st, where, st.ints[3], st.ints[2]);
          if (s.is_u8) s.set_u8(wds::crop(s.u8, st.ints[0], st.ints[1], st.ints[2], st.ints[3], u8_fill(s, 0)));
          else map_other(s, [&](auto v) { return std::move(wds::crop(v, st.ints[0], st.ints[1], st.ints[2], st.ints[3])).take(); });
          break;
        case op_code::pad: {
          const auto [w, h] = s.size();
          check_output(st, where, static_cast<long long>(w) + st.ints[0] + st.ints[2],
                       static_cast<long long>(h) + st.ints[1] + st.ints[3]);
          s.drop_info();  // ImageOps.expand / Image.fromarray: a new image without info
          if (s.is_u8) {
            const pixel_mode before = s.u8.mode();
            s.set_u8(wds::pad(s.u8, st.ints[0], st.ints[1], st.ints[2], st.ints[3], st.padding, u8_fill(s, st.ints[4])));
            padded_palette(s);
            // torchvision pads other modes through numpy and Image.fromarray,
            // which makes a 4-channel CMYK image RGBA.
            if (before == pixel_mode::cmyk && st.padding != pad_mode::constant) {
              image<std::uint8_t> im = std::move(s.keep.back());
              s.keep.pop_back();
              im.set_mode(pixel_mode::rgba);
              s.set_u8(std::move(im));
            }
          } else {
            map_other(s, [&](auto v) {
              using T = typename decltype(v)::value_type;
              return wds::pad(v, st.ints[0], st.ints[1], st.ints[2], st.ints[3], st.padding, T(st.ints[4]));
            });
          }
          break;
        }
        case op_code::hflip:
          if (s.is_u8) s.u8 = wds::hflip(s.u8);
          else map_other(s, [](auto v) { return materialize(wds::hflip(v)); });
          break;
        case op_code::vflip:
          if (s.is_u8) s.u8 = wds::vflip(s.u8);
          else map_other(s, [](auto v) { return materialize(wds::vflip(v)); });
          break;
        case op_code::grayscale:
          carry_color_key(s.key, s.pillow_mode(), pixel_mode::l, nullptr);  // to L: never alpha
          s.bilevel = false;
          // torchvision's Grayscale is convert("L") first, from any mode.
          if (!s.is_u8) s.set_image(wds::convert(s.take_image(), pixel_mode::l));
          s.set_u8(wds::grayscale(need_u8(s, st, where), st.ints[0]));
          s.has_palette = false;
          if (st.ints[0] == 3) s.drop_info();  // torchvision: Image.fromarray of the stacked L
          break;
        case op_code::convert: {
          const pil_mode from = s.pillow_mode();
          if (s.key && s.key->k == color_key::kind::bytes && detail::key_becomes_alpha(from, *st.mode))
            runtime_fail(st, where, "Pillow 9.4 cannot apply a palette's per-entry transparency after leaving mode P");
          s.has_palette = false;
          s.bilevel = false;
          if (s.is_u8 && is_8bit_mode(*st.mode)) {
            if (s.u8.mode() != *st.mode) s.set_u8(wds::convert(s.u8, s.u8.mode(), *st.mode));
          } else {
            s.set_image(wds::convert(s.take_image(), *st.mode));
          }
          // The alpha cases convert L/I/"1"/RGB to LA/RGBA: always a new u8 image.
          carry_color_key(s.key, from, *st.mode, s.keep.empty() ? nullptr : &s.keep.back());
          break;
        }
        case op_code::to_tensor:
          if (s.has_palette) palette_tensor_fail(st, where);
          s.drop_info();
          s.t = wds::to_tensor(need_u8(s, st, where));
          s.kind = detail::value_kind::tensor;
          break;
        case op_code::normalize:
          if (st.floats.size() / 2 != 1 && st.floats.size() / 2 != s.t.dim(0))
            runtime_fail(st, where, "mean/std count differs from the tensor's " + std::to_string(s.t.dim(0)) +
                                        " channels");
          s.t = wds::normalize(std::move(s.t), half(st.floats, 0), half(st.floats, 1));
          break;
        case op_code::to_pil_image: {
          image<std::uint8_t> img = wds::to_pil_image(s.t);
          s.t = tensor<float>();
          s.set_u8(std::move(img));
          break;
        }
        case op_code::normalize_u8: {
          if (s.has_palette) palette_tensor_fail(st, where);
          s.drop_info();  // ToTensor / ToPILImage drop info
          const auto& v = need_u8(s, st, where);
          if (st.lut.channels() != 1 && st.lut.channels() != v.channels())
            runtime_fail(st, where, "mean/std count differs from the image's " + std::to_string(v.channels()) +
                                        " channels");
          s.set_u8(st.lut(v));
          break;
        }
        case op_code::jpeg: {
#if WDS_HAS_JPEG
          jpeg_options opt;
          if (!st.ints.empty()) opt.quality = st.ints[0];
          if (s.comment) opt.comment = *s.comment;  // Pillow's save writes info["comment"]
          if (s.has_palette) runtime_fail(st, where, "cannot write a palette image (mode P) as JPEG (Pillow refuses too); add convert(rgb)");
          s.bytes = encode_jpeg(need_u8(s, st, where), opt);
          s.kind = detail::value_kind::encoded;
#endif
          break;
        }
        case op_code::png: {
#if WDS_HAS_PNG
          png_options opt;
          if (!st.ints.empty() && st.ints[0] < 0) opt.fast = true;
          else if (!st.ints.empty()) opt.compression_level = st.ints[0];
          if (!s.has_palette) opt.transparency = s.key;
          if (s.is_u8) {
            if (s.u8.mode() == pixel_mode::cmyk) runtime_fail(st, where, "cannot write mode CMYK as PNG (Pillow refuses too)");
            if (s.has_palette) s.set_u8(png_palette_as_saved(s.u8, s.palette, s.palette_size));
            s.bytes = encode_png(s.u8, opt);
          } else if (auto* p16 = std::get_if<image<std::uint16_t>>(&s.other)) {
            s.bytes = encode_png(image_view<const std::uint16_t>(p16->view()), opt);
          } else {
            runtime_fail(st, where, "PNG needs an 8-bit or I;16 image");
          }
          s.kind = detail::value_kind::encoded;
#endif
          break;
        }
        case op_code::npy:
          if (s.kind == detail::value_kind::tensor) {
            s.bytes = npy_encode(s.t);
          } else if (s.is_u8) {
            s.bytes = npy_encode(s.u8);
          } else {
            s.bytes = std::visit(
                [](const auto& im) {
                  using T = typename std::decay_t<decltype(im)>::value_type;
                  return npy_encode(image_view<const T>(im.view()));
                },
                s.other);
          }
          s.kind = detail::value_kind::encoded;
          break;
      }
    }
  }

  static std::vector<float> half(const std::vector<float>& v, int which) {
    const std::size_t n = v.size() / 2;
    return std::vector<float>(v.begin() + long(which * n), v.begin() + long(which * n + n));
  }

  std::string spec_;
  pipeline_input input_ = pipeline_input::bytes;
  limits limits_;
  std::vector<detail::compose_step> steps_;
};

// Parses and type-checks `spec`. Grammar (spaces allowed around tokens):
//   spec := op ('|' op)*      op := name ['(' [arg (',' arg)*] ')']
// Ops and their arguments are listed in README ("Transform specs").
inline compiled_pipeline compose(std::string_view spec, pipeline_input input, const limits& lim) {
  using detail::op_code;
  using detail::spec_fail;
  using detail::value_kind;
  compiled_pipeline out;
  out.spec_ = std::string(spec);
  out.input_ = input;
  out.limits_ = lim;
  if (spec.size() > 65536) spec_fail(602, 0, spec.substr(0, 64), "spec longer than 64 KiB");

  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < spec.size() && (spec[i] == ' ' || spec[i] == '\t')) ++i;
  };
  auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  auto is_arg_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '+' || c == ';';
  };

  value_kind kind = input == pipeline_input::bytes ? value_kind::bytes : value_kind::image;
  skip_ws();
  if (i == spec.size()) spec_fail(600, 0, spec, "empty spec");
  while (true) {
    skip_ws();
    const std::size_t name_at = i;
    while (i < spec.size() && is_name_char(spec[i])) ++i;
    const std::string name = detail::lower(spec.substr(name_at, i - name_at));
    if (name.empty()) {
      if (i == spec.size() || spec[i] == '|') spec_fail(600, name_at, spec, "empty op");
      spec_fail(602, name_at, spec, std::string("unexpected character '") + spec[i] + "'");
    }
    std::vector<detail::spec_arg> args;
    skip_ws();
    if (i < spec.size() && spec[i] == '(') {
      ++i;
      skip_ws();
      if (i < spec.size() && spec[i] == ')') {
        ++i;
      } else {
        while (true) {
          skip_ws();
          const std::size_t at = i;
          if (i < spec.size() && spec[i] == '[') {  // [h,w] list, kept as "hxw"
            ++i;
            std::string list;
            while (i < spec.size() && spec[i] != ']') {
              if (spec[i] == ',') list += 'x';
              else if (spec[i] != ' ') list += spec[i];
              ++i;
            }
            if (i == spec.size()) spec_fail(602, at, spec, "missing ']'");
            ++i;
            args.push_back({list, at});
          } else {
            while (i < spec.size() && is_arg_char(spec[i])) ++i;
            if (i == at) {
              if (i == spec.size()) spec_fail(602, i, spec, "missing ')'");
              spec_fail(602, i, spec, std::string("unexpected character '") + spec[i] + "' in arguments");
            }
            args.push_back({std::string(spec.substr(at, i - at)), at});
          }
          skip_ws();
          if (i < spec.size() && spec[i] == ',') {
            ++i;
            continue;
          }
          if (i < spec.size() && spec[i] == ')') {
            ++i;
            break;
          }
          if (i == spec.size()) spec_fail(602, i, spec, "missing ')'");
          spec_fail(602, i, spec, std::string("expected ',' or ')', got '") + spec[i] + "'");
        }
      }
    }

    detail::compose_step st;
    st.offset = name_at;
    st.name = name;
    auto nargs = [&](std::size_t lo, std::size_t hi) {
      if (args.size() < lo || args.size() > hi) {
        std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
        spec_fail(603, name_at, spec, name + " takes " + want + " argument(s), got " + std::to_string(args.size()));
      }
    };
    auto int_arg = [&](const detail::spec_arg& a, long long lo, long long hi, const char* what) {
      int v = 0;
      if (!detail::parse_int(a.text, lo, hi, v))
        spec_fail(604, a.offset, spec, name + ": " + what + " must be an integer in [" + std::to_string(lo) + ", " +
                                           std::to_string(hi) + "], got \"" + a.text + "\"");
      return v;
    };
    // "224" -> (224, 224), "224x200" -> (h 224, w 200)
    auto size_arg = [&](const detail::spec_arg& a, bool& pair) {
      const std::string t = detail::lower(a.text);
      const auto x = t.find('x');
      if (x == std::string::npos) {
        pair = false;
        const int v = int_arg(a, 1, detail::max_spec_size, "size");
        return std::pair<int, int>{v, v};
      }
      pair = true;
      int h = 0, w = 0;
      if (!detail::parse_int(std::string_view(t).substr(0, x), 1, detail::max_spec_size, h) ||
          !detail::parse_int(std::string_view(t).substr(x + 1), 1, detail::max_spec_size, w))
        spec_fail(604, a.offset, spec, name + ": size must be N or HxW with 1 <= N <= " +
                                           std::to_string(detail::max_spec_size) + ", got \"" + a.text + "\"");
      return std::pair<int, int>{h, w};
    };
    auto needs = [&](value_kind want) {
      if (kind == value_kind::encoded) spec_fail(607, name_at, spec, "\"" + name + "\" after an encoder");
      if (kind == want) return;
      if (want == value_kind::image && kind == value_kind::bytes)
        spec_fail(606, name_at, spec, "\"" + name + "\" needs a decoded image: add decode before it");
      spec_fail(605, name_at, spec, "\"" + name + "\" needs " + detail::kind_name(want) + ", but gets " +
                                        detail::kind_name(kind));
    };
    auto need_codec = [&](bool built, const char* which) {
      if (!built)
        spec_fail(609, name_at, spec, "\"" + name + "\" needs " + which + ", which this build does not have");
    };

    if (name == "decode") {
      nargs(0, 1);
      needs(value_kind::bytes);
      need_codec(config::has_jpeg || config::has_png, "a JPEG or PNG codec");
      st.op = op_code::decode;
      st.mode = pixel_mode::rgb;
      if (!args.empty()) {
        if (detail::lower(args[0].text) == "native") {
          st.mode.reset();
        } else {
          st.mode = detail::parse_mode(args[0].text);
          if (!st.mode)
            spec_fail(604, args[0].offset, spec, "decode: mode must be native, l, la, rgb, rgba, cmyk, i16, i or f");
        }
      }
      kind = value_kind::image;
    } else if (name == "resize") {
      nargs(1, 3);
      needs(value_kind::image);
      st.op = op_code::resize;
      bool pair = false;
      const auto hw = size_arg(args[0], pair);
      if (pair) st.ints = {hw.first, hw.second};
      else st.ints = {hw.first};
      if (args.size() >= 2) {
        const auto f = parse_filter(detail::lower(args[1].text));
        if (!f)
          spec_fail(604, args[1].offset, spec,
                    "resize: interpolation must be nearest, bilinear, bicubic, lanczos, box or hamming");
        st.filter = *f;
      }
      if (args.size() == 3) {
        if (pair) spec_fail(604, args[2].offset, spec, "resize: max_size only goes with a single size");
        const int m = int_arg(args[2], 1, detail::max_spec_size, "max_size");
        if (m <= st.ints[0])
          spec_fail(604, args[2].offset, spec, "resize: max_size must be greater than size");
        st.max_size = m;
      }
    } else if (name == "center_crop") {
      nargs(1, 1);
      needs(value_kind::image);
      st.op = op_code::center_crop;
      bool pair = false;
      const auto hw = size_arg(args[0], pair);
      st.ints = {hw.first, hw.second};
    } else if (name == "crop") {
      nargs(4, 4);
      needs(value_kind::image);
      st.op = op_code::crop;
      st.ints = {int_arg(args[0], -detail::max_spec_size, detail::max_spec_size, "top"),
                 int_arg(args[1], -detail::max_spec_size, detail::max_spec_size, "left"),
                 int_arg(args[2], 1, detail::max_spec_size, "height"),
                 int_arg(args[3], 1, detail::max_spec_size, "width")};
    } else if (name == "pad") {
      nargs(1, 6);
      needs(value_kind::image);
      st.op = op_code::pad;
      std::vector<int> nums;
      std::size_t k = 0;
      for (; k < args.size() && k < 5; ++k) {
        int v = 0;
        if (!detail::parse_int(args[k].text, -detail::max_spec_size, detail::max_spec_size, v)) break;
        nums.push_back(v);
      }
      int fill = 0;
      if (nums.size() == 5) {
        fill = nums.back();
        nums.pop_back();
        if (fill < 0 || fill > 255) spec_fail(604, args[4].offset, spec, "pad: fill must be 0-255");
      }
      if (nums.size() == 3 || nums.empty())
        spec_fail(603, name_at, spec, "pad takes 1, 2 or 4 amounts (all; left/right, top/bottom; l, t, r, b)");
      if (k < args.size()) {
        const std::string m = detail::lower(args[k].text);
        if (m == "constant") st.padding = pad_mode::constant;
        else if (m == "edge") st.padding = pad_mode::edge;
        else if (m == "reflect") st.padding = pad_mode::reflect;
        else if (m == "symmetric") st.padding = pad_mode::symmetric;
        else spec_fail(604, args[k].offset, spec, "pad: expected a number, constant, edge, reflect or symmetric");
        if (k + 1 < args.size()) spec_fail(603, args[k + 1].offset, spec, "pad: too many arguments");
      }
      if (nums.size() == 1) nums = {nums[0], nums[0], nums[0], nums[0]};
      else if (nums.size() == 2) nums = {nums[0], nums[1], nums[0], nums[1]};
      st.ints = {nums[0], nums[1], nums[2], nums[3], fill};
    } else if (name == "hflip" || name == "vflip") {
      nargs(0, 0);
      needs(value_kind::image);
      st.op = name == "hflip" ? op_code::hflip : op_code::vflip;
    } else if (name == "grayscale") {
      nargs(0, 1);
      needs(value_kind::image);
      st.op = op_code::grayscale;
      st.ints = {1};
      if (!args.empty()) {
        st.ints[0] = int_arg(args[0], 1, 3, "channels");
        if (st.ints[0] == 2) spec_fail(604, args[0].offset, spec, "grayscale: channels must be 1 or 3");
      }
    } else if (name == "convert") {
      nargs(1, 1);
      needs(value_kind::image);
      st.op = op_code::convert;
      st.mode = detail::parse_mode(args[0].text);
      if (!st.mode) spec_fail(604, args[0].offset, spec, "convert: mode must be l, la, rgb, rgba, cmyk, i16, i or f");
    } else if (name == "to_tensor") {
      nargs(0, 0);
      needs(value_kind::image);
      st.op = op_code::to_tensor;
      kind = value_kind::tensor;
    } else if (name == "normalize") {
      needs(value_kind::tensor);
      st.op = op_code::normalize;
      if (args.size() == 1 && detail::lower(args[0].text) == "imagenet") {
        st.floats = imagenet_mean();
        st.floats.insert(st.floats.end(), imagenet_std().begin(), imagenet_std().end());
      } else {
        if (args.size() < 2 || args.size() > 8 || args.size() % 2)
          spec_fail(603, name_at, spec, "normalize takes imagenet or N means then N stds (N = 1 to 4)");
        for (std::size_t k = 0; k < args.size(); ++k) {
          float v = 0;
          if (!detail::parse_float(args[k].text, v))
            spec_fail(604, args[k].offset, spec, "normalize: \"" + args[k].text + "\" is not a number");
          if (k >= args.size() / 2 && v == 0.0f) spec_fail(604, args[k].offset, spec, "normalize: std is zero");
          st.floats.push_back(v);
        }
      }
    } else if (name == "to_pil_image") {
      nargs(0, 0);
      needs(value_kind::tensor);
      st.op = op_code::to_pil_image;
      kind = value_kind::image;
    } else if (name == "jpeg") {
      nargs(0, 1);
      needs(value_kind::image);
      need_codec(config::has_jpeg, "the JPEG codec (WDS_HAS_JPEG)");
      st.op = op_code::jpeg;
      if (!args.empty()) st.ints = {int_arg(args[0], 0, 100, "quality")};
      kind = value_kind::encoded;
    } else if (name == "png") {
      nargs(0, 1);
      needs(value_kind::image);
      need_codec(config::has_png, "the PNG codec (WDS_HAS_PNG)");
      st.op = op_code::png;
      // png(N): zlib level N; png(fast): png_options::fast
      if (!args.empty()) {
        int level = -1;
        if (args[0].text != "fast" && !detail::parse_int(args[0].text, 0, 9, level))
          spec_fail(604, args[0].offset, spec, "png: the argument must be a zlib level in [0, 9] or \"fast\", got \"" +
                                                   args[0].text + "\"");
        st.ints = {level};
      }
      kind = value_kind::encoded;
    } else if (name == "npy") {
      nargs(0, 0);
      if (kind != value_kind::tensor) needs(value_kind::image);
      st.op = op_code::npy;
      kind = value_kind::encoded;
    } else {
      spec_fail(601, name_at, spec, "unknown op \"" + name + "\"");
    }
    out.steps_.push_back(std::move(st));

    skip_ws();
    if (i == spec.size()) break;
    if (spec[i] != '|') spec_fail(602, i, spec, std::string("expected '|', got '") + spec[i] + "'");
    ++i;
    skip_ws();
    if (i == spec.size()) spec_fail(600, i, spec, "empty op after '|'");
  }
  if (input == pipeline_input::bytes && kind != value_kind::encoded)
    spec_fail(608, spec.size(), spec, "a spec applied to bytes must end with an encoder: jpeg, png or npy");

  // to_tensor|normalize|to_pil_image -> one table per channel (bit-identical).
  auto& s = out.steps_;
  for (std::size_t k = 0; k + 2 < s.size(); ++k) {
    if (s[k].op == op_code::to_tensor && s[k + 1].op == op_code::normalize && s[k + 2].op == op_code::to_pil_image) {
      detail::compose_step f;
      f.op = op_code::normalize_u8;
      f.offset = s[k].offset;
      f.name = "to_tensor|normalize|to_pil_image";
      const auto& v = s[k + 1].floats;
      const std::size_t n = v.size() / 2;
      f.lut = normalize_lut(std::vector<float>(v.begin(), v.begin() + long(n)),
                            std::vector<float>(v.begin() + long(n), v.end()));
      s.erase(s.begin() + long(k), s.begin() + long(k + 3));
      s.insert(s.begin() + long(k), std::move(f));
    }
  }
  return out;
}

WDS_NAMESPACE_END
