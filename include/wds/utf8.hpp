// SPDX-License-Identifier: MIT
#pragma once

// UTF-8 code points in and out, shared by wds/json.hpp and wds/unicode.hpp
// (without the case tables that the latter needs).

#include <wds/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

WDS_NAMESPACE_BEGIN
namespace unicode {

// Decodes the UTF-8 sequence at s[i]: its length (0 when invalid: bad lead or
// continuation, overlong, surrogate, above U+10FFFF) and the code point.
inline std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) noexcept {
  auto u = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = u(i);
  const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  std::uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1fu) : n == 3 ? (c & 0x0fu) : (c & 0x07u);
  for (std::size_t k = 1; k < n; ++k) {
    if ((u(i + k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (u(i + k) & 0x3fu);
  }
  static constexpr std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min_cp[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  cp = v;
  return n;
}

// Surrogates are written like any other BMP code point (generalized UTF-8, as
// JSON's \uD800 escapes need).
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace unicode
WDS_NAMESPACE_END
