// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// webdataset's default field decoders (autodecode.py basichandlers), without
// the unsafe ones (pickle, torch) and the optional ones (msgpack, cbor, npz):
//   cls cls2 index inx id  -> int(data)            decode_cls
//   txt text transcript    -> data.decode("utf-8")  decode_text
//   json jsn               -> json.loads(data)      json::parse
//   npy                    -> numpy read_array       npy_decode
//   ten tb                 -> tenbin decode_buffer   tenbin_decode
// As in Python, only the last dot-separated part of the field name picks the
// decoder ("seg.cls" is a cls field) and the match is case-sensitive. Gzip
// ("x.json.gz") is not undone here: gunzip with wds/codec/gzip.hpp first.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <wds/error.hpp>
#include <wds/json.hpp>
#include <wds/limits.hpp>
#include <wds/npy.hpp>
#include <wds/tenbin.hpp>
#include <wds/tensor.hpp>

WDS_NAMESPACE_BEGIN

enum class field_kind : std::uint8_t { bytes, integer, text, json, npy, tenbin };

// The decoder Python's basichandlers would pick for a field name / extension.
inline field_kind field_kind_of(std::string_view ext) noexcept {
  const std::size_t dot = ext.rfind('.');
  if (dot != std::string_view::npos) ext.remove_prefix(dot + 1);
  if (ext == "cls" || ext == "cls2" || ext == "index" || ext == "inx" || ext == "id")
    return field_kind::integer;
  if (ext == "txt" || ext == "text" || ext == "transcript") return field_kind::text;
  if (ext == "json" || ext == "jsn") return field_kind::json;
  if (ext == "npy") return field_kind::npy;
  if (ext == "ten" || ext == "tb") return field_kind::tenbin;
  return field_kind::bytes;
}

namespace detail {
inline location field_at(const location& where, std::size_t pos) {
  location l = where;
  l.offset = where.offset == location::unknown_offset ? pos : where.offset + pos;
  return l;
}
}  // namespace detail

// Python's int(bytes) in base 10: ASCII whitespace (space, \t \n \v \f \r)
// around, an optional sign, digits with single '_' between them, at most
// 4300 digits. Error 490 for what int() rejects, limit 523 for values
// outside int64 (Python would return a big int).
inline std::int64_t decode_cls(const std::byte* data, std::size_t size, const location& where = {}) {
  const auto* s = reinterpret_cast<const unsigned char*>(data);
  auto space = [](unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  auto bad = [&](std::size_t pos) {
    return decode_error(490, detail::field_at(where, pos),
                        "cls: invalid literal for int() with base 10");
  };
  std::size_t i = 0;
  while (i < size && space(s[i])) ++i;
  bool neg = false;
  if (i < size && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  const std::size_t digits_start = i;
  std::uint64_t magnitude = 0;
  bool overflow = false;
  std::size_t digits = 0;
  while (i < size) {
    if (s[i] >= '0' && s[i] <= '9') {
      const std::uint64_t d = s[i] - '0';
      if (magnitude > (UINT64_MAX - d) / 10) overflow = true;
      else magnitude = magnitude * 10 + d;
      ++digits;
      ++i;
    } else if (s[i] == '_' && digits > 0 && i + 1 < size && s[i + 1] >= '0' && s[i + 1] <= '9') {
      ++i;
    } else {
      break;
    }
  }
  if (digits == 0) throw bad(digits_start);
  const std::size_t end_digits = i;
  while (i < size && space(s[i])) ++i;
  if (i != size) throw bad(i);
  if (digits > 4300)
    throw decode_error(490, detail::field_at(where, digits_start),
                       "cls: more than 4300 digits (Python's int_max_str_digits)");
  const std::uint64_t limit = neg ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
  if (overflow || magnitude > limit)
    throw limit_error(523, detail::field_at(where, end_digits), "cls: integer outside int64");
  return neg ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
}

inline std::int64_t decode_cls(const std::vector<std::byte>& b, const location& where = {}) {
  return decode_cls(b.data(), b.size(), where);
}

// bytes.decode("utf-8"): the same bytes, after a strict check (no
// surrogates, overlongs or code points past U+10FFFF). Error 491 at the
// first invalid byte. A BOM is kept, as Python keeps it.
inline std::string decode_text(const std::byte* data, std::size_t size, const location& where = {}) {
  const auto* s = reinterpret_cast<const unsigned char*>(data);
  const std::size_t bad = detail::utf8_error_offset(s, size, false);
  if (bad != std::string::npos)
    throw decode_error(491, detail::field_at(where, bad), "text: invalid UTF-8");
  return std::string(reinterpret_cast<const char*>(data), size);
}

inline std::string decode_text(const std::vector<std::byte>& b, const location& where = {}) {
  return decode_text(b.data(), b.size(), where);
}

// What decode_field returns: the undecoded bytes for fields without a
// default decoder, else the decoded value.
using field_value =
    std::variant<std::vector<std::byte>, std::int64_t, std::string, json, ndarray, std::vector<ndarray>>;

inline field_value decode_field(std::string_view ext, const std::byte* data, std::size_t size,
                                const limits& lim = {}, const location& where = {}) {
  switch (field_kind_of(ext)) {
    case field_kind::integer: return decode_cls(data, size, where);
    case field_kind::text: return decode_text(data, size, where);
    case field_kind::json: return json::parse(data, size, where);
    case field_kind::npy: return npy_decode(data, size, lim, where);
    case field_kind::tenbin: return tenbin_decode(data, size, lim, where);
    case field_kind::bytes: break;
  }
  return std::vector<std::byte>(data, data + size);
}

inline field_value decode_field(std::string_view ext, const std::vector<std::byte>& b,
                                const limits& lim = {}, const location& where = {}) {
  return decode_field(ext, b.data(), b.size(), lim, where);
}

// writer.py's encoders for the same fields: str(x) in ASCII, and text as
// its UTF-8 bytes.
inline std::vector<std::byte> encode_cls(std::int64_t v) {
  const std::string s = std::to_string(v);
  return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                reinterpret_cast<const std::byte*>(s.data()) + s.size());
}

inline std::vector<std::byte> encode_text(std::string_view s) {
  return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                reinterpret_cast<const std::byte*>(s.data()) + s.size());
}

WDS_NAMESPACE_END
