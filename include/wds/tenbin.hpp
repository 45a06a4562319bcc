// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// webdataset's tenbin format (webdataset/tenbin.py; extensions .ten, .tb).
// A payload is a sequence of chunks:
//   "~TenBin~" | int64 payload length | payload, zero-padded to a multiple of 64
// and each array is two chunks: a header chunk of int64s
//   dtype ("f4" as 8 NUL-padded ASCII bytes) | info (8 ASCII bytes) | ndim | dims...
// followed by a data chunk with the C-ordered elements. All integers and
// elements are little endian (tenbin.py uses the host order; every platform
// it runs on is little endian).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <wds/error.hpp>
#include <wds/limits.hpp>
#include <wds/tensor.hpp>

WDS_NAMESPACE_BEGIN

// tenbin.py refuses arrays with 10 or more dimensions when writing.
inline constexpr std::size_t tenbin_max_rank = 9;

// One array and its 8-character info string (tenbin.py's "infos").
struct tenbin_entry {
  std::string info;
  ndarray array;
};

namespace detail {

inline constexpr char tenbin_magic[8] = {'~', 'T', 'e', 'n', 'B', 'i', 'n', '~'};

// tenbin.py's long_to_short table. Python spells uint32 "unit32" there, so
// Python can neither write nor read u4; wds reads and writes it.
inline bool tenbin_code(dtype t, std::string& code) {
  switch (t) {
    case dtype::float16: code = "f2"; return true;
    case dtype::float32: code = "f4"; return true;
    case dtype::float64: code = "f8"; return true;
    case dtype::int8: code = "i1"; return true;
    case dtype::int16: code = "i2"; return true;
    case dtype::int32: code = "i4"; return true;
    case dtype::int64: code = "i8"; return true;
    case dtype::uint8: code = "u1"; return true;
    case dtype::uint16: code = "u2"; return true;
    case dtype::uint32: code = "u4"; return true;
    case dtype::uint64: code = "u8"; return true;
    default: return false;
  }
}

inline location tenbin_at(const location& where, std::size_t pos) {
  location l = where;
  l.offset = where.offset == location::unknown_offset ? pos : where.offset + pos;
  return l;
}

inline std::uint64_t tenbin_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

inline void tenbin_put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

// tenbin.py's str64/unstr64: ASCII, NUL padding stripped from both ends.
inline bool tenbin_unstr(const std::byte* p, std::string& s) {
  std::size_t b = 0, e = 8;
  while (b < e && p[b] == std::byte{0}) ++b;
  while (e > b && p[e - 1] == std::byte{0}) --e;
  s.clear();
  for (std::size_t i = b; i < e; ++i) {
    const auto c = std::to_integer<unsigned char>(p[i]);
    if (c >= 0x80) return false;
    s += static_cast<char>(c);
  }
  return true;
}

inline void tenbin_chunk(std::vector<std::byte>& out, const std::byte* p, std::size_t n) {
  out.insert(out.end(), reinterpret_cast<const std::byte*>(tenbin_magic),
             reinterpret_cast<const std::byte*>(tenbin_magic) + 8);
  tenbin_put_u64(out, n);
  if (n) out.insert(out.end(), p, p + n);
  out.resize(out.size() + (64 - n % 64) % 64, std::byte{0});
}

struct tenbin_chunk_view {
  std::size_t offset;  // of the payload
  std::size_t size;
};

}  // namespace detail

// Encodes arrays as tenbin.py's encode_buffer(arrays, infos) does. infos may
// be empty (every info is ""), or hold one string per array (at most 8 ASCII
// characters each). Error 485 for what tenbin cannot hold: bool and complex
// dtypes, 10+ dimensions, a bad info string. uint32 is written as "u4"
// although Python's tenbin cannot read it back.
inline std::vector<std::byte> tenbin_encode(const std::vector<ndarray>& arrays,
                                            const std::vector<std::string>& infos = {}) {
  if (!infos.empty() && infos.size() != arrays.size())
    throw decode_error(485, {}, "tenbin: need one info per array");
  std::vector<std::byte> out;
  const bool swap = host_byte_order() != byte_order::little;
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    const ndarray& a = arrays[i];
    std::string code;
    if (!detail::tenbin_code(a.dtype(), code))
      throw decode_error(485, {}, std::string("tenbin: unsupported dtype ").append(dtype_name(a.dtype())));
    if (a.rank() > tenbin_max_rank) throw decode_error(485, {}, "tenbin: too many dimensions");
    const std::string info = infos.empty() ? std::string() : infos[i];
    if (info.size() > 8) throw decode_error(485, {}, "tenbin: info longer than 8 characters");
    for (char c : info)
      if (static_cast<unsigned char>(c) >= 0x80) throw decode_error(485, {}, "tenbin: info is not ASCII");
    std::vector<std::byte> header;
    for (const std::string& s : {code, info}) {
      for (std::size_t k = 0; k < 8; ++k)
        header.push_back(k < s.size() ? static_cast<std::byte>(s[k]) : std::byte{0});
    }
    detail::tenbin_put_u64(header, a.rank());
    for (std::size_t d : a.shape()) detail::tenbin_put_u64(header, d);
    detail::tenbin_chunk(out, header.data(), header.size());
    if (swap) {
      std::vector<std::byte> le(a.bytes());
      detail::byteswap_elements(le.data(), le.size(), a.itemsize());
      detail::tenbin_chunk(out, le.data(), le.size());
    } else {
      detail::tenbin_chunk(out, a.data(), a.nbytes());
    }
  }
  return out;
}

// Decodes a tenbin payload into its arrays and info strings. Follows
// tenbin.py's decode_buffer, including what it tolerates (a missing pad
// after the last chunk, a data chunk longer than its array), and also reads
// "u4" and 0-d arrays, which tenbin.py cannot. Errors 480-484; 522 when an
// array is larger than limits.max_member_size.
inline std::vector<tenbin_entry> tenbin_decode_entries(const std::byte* data, std::size_t size,
                                                       const limits& lim = {},
                                                       const location& where = {}) {
  using detail::tenbin_at;
  std::vector<detail::tenbin_chunk_view> chunks;
  std::size_t off = 0;
  while (off < size) {
    if (size - off < 8 || std::memcmp(data + off, detail::tenbin_magic, 8) != 0)
      throw decode_error(480, tenbin_at(where, off), "tenbin: magic bytes mismatch");
    if (size - off < 16) throw decode_error(481, tenbin_at(where, size), "tenbin: truncated chunk length");
    const std::uint64_t n = detail::tenbin_u64(data + off + 8);
    if (n > static_cast<std::uint64_t>(INT64_MAX))
      throw decode_error(481, tenbin_at(where, off + 8), "tenbin: negative chunk length");
    off += 16;
    if (n > size - off)
      throw decode_error(481, tenbin_at(where, size),
                         "tenbin: truncated chunk: length " + std::to_string(n) + ", " +
                             std::to_string(size - off) + " bytes left");
    chunks.push_back({off, static_cast<std::size_t>(n)});
    const std::size_t padded = static_cast<std::size_t>(n) + (64 - static_cast<std::size_t>(n) % 64) % 64;
    off = padded > size - off ? size : off + padded;
  }
  if (chunks.size() % 2)
    throw decode_error(484, tenbin_at(where, size), "tenbin: header chunk without a data chunk");
  std::vector<tenbin_entry> out;
  out.reserve(chunks.size() / 2);
  for (std::size_t i = 0; i < chunks.size(); i += 2) {
    const auto& hc = chunks[i];
    const auto& dc = chunks[i + 1];
    const std::byte* h = data + hc.offset;
    if (hc.size % 8 != 0 || hc.size < 24)
      throw decode_error(482, tenbin_at(where, hc.offset), "tenbin: malformed header chunk");
    std::string code, info;
    if (!detail::tenbin_unstr(h, code))
      throw decode_error(483, tenbin_at(where, hc.offset), "tenbin: dtype is not ASCII");
    dtype type = dtype::float32;
    byte_order ignored = byte_order::little;
    static constexpr const char* codes[] = {"f2", "f4", "f8", "i1", "i2", "i4",
                                            "i8", "u1", "u2", "u4", "u8"};
    bool known = false;
    for (const char* c : codes) known = known || code == c;
    if (!known || !parse_dtype(code, type, ignored))
      throw decode_error(483, tenbin_at(where, hc.offset),
                         "tenbin: unsupported array type '" + detail::printable(code) + "'");
    if (!detail::tenbin_unstr(h + 8, info))
      throw decode_error(482, tenbin_at(where, hc.offset + 8), "tenbin: info is not ASCII");
    const std::uint64_t rank = detail::tenbin_u64(h + 16);
    if (rank > (hc.size - 24) / 8)
      throw decode_error(482, tenbin_at(where, hc.offset + 16), "tenbin: rank larger than the header");
    std::vector<std::size_t> shape;
    for (std::uint64_t k = 0; k < rank; ++k) {
      const std::uint64_t d = detail::tenbin_u64(h + 24 + 8 * k);
      if (d > static_cast<std::uint64_t>(INT64_MAX) || d > SIZE_MAX)
        throw decode_error(482, tenbin_at(where, hc.offset + 24 + 8 * k), "tenbin: invalid dimension");
      shape.push_back(static_cast<std::size_t>(d));
    }
    const std::size_t nbytes = ndarray::checked_nbytes(type, shape, tenbin_at(where, hc.offset));
    if (nbytes > lim.max_member_size)
      throw limit_error(522, tenbin_at(where, hc.offset), "tenbin: array exceeds max_member_size");
    if (dc.size < nbytes)
      throw decode_error(484, tenbin_at(where, dc.offset),
                         "tenbin: data chunk has " + std::to_string(dc.size) + " bytes, shape needs " +
                             std::to_string(nbytes));
    std::vector<std::byte> bytes(data + dc.offset, data + dc.offset + nbytes);
    if (host_byte_order() != byte_order::little)
      detail::byteswap_elements(bytes.data(), bytes.size(), dtype_size(type));
    out.push_back({std::move(info), ndarray(type, std::move(shape), std::move(bytes))});
  }
  return out;
}

// The arrays of a tenbin payload (tenbin.py's decode_buffer).
inline std::vector<ndarray> tenbin_decode(const std::byte* data, std::size_t size,
                                          const limits& lim = {}, const location& where = {}) {
  std::vector<ndarray> out;
  for (tenbin_entry& e : tenbin_decode_entries(data, size, lim, where)) out.push_back(std::move(e.array));
  return out;
}

inline std::vector<ndarray> tenbin_decode(const std::vector<std::byte>& bytes, const limits& lim = {},
                                          const location& where = {}) {
  return tenbin_decode(bytes.data(), bytes.size(), lim, where);
}

WDS_NAMESPACE_END
