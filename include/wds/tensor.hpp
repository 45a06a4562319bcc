// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <wds/error.hpp>

WDS_NAMESPACE_BEGIN

// Dense, C-ordered (row-major) tensor with an arbitrary shape; to_tensor()
// yields CHW float, npy reading yields any shape.
template <class T>
class tensor {
 public:
  using value_type = T;

  tensor() = default;
  explicit tensor(std::vector<std::size_t> shape)
      : shape_(std::move(shape)), data_(count(shape_)) {}
  tensor(std::vector<std::size_t> shape, std::vector<T> data)
      : shape_(std::move(shape)), data_(std::move(data)) {}

  const std::vector<std::size_t>& shape() const noexcept { return shape_; }
  std::size_t rank() const noexcept { return shape_.size(); }
  std::size_t dim(std::size_t i) const noexcept { return shape_[i]; }
  std::size_t size() const noexcept { return data_.size(); }
  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::vector<T>& values() noexcept { return data_; }
  const std::vector<T>& values() const noexcept { return data_; }

  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }

  static std::size_t count(const std::vector<std::size_t>& shape) noexcept {
    return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
  }

 private:
  std::vector<std::size_t> shape_;
  std::vector<T> data_;
};

// IEEE 754 binary16 storage (numpy's float16). Arithmetic is up to the user:
// convert with to_float() / from_float().
struct float16 {
  std::uint16_t bits = 0;

  // Exact: every half is a float.
  float to_float() const noexcept {
    const std::uint32_t sign = std::uint32_t(bits & 0x8000u) << 16;
    const std::uint32_t exp = (bits >> 10) & 0x1fu;
    std::uint32_t mant = bits & 0x3ffu;
    std::uint32_t out;
    if (exp == 0x1f) {
      out = sign | 0x7f800000u | (mant << 13);  // inf / nan (payload kept)
    } else if (exp != 0) {
      out = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
      out = sign;
    } else {  // subnormal half -> normal float
      std::uint32_t e = 113;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
      }
      out = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &out, sizeof f);
    return f;
  }

  // Round to nearest, ties to even (numpy's npy_float_to_half).
  static float16 from_float(float f) noexcept {
    std::uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t exp = (x >> 23) & 0xffu;
    std::uint32_t mant = x & 0x7fffffu;
    float16 h;
    if (exp == 0xff) {  // inf or nan; a nan keeps its top payload bits and stays a nan
      std::uint32_t m = mant >> 13;
      if (mant != 0 && m == 0) m = 1;
      h.bits = static_cast<std::uint16_t>(sign | 0x7c00u | m);
      return h;
    }
    const int e = static_cast<int>(exp) - 127 + 15;
    if (e >= 0x1f) {  // overflow
      h.bits = static_cast<std::uint16_t>(sign | 0x7c00u);
      return h;
    }
    if (e <= 0) {  // subnormal half or zero
      if (e < -10) {
        h.bits = sign;
        return h;
      }
      mant |= 0x800000u;
      const int shift = 14 - e;  // 14..24
      std::uint32_t half = mant >> shift;
      const std::uint32_t rem = mant & ((1u << shift) - 1u);
      const std::uint32_t halfway = 1u << (shift - 1);
      if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
      h.bits = static_cast<std::uint16_t>(sign | half);
      return h;
    }
    std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
    const std::uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into inf
    h.bits = static_cast<std::uint16_t>(sign | half);
    return h;
  }

  friend bool operator==(float16 a, float16 b) noexcept { return a.bits == b.bits; }
  friend bool operator!=(float16 a, float16 b) noexcept { return a.bits != b.bits; }
};

// numpy's numeric dtypes. The enumerator names are numpy's names (bool_ as
// numpy spells it, since bool is a keyword).
enum class dtype : std::uint8_t {
  bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
  float16, float32, float64, complex64, complex128
};

inline constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::bool_: case dtype::int8: case dtype::uint8: return 1;
    case dtype::int16: case dtype::uint16: case dtype::float16: return 2;
    case dtype::int32: case dtype::uint32: case dtype::float32: return 4;
    case dtype::int64: case dtype::uint64: case dtype::float64: case dtype::complex64: return 8;
    case dtype::complex128: return 16;
  }
  return 0;
}

// numpy's dtype.kind: 'b', 'i', 'u', 'f', 'c'.
inline constexpr char dtype_kind(dtype t) noexcept {
  switch (t) {
    case dtype::bool_: return 'b';
    case dtype::int8: case dtype::int16: case dtype::int32: case dtype::int64: return 'i';
    case dtype::uint8: case dtype::uint16: case dtype::uint32: case dtype::uint64: return 'u';
    case dtype::float16: case dtype::float32: case dtype::float64: return 'f';
    case dtype::complex64: case dtype::complex128: return 'c';
  }
  return '?';
}

// numpy's dtype.name: "bool", "int8", ..., "complex128".
inline constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::bool_: return "bool";
    case dtype::int8: return "int8";
    case dtype::int16: return "int16";
    case dtype::int32: return "int32";
    case dtype::int64: return "int64";
    case dtype::uint8: return "uint8";
    case dtype::uint16: return "uint16";
    case dtype::uint32: return "uint32";
    case dtype::uint64: return "uint64";
    case dtype::float16: return "float16";
    case dtype::float32: return "float32";
    case dtype::float64: return "float64";
    case dtype::complex64: return "complex64";
    case dtype::complex128: return "complex128";
  }
  return "";
}

inline constexpr dtype all_dtypes[] = {
    dtype::bool_, dtype::int8, dtype::int16, dtype::int32, dtype::int64,
    dtype::uint8, dtype::uint16, dtype::uint32, dtype::uint64,
    dtype::float16, dtype::float32, dtype::float64, dtype::complex64, dtype::complex128};

enum class byte_order : std::uint8_t { little, big };

inline byte_order host_byte_order() noexcept {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first ? byte_order::little : byte_order::big;
}

// numpy's dtype.str for that byte order: "<f4", ">i2", "|u1", "|b1", "<c16".
inline std::string dtype_typestr(dtype t, byte_order order = byte_order::little) {
  std::string s;
  const std::size_t n = dtype_size(t);
  s += n == 1 ? '|' : (order == byte_order::little ? '<' : '>');
  s += dtype_kind(t);
  s += std::to_string(n);
  return s;
}

// Parses numpy's typestr ("<f4", "|b1", "=i8", "f8", "?") or name ("float32",
// "bool"). Returns false for anything else, including non-numeric dtypes.
inline bool parse_dtype(std::string_view s, dtype& out, byte_order& order) {
  order = host_byte_order();
  for (dtype t : all_dtypes) {
    if (s == dtype_name(t)) {
      out = t;
      return true;
    }
  }
  if (s.empty()) return false;
  if (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=') {
    if (s[0] == '<') order = byte_order::little;
    if (s[0] == '>') order = byte_order::big;
    s.remove_prefix(1);
  }
  if (s == "?") {
    out = dtype::bool_;
    return true;
  }
  if (s.size() < 2) return false;
  const char kind = s[0];
  const std::string_view size = s.substr(1);
  for (dtype t : all_dtypes) {
    if (dtype_kind(t) == kind && size == std::to_string(dtype_size(t))) {
      out = t;
      return true;
    }
  }
  return false;
}

// C++ element type of each dtype. bool_ maps to bool (one byte, 0 or 1).
template <class T> struct dtype_of_impl;
template <> struct dtype_of_impl<bool> { static constexpr dtype value = dtype::bool_; };
template <> struct dtype_of_impl<std::int8_t> { static constexpr dtype value = dtype::int8; };
template <> struct dtype_of_impl<std::int16_t> { static constexpr dtype value = dtype::int16; };
template <> struct dtype_of_impl<std::int32_t> { static constexpr dtype value = dtype::int32; };
template <> struct dtype_of_impl<std::int64_t> { static constexpr dtype value = dtype::int64; };
template <> struct dtype_of_impl<std::uint8_t> { static constexpr dtype value = dtype::uint8; };
template <> struct dtype_of_impl<std::uint16_t> { static constexpr dtype value = dtype::uint16; };
template <> struct dtype_of_impl<std::uint32_t> { static constexpr dtype value = dtype::uint32; };
template <> struct dtype_of_impl<std::uint64_t> { static constexpr dtype value = dtype::uint64; };
template <> struct dtype_of_impl<float16> { static constexpr dtype value = dtype::float16; };
template <> struct dtype_of_impl<float> { static constexpr dtype value = dtype::float32; };
template <> struct dtype_of_impl<double> { static constexpr dtype value = dtype::float64; };
template <> struct dtype_of_impl<std::complex<float>> { static constexpr dtype value = dtype::complex64; };
template <> struct dtype_of_impl<std::complex<double>> { static constexpr dtype value = dtype::complex128; };

template <class T>
inline constexpr dtype dtype_of = dtype_of_impl<std::remove_cv_t<T>>::value;

// numpy.can_cast(from, to, casting="safe"): every value of `from` is exactly
// representable in `to`.
inline constexpr bool can_cast_safely(dtype from, dtype to) noexcept {
  if (from == to) return true;
  const char fk = dtype_kind(from), tk = dtype_kind(to);
  const std::size_t fs = dtype_size(from), ts = dtype_size(to);
  if (fk == 'b') return true;
  if (tk == 'b') return false;
  switch (fk) {
    case 'u':
      if (tk == 'u') return ts >= fs;
      if (tk == 'i') return ts > fs;
      if (tk == 'f') return ts > fs && fs <= 4;  // u1->f2, u2->f4, u4->f8
      if (tk == 'c') return ts > 2 * fs && fs <= 4;
      return false;
    case 'i':
      if (tk == 'i') return ts >= fs;
      if (tk == 'f') return ts > fs && fs <= 4;
      if (tk == 'c') return ts > 2 * fs && fs <= 4;
      return false;
    case 'f':
      if (tk == 'f') return ts >= fs;
      if (tk == 'c') return ts >= 2 * fs;
      return false;
    case 'c':
      return tk == 'c' && ts >= fs;
    default:
      return false;
  }
}

namespace detail {
// Input text quoted in an error message, with non-printable bytes as \xHH.
inline std::string printable(std::string_view s, std::size_t max = 64) {
  static const char hexdigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out.append("\\x").append(1, hexdigits[c >> 4]).append(1, hexdigits[c & 15]);
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

inline void byteswap_elements(std::byte* p, std::size_t bytes, std::size_t element_size) noexcept {
  // Complex values swap each of their two parts.
  if (element_size == 1) return;
  for (std::size_t i = 0; i + element_size <= bytes; i += element_size) {
    std::byte* e = p + i;
    for (std::size_t a = 0, b = element_size - 1; a < b; ++a, --b) std::swap(e[a], e[b]);
  }
}
inline std::size_t swap_unit(dtype t) noexcept {
  return dtype_kind(t) == 'c' ? dtype_size(t) / 2 : dtype_size(t);
}
}  // namespace detail

// Untyped n-d array as npy and tenbin store it: a dtype, a shape and the
// elements in C (row-major) order and host byte order. Readers convert
// Fortran-ordered and foreign-endian payloads on the way in, so the buffer
// is always directly usable; writers choose the order they emit.
class ndarray {
 public:
  // An empty float32 array of shape (0,).
  ndarray() = default;
  // Zero-filled array.
  ndarray(wds::dtype type, std::vector<std::size_t> shape)
      : dtype_(type), shape_(std::move(shape)), data_(checked_nbytes(dtype_, shape_)) {}
  // Takes C-ordered, host-order bytes; their size must match the shape.
  ndarray(wds::dtype type, std::vector<std::size_t> shape, std::vector<std::byte> data)
      : dtype_(type), shape_(std::move(shape)), data_(std::move(data)) {
    if (data_.size() != checked_nbytes(dtype_, shape_))
      throw decode_error(478, {}, "ndarray: buffer size does not match dtype and shape");
  }
  template <class T>
  explicit ndarray(const tensor<T>& t) : ndarray(dtype_of<T>, t.shape()) {
    if (t.size() != size())
      throw decode_error(478, {}, "ndarray: tensor size does not match its shape");
    if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
      for (std::size_t i = 0; i < t.size(); ++i) data_[i] = std::byte{t.values()[i] ? std::uint8_t{1} : std::uint8_t{0}};
    } else if (!data_.empty()) {
      std::memcpy(data_.data(), t.data(), data_.size());
    }
  }

  wds::dtype dtype() const noexcept { return dtype_; }
  const std::vector<std::size_t>& shape() const noexcept { return shape_; }
  std::size_t rank() const noexcept { return shape_.size(); }
  std::size_t dim(std::size_t i) const noexcept { return shape_[i]; }
  // Number of elements (1 for a 0-d array).
  std::size_t size() const noexcept { return data_.size() / dtype_size(dtype_); }
  std::size_t itemsize() const noexcept { return dtype_size(dtype_); }
  std::size_t nbytes() const noexcept { return data_.size(); }
  std::byte* data() noexcept { return data_.data(); }
  const std::byte* data() const noexcept { return data_.data(); }
  std::vector<std::byte>& bytes() noexcept { return data_; }
  const std::vector<std::byte>& bytes() const noexcept { return data_; }

  // The elements as T, which must be exactly this dtype (error 478 otherwise).
  template <class T>
  tensor<T> as() const {
    if (dtype_of<T> != dtype_)
      throw decode_error(478, {}, std::string("ndarray: dtype is ").append(dtype_name(dtype_))
                                      .append(", not ").append(dtype_name(dtype_of<T>)));
    std::vector<T> v(size());
    if constexpr (std::is_same_v<T, bool>) {
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = data_[i] != std::byte{0};
    } else if (!v.empty()) {
      std::memcpy(v.data(), data_.data(), data_.size());
    }
    return tensor<T>(shape_, std::move(v));
  }

  // The elements converted to T when numpy would call that cast "safe"
  // (no value can change: uint8 -> float32 yes, int32 -> float32 no);
  // error 478 otherwise.
  template <class T>
  tensor<T> to_tensor() const {
    constexpr wds::dtype to = dtype_of<T>;
    if (!can_cast_safely(dtype_, to))
      throw decode_error(478, {}, std::string("ndarray: cannot safely cast ").append(dtype_name(dtype_))
                                      .append(" to ").append(dtype_name(to)));
    if (dtype_ == to) return as<T>();
    std::vector<T> v(size());
    switch (dtype_) {
      case wds::dtype::bool_: convert<bool>(v); break;
      case wds::dtype::int8: convert<std::int8_t>(v); break;
      case wds::dtype::int16: convert<std::int16_t>(v); break;
      case wds::dtype::int32: convert<std::int32_t>(v); break;
      case wds::dtype::int64: convert<std::int64_t>(v); break;
      case wds::dtype::uint8: convert<std::uint8_t>(v); break;
      case wds::dtype::uint16: convert<std::uint16_t>(v); break;
      case wds::dtype::uint32: convert<std::uint32_t>(v); break;
      case wds::dtype::uint64: convert<std::uint64_t>(v); break;
      case wds::dtype::float16: convert<float16>(v); break;
      case wds::dtype::float32: convert<float>(v); break;
      case wds::dtype::float64: convert<double>(v); break;
      case wds::dtype::complex64: convert<std::complex<float>>(v); break;
      case wds::dtype::complex128: convert<std::complex<double>>(v); break;
    }
    return tensor<T>(shape_, std::move(v));
  }

  // Element count times itemsize, or error 475 when it does not fit (as numpy
  // checks: zero-sized dims still have to fit when multiplied with the rest).
  static std::size_t checked_nbytes(wds::dtype type, const std::vector<std::size_t>& shape,
                                    const location& where = {}) {
    std::uint64_t total = dtype_size(type);
    bool empty = false;
    constexpr std::uint64_t max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    for (std::size_t d : shape) {
      if (d == 0) {
        empty = true;
        continue;
      }
      if (static_cast<std::uint64_t>(d) > max / total)
        throw decode_error(475, where, "array too big: shape product overflows");
      total *= d;
    }
    if (total > std::numeric_limits<std::size_t>::max())
      throw decode_error(475, where, "array too big for this platform");
    return empty ? 0 : static_cast<std::size_t>(total);
  }

 private:
  template <class From, class To>
  static To convert_one(const From& x) noexcept {
    if constexpr (std::is_same_v<From, float16>) {
      return convert_one<float, To>(x.to_float());
    } else if constexpr (std::is_same_v<To, float16>) {
      return float16::from_float(static_cast<float>(x));  // exact: the cast is safe
    } else if constexpr (std::is_same_v<To, std::complex<float>> ||
                         std::is_same_v<To, std::complex<double>>) {
      using R = typename To::value_type;
      if constexpr (std::is_same_v<From, std::complex<float>> ||
                    std::is_same_v<From, std::complex<double>>)
        return To(static_cast<R>(x.real()), static_cast<R>(x.imag()));
      else
        return To(static_cast<R>(x), R(0));
    } else if constexpr (std::is_same_v<From, std::complex<float>> ||
                         std::is_same_v<From, std::complex<double>>) {
      return To{};  // unreachable: complex casts safely only to complex
    } else {
      return static_cast<To>(x);
    }
  }
  template <class From, class To>
  void convert(std::vector<To>& out) const {
    for (std::size_t i = 0; i < out.size(); ++i) {
      From x;
      if constexpr (std::is_same_v<From, bool>) {
        x = data_[i] != std::byte{0};
      } else {
        std::memcpy(&x, data_.data() + i * sizeof(From), sizeof(From));
      }
      out[i] = convert_one<From, To>(x);
    }
  }

  wds::dtype dtype_ = wds::dtype::float32;
  std::vector<std::size_t> shape_{0};
  std::vector<std::byte> data_;
};

WDS_NAMESPACE_END
