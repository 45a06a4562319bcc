// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// NumPy .npy read/write for the numeric dtypes (numpy/lib/format.py, format
// versions 1.0, 2.0 and 3.0). npy_encode writes what numpy.save writes, byte
// for byte; npy_decode reads what numpy.load reads (minus object and
// structured arrays) into a C-ordered, host-order wds::ndarray.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <wds/error.hpp>
#include <wds/image.hpp>
#include <wds/limits.hpp>
#include <wds/tensor.hpp>

WDS_NAMESPACE_BEGIN

// numpy's _MAX_HEADER_SIZE: longer headers need allow_pickle there, and are
// refused here (error 520).
inline constexpr std::size_t npy_max_header_size = 10000;
// numpy 2's NPY_MAXDIMS; numpy 1.x stops at 32.
inline constexpr std::size_t npy_max_rank = 64;

struct npy_options {
  // 0 picks the oldest version that can hold the header, as numpy.save does
  // (always 1.0 for numeric arrays); 1, 2 or 3 force that version.
  int version = 0;
  // Byte order of the payload. numpy.save writes the array's own order,
  // which is little endian for arrays made on x86/ARM.
  byte_order order = byte_order::little;
  // Write the payload in Fortran (column-major) order with
  // 'fortran_order': True, as numpy.save does for F-contiguous arrays.
  bool fortran_order = false;
};

// The parsed header of an .npy payload.
struct npy_header {
  int major_version = 1;
  int minor_version = 0;
  wds::dtype dtype = wds::dtype::float32;
  byte_order order = byte_order::little;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::size_t data_offset = 0;  // where the array data starts
  std::size_t nbytes = 0;       // bytes of array data that follow
};

namespace detail {

inline location npy_at(const location& where, std::size_t pos) {
  location l = where;
  l.offset = where.offset == location::unknown_offset ? pos : where.offset + pos;
  return l;
}

// Reads the Python dict literal numpy writes as the header, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
// Accepts any key order, either quote, extra whitespace, trailing commas and
// Python 2's "3L" ints (numpy filters those too); nothing else.
class npy_header_parser {
 public:
  npy_header_parser(std::string_view text, std::size_t base, const location& where)
      : s_(text), base_(base), where_(where) {}

  void parse(npy_header& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    std::string descr;
    std::size_t descr_at = 0;
    skip_ws();
    expect('{', "header is not a Python dict");
    skip_ws();
    while (peek() != '}') {
      const std::string key = string_literal();
      skip_ws();
      expect(':', "expected ':' in header dict");
      skip_ws();
      if (key == "descr") {
        if (peek() == '[') fail(474, "structured dtypes are not supported");
        descr_at = i_;
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean_literal();
        have_order = true;
      } else if (key == "shape") {
        h.shape = shape_tuple();
        have_shape = true;
      } else {
        fail(473, "unexpected key '" + detail::printable(key) + "' in header");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        skip_ws();
      } else if (peek() != '}') {
        fail(473, "expected ',' or '}' in header dict");
      }
    }
    ++i_;
    skip_ws();
    if (i_ != s_.size()) fail(473, "text after the header dict");
    if (!have_descr || !have_order || !have_shape)
      fail(473, "header lacks one of 'descr', 'fortran_order', 'shape'");
    if (!parse_dtype(descr, h.dtype, h.order)) {
      i_ = descr_at;
      fail(474, "unsupported dtype descr '" + detail::printable(descr) + "'");
    }
  }

 private:
  [[noreturn]] void fail(int id, const std::string& why) const {
    throw decode_error(id, npy_at(where_, base_ + std::min(i_, s_.size())), "npy: " + why);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c, const char* why) {
    if (peek() != c) fail(473, why);
    ++i_;
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' ||
                              s_[i_] == '\r' || s_[i_] == '\f'))
      ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail(473, "expected a quoted string in header");
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\' || s_[i_] == '\n') fail(473, "unsupported string literal in header");
      ++i_;
    }
    if (i_ >= s_.size()) fail(473, "unterminated string in header");
    return std::string(s_.substr(start, i_++ - start));
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    const std::size_t end = i_ + w.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_'))
      return false;
    i_ = end;
    return true;
  }
  bool boolean_literal() {
    if (word("True")) return true;
    if (word("False")) return false;
    fail(473, "fortran_order is not True or False");
  }
  // A Python int literal >= 0: decimal digits, single '_' between digits, an
  // optional 'L'.
  std::size_t dimension() {
    if (peek() == '-') fail(475, "negative dimension in shape");
    if (peek() < '0' || peek() > '9') fail(473, "shape entries must be integers");
    const bool leading_zero = peek() == '0';
    std::uint64_t v = 0;
    bool overflow = false, nonzero_after_zero = false;
    std::size_t digits = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c >= '0' && c <= '9') {
        if (digits > 0 && leading_zero && c != '0') nonzero_after_zero = true;
        const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
        v = v * 10 + d;
        ++digits;
        ++i_;
      } else if (c == '_' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9') {
        ++i_;
      } else {
        break;
      }
    }
    if (nonzero_after_zero) fail(473, "leading zeros in a shape entry");
    if (peek() == 'L') ++i_;
    if (overflow || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        v > std::numeric_limits<std::size_t>::max())
      fail(475, "dimension too large");
    return static_cast<std::size_t>(v);
  }
  std::vector<std::size_t> shape_tuple() {
    expect('(', "shape is not a tuple");
    std::vector<std::size_t> shape;
    skip_ws();
    bool comma = false;
    while (peek() != ')') {
      if (shape.size() == npy_max_rank) fail(475, "too many dimensions");
      shape.push_back(dimension());
      skip_ws();
      comma = false;
      if (peek() == ',') {
        comma = true;
        ++i_;
        skip_ws();
      } else if (peek() != ')') {
        fail(473, "expected ',' or ')' in shape");
      }
    }
    ++i_;
    // "(3)" is the int 3 in Python, not a tuple.
    if (shape.size() == 1 && !comma) fail(473, "shape is not a tuple");
    return shape;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::size_t base_;
  const location& where_;
};

// Visits every element of a C-ordered array in Fortran order (or the other
// way round): calls f(c_index, f_index) for each element.
template <class F>
void for_each_transposed(const std::vector<std::size_t>& shape, F&& f) {
  std::size_t count = 1;
  for (std::size_t d : shape) count *= d;
  if (count == 0) return;
  const std::size_t rank = shape.size();
  std::vector<std::size_t> fstride(rank), idx(rank, 0);
  std::size_t s = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    fstride[k] = s;
    s *= shape[k];
  }
  std::size_t foff = 0;
  for (std::size_t c = 0; c < count; ++c) {
    f(c, foff);
    // Advance the C-order index (last axis fastest) and keep foff in step.
    for (std::size_t k = rank; k-- > 0;) {
      if (++idx[k] < shape[k]) {
        foff += fstride[k];
        break;
      }
      foff -= (shape[k] - 1) * fstride[k];
      idx[k] = 0;
    }
  }
}

inline std::uint64_t read_le(const std::byte* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

}  // namespace detail

// Parses the magic, version and header dict of an .npy payload and checks
// that the array data is all there. Errors: 470-475 (bad input), 520 (header
// longer than npy_max_header_size), 522 (array larger than
// limits.max_member_size).
inline npy_header npy_decode_header(const std::byte* data, std::size_t size,
                                    const limits& lim = {}, const location& where = {}) {
  using detail::npy_at;
  static constexpr unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 8) {
    if (size >= 1 && std::memcmp(data, magic, std::min<std::size_t>(size, 6)) == 0)
      throw decode_error(472, npy_at(where, size), "npy: truncated magic");
    throw decode_error(470, npy_at(where, 0), "npy: not an .npy payload (bad magic)");
  }
  if (std::memcmp(data, magic, 6) != 0)
    throw decode_error(470, npy_at(where, 0), "npy: not an .npy payload (bad magic)");
  npy_header h;
  h.major_version = std::to_integer<int>(data[6]);
  h.minor_version = std::to_integer<int>(data[7]);
  if (h.minor_version != 0 || h.major_version < 1 || h.major_version > 3)
    throw decode_error(471, npy_at(where, 6),
                       "npy: unsupported format version " + std::to_string(h.major_version) + "." +
                           std::to_string(h.minor_version));
  const std::size_t len_size = h.major_version == 1 ? 2 : 4;
  if (size < 8 + len_size) throw decode_error(472, npy_at(where, size), "npy: truncated header length");
  const std::uint64_t header_len = detail::read_le(data + 8, len_size);
  if (header_len > npy_max_header_size)
    throw limit_error(520, npy_at(where, 8),
                      "npy: header of " + std::to_string(header_len) + " bytes exceeds " +
                          std::to_string(npy_max_header_size));
  const std::size_t start = 8 + len_size;
  if (size - start < header_len)
    throw decode_error(472, npy_at(where, size), "npy: truncated header");
  const std::string_view text(reinterpret_cast<const char*>(data + start),
                              static_cast<std::size_t>(header_len));
  detail::npy_header_parser(text, start, where).parse(h);
  h.data_offset = start + static_cast<std::size_t>(header_len);
  h.nbytes = ndarray::checked_nbytes(h.dtype, h.shape, npy_at(where, start));
  if (h.nbytes > lim.max_member_size)
    throw limit_error(522, npy_at(where, start),
                      "npy: array of " + std::to_string(h.nbytes) + " bytes exceeds max_member_size");
  if (size - h.data_offset < h.nbytes)
    throw decode_error(472, npy_at(where, size),
                       "npy: truncated data: need " + std::to_string(h.nbytes) + " bytes, have " +
                           std::to_string(size - h.data_offset));
  return h;
}

// Reads an .npy payload (what numpy.load reads, for numeric dtypes) into a
// C-ordered, host-byte-order ndarray. Bytes after the array data are ignored,
// as numpy ignores them.
inline ndarray npy_decode(const std::byte* data, std::size_t size, const limits& lim = {},
                          const location& where = {}) {
  const npy_header h = npy_decode_header(data, size, lim, where);
  const std::byte* src = data + h.data_offset;
  std::vector<std::byte> out(h.nbytes);
  const std::size_t item = dtype_size(h.dtype);
  if (h.fortran_order && h.shape.size() > 1) {
    detail::for_each_transposed(h.shape, [&](std::size_t c, std::size_t f) {
      std::memcpy(out.data() + c * item, src + f * item, item);
    });
  } else if (h.nbytes) {
    std::memcpy(out.data(), src, h.nbytes);
  }
  if (h.order != host_byte_order())
    detail::byteswap_elements(out.data(), out.size(), detail::swap_unit(h.dtype));
  return ndarray(h.dtype, h.shape, std::move(out));
}

inline ndarray npy_decode(const std::vector<std::byte>& bytes, const limits& lim = {},
                          const location& where = {}) {
  return npy_decode(bytes.data(), bytes.size(), lim, where);
}

// Writes an .npy payload from C-ordered, host-order elements: the same bytes
// numpy.save writes for that array (header dict in sorted key order, shape
// as repr(tuple), growth spaces, padded with spaces and '\n' to 64 bytes).
inline std::vector<std::byte> npy_encode(wds::dtype type, const std::vector<std::size_t>& shape,
                                         const std::byte* elements, const npy_options& opt = {}) {
  if (opt.version < 0 || opt.version > 3)
    throw decode_error(479, {}, "npy: format version must be 0 (auto), 1, 2 or 3");
  if (shape.size() > npy_max_rank) throw decode_error(475, {}, "npy: too many dimensions");
  const std::size_t nbytes = ndarray::checked_nbytes(type, shape);
  const bool fortran = opt.fortran_order && shape.size() > 1;
  std::string dict = "{'descr': '" + dtype_typestr(type, opt.order) + "', 'fortran_order': ";
  dict += fortran ? "True" : "False";
  dict += ", 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  if (shape.size() == 1) dict += ',';
  dict += "), }";
  if (!shape.empty()) {  // room to grow the first (C) or last (Fortran) axis in place
    const std::size_t digits = std::to_string(fortran ? shape.back() : shape.front()).size();
    if (digits < 21) dict.append(21 - digits, ' ');
  }
  int version = opt.version;
  const std::size_t hlen = dict.size() + 1;  // + '\n'
  auto padded = [&](std::size_t len_size) { return hlen + (64 - (8 + len_size + hlen) % 64); };
  if (version == 0) version = padded(2) <= 0xffff ? 1 : 2;
  const std::size_t len_size = version == 1 ? 2 : 4;
  const std::size_t total_header = padded(len_size);
  if (version == 1 && total_header > 0xffff)
    throw decode_error(479, {}, "npy: header too long for format version 1.0");
  std::vector<std::byte> out;
  out.reserve(8 + len_size + total_header + nbytes);
  auto put = [&out](unsigned char c) { out.push_back(std::byte{c}); };
  for (unsigned char c : {0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59}) put(c);  // \x93NUMPY
  put(static_cast<unsigned char>(version));
  put(0);
  for (std::size_t i = 0; i < len_size; ++i) put(static_cast<unsigned char>((total_header >> (8 * i)) & 0xff));
  for (char c : dict) put(static_cast<unsigned char>(c));
  for (std::size_t i = hlen; i < total_header; ++i) put(' ');
  put('\n');
  const std::size_t at = out.size();
  out.resize(at + nbytes);
  const std::size_t item = dtype_size(type);
  if (fortran) {
    detail::for_each_transposed(shape, [&](std::size_t c, std::size_t f) {
      std::memcpy(out.data() + at + f * item, elements + c * item, item);
    });
  } else if (nbytes) {
    std::memcpy(out.data() + at, elements, nbytes);
  }
  if (opt.order != host_byte_order())
    detail::byteswap_elements(out.data() + at, nbytes, detail::swap_unit(type));
  return out;
}

inline std::vector<std::byte> npy_encode(const ndarray& a, const npy_options& opt = {}) {
  return npy_encode(a.dtype(), a.shape(), a.data(), opt);
}

template <class T>
std::vector<std::byte> npy_encode(const tensor<T>& t, const npy_options& opt = {}) {
  if constexpr (std::is_same_v<T, bool>) {
    return npy_encode(ndarray(t), opt);
  } else {
    if (t.size() != tensor<T>::count(t.shape()))
      throw decode_error(478, {}, "npy: tensor size does not match its shape");
    return npy_encode(dtype_of<T>, t.shape(), reinterpret_cast<const std::byte*>(t.data()), opt);
  }
}

// An image as numpy.asarray(PIL image) gives it: shape (H, W) for one
// channel, (H, W, C) otherwise. Views with steps are copied row by row.
template <class T>
std::vector<std::byte> npy_encode(image_view<const T> img, const npy_options& opt = {}) {
  const std::size_t h = img.empty() ? 0 : static_cast<std::size_t>(img.height());
  const std::size_t w = img.empty() ? 0 : static_cast<std::size_t>(img.width());
  const std::size_t c = static_cast<std::size_t>(std::max(img.channels(), 1));
  std::vector<std::size_t> shape{h, w};
  if (c != 1) shape.push_back(c);
  std::vector<T> packed(h * w * c);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x)
      for (std::size_t k = 0; k < c; ++k)
        packed[(y * w + x) * c + k] = img(static_cast<int>(x), static_cast<int>(y), static_cast<int>(k));
  return npy_encode(dtype_of<T>, shape, reinterpret_cast<const std::byte*>(packed.data()), opt);
}

template <class T>
std::vector<std::byte> npy_encode(image_view<T> img, const npy_options& opt = {}) {
  return npy_encode(image_view<const T>(img), opt);
}

template <class T>
std::vector<std::byte> npy_encode(const image<T>& img, const npy_options& opt = {}) {
  return npy_encode(img.view(), opt);
}

WDS_NAMESPACE_END
