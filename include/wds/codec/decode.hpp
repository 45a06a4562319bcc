// SPDX-License-Identifier: MIT
#pragma once

// decode_image: sniff JPEG / PNG by magic bytes and decode with whichever of
// the codecs this build has (WDS_HAS_JPEG / WDS_HAS_PNG).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "wds/config.hpp"
#include "wds/convert.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/limits.hpp"

#if WDS_HAS_JPEG
#include "wds/codec/jpeg.hpp"
#endif
#if WDS_HAS_PNG
#include "wds/codec/png.hpp"
#endif

WDS_NAMESPACE_BEGIN

enum class image_format { unknown, jpeg, png };

// JPEG: FF D8 FF; PNG: the 8-byte signature.
inline image_format sniff_image_format(const std::byte* data, std::size_t size) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  if (p && size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return image_format::jpeg;
  static constexpr unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (p && size >= 8) {
    bool ok = true;
    for (int i = 0; i < 8; ++i) ok = ok && p[i] == png_sig[i];
    if (ok) return image_format::png;
  }
  return image_format::unknown;
}

// decode_image with reusable codec state, for loops over many images (the
// one-shot function sets up libjpeg for every call). Not thread-safe.
class image_decoder {
 public:
  any_image decode(const std::byte* data, std::size_t size,
                   std::optional<pixel_mode> mode = std::nullopt, const limits& lim = {},
                   const location& where = {}) {
    (void)lim;
    // Tested once, here: GCC -O3 otherwise tests an empty optional's unset
    // payload before its flag (harmless, but valgrind reports every call).
    const bool has_mode = mode.has_value();
    const pixel_mode m = has_mode ? *mode : pixel_mode{};
    (void)m;
    comment_.reset();
    key_.reset();
    palette_ = nullptr;
    palette_size_ = 0;
    bilevel_ = false;
    switch (sniff_image_format(data, size)) {
      case image_format::jpeg: {
#if WDS_HAS_JPEG
        comment_ = jpeg_comment(data, size);
        jpeg_decode_options opt;
        if (has_mode && is_8bit_mode(m)) opt.mode = m;
        any_image img = jpeg_.decode(data, size, opt, lim, where);
        if (has_mode && !is_8bit_mode(m)) return convert(img, m);
        return img;
#else
        throw decode_error(461, where, "JPEG data, but this build has no JPEG codec (WDS_HAS_JPEG=0)");
#endif
      }
      case image_format::png: {
#if WDS_HAS_PNG
        any_image img = png_.decode(data, size, mode, lim, where);
        comment_ = png_.comment();
        key_ = png_.transparency();
        if (!mode) palette_ = png_.palette();  // still a palette image in Pillow
        if (palette_) palette_size_ = png_.palette_size();
        bilevel_ = !mode && png_.bilevel();
        return img;
#else
        throw decode_error(461, where, "PNG data, but this build has no PNG codec (WDS_HAS_PNG=0)");
#endif
      }
      default:
        break;
    }
    throw decode_error(461, where, size == 0 ? "empty image data" : "unknown image format (not JPEG or PNG)");
  }

  // Pillow's info["comment"] of the last decode: a JPEG's COM marker, a PNG's
  // "comment" text chunk (UTF-8). Ops that keep Pillow's info carry it.
  const std::optional<std::string>& comment() const noexcept { return comment_; }

  // The palette (256 RGBA entries) when the last decode was a palette PNG in
  // its native mode: Pillow still holds mode P there, so padding it writes
  // index 0 (palette()[0]), a fill f writes palette()[f], and resizing uses
  // NEAREST. nullptr otherwise.
  const std::array<std::array<std::uint8_t, 4>, 256>* palette() const noexcept { return palette_; }

  // The last decode was a 1-bit gray PNG in its native mode: Pillow's mode
  // "1" (we give L 0/255), where a fill f pads with f ? 255 : 0 and resizing
  // uses NEAREST.
  bool bilevel() const noexcept { return bilevel_; }

  // The PLTE length of a palette() image (Pillow writes it back with 1, 2 or
  // 4-bit indices when it has at most 16 entries).
  int palette_size() const noexcept { return palette_size_; }

  // Pillow's info["transparency"] after the last decode (see color_key).
  const std::optional<color_key>& transparency() const noexcept { return key_; }

#if WDS_HAS_JPEG
  jpeg_decoder& jpeg() noexcept { return jpeg_; }
#endif
#if WDS_HAS_PNG
  png_decoder& png() noexcept { return png_; }
#endif

 private:
  std::optional<std::string> comment_;
  const std::array<std::array<std::uint8_t, 4>, 256>* palette_ = nullptr;
  int palette_size_ = 0;
  std::optional<color_key> key_;
  bool bilevel_ = false;
#if WDS_HAS_JPEG
  jpeg_decoder jpeg_;
#endif
#if WDS_HAS_PNG
  png_decoder png_;
#endif
};

// Decodes a JPEG or PNG file held in memory. mode = std::nullopt keeps the
// file's own mode (JPEG: L, RGB, CMYK; PNG: see png_info::mode); otherwise the
// result equals Pillow's Image.open(f).convert(mode), any of the pixel_modes.
// Unknown data, or a format this build has no codec for: decode_error 461.
inline any_image decode_image(const std::byte* data, std::size_t size,
                              std::optional<pixel_mode> mode = std::nullopt,
                              const limits& lim = {}, const location& where = {}) {
  image_decoder d;
  return d.decode(data, size, mode, lim, where);
}

WDS_NAMESPACE_END
