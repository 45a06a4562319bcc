// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// A small JSON DOM that accepts exactly what Python's json.loads(bytes)
// accepts by default (webdataset's .json/.jsn decoder), and rejects the
// rest with the byte position:
// - the input encoding is detected as json.detect_encoding does (UTF-8 with
//   or without BOM, UTF-16/32 LE/BE with or without BOM), decoded with
//   surrogatepass;
// - NaN, Infinity and -Infinity are numbers; control characters inside
//   strings are errors; lone \uD800-style surrogates are kept;
// - integers with more than 4300 digits are errors (Python >= 3.11's
//   int_max_str_digits);
// - duplicate object keys keep the first position and the last value.
// Integers are int64; integers outside int64 become the nearest double, and
// beyond double's range they are refused (limit 523). Nesting deeper than
// max_depth is refused (limit 521). Strings are UTF-8; lone surrogates, which
// Python allows, are stored as their 3-byte generalized UTF-8 form.

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <wds/error.hpp>
#include <wds/utf8.hpp>

#if !defined(__cpp_lib_to_chars)
#include <clocale>
#endif

WDS_NAMESPACE_BEGIN

class json {
 public:
  enum class kind : std::uint8_t { null, boolean, integer, number, string, array, object };
  using array_type = std::vector<json>;
  using object_type = std::vector<std::pair<std::string, json>>;

  // Python's recursion limit makes json.loads fail at about 995 levels from
  // a top-level script, fewer inside a deep call stack.
  static constexpr std::size_t default_max_depth = 900;

  json() noexcept = default;
  json(std::nullptr_t) noexcept {}                           // NOLINT
  json(bool b) noexcept : kind_(kind::boolean), b_(b) {}     // NOLINT
  // Integers beyond int64 (large uint64) are stored as the nearest double.
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  json(I i) noexcept : kind_(kind::integer), i_(static_cast<std::int64_t>(i)) {  // NOLINT
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (i > static_cast<I>(std::numeric_limits<std::int64_t>::max())) {
        kind_ = kind::number;
        i_ = 0;
        d_ = static_cast<double>(i);
      }
    }
  }
  json(double d) noexcept : kind_(kind::number), d_(d) {}    // NOLINT
  json(std::string s) : kind_(kind::string), s_(std::move(s)) {}  // NOLINT
  json(const char* s) : json(std::string(s)) {}             // NOLINT
  json(array_type a) : kind_(kind::array), a_(std::move(a)) {}    // NOLINT
  json(object_type o) : kind_(kind::object), o_(std::move(o)) {}  // NOLINT

  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  bool is_bool() const noexcept { return kind_ == kind::boolean; }
  bool is_integer() const noexcept { return kind_ == kind::integer; }
  bool is_double() const noexcept { return kind_ == kind::number; }
  bool is_number() const noexcept { return is_integer() || is_double(); }
  bool is_string() const noexcept { return kind_ == kind::string; }
  bool is_array() const noexcept { return kind_ == kind::array; }
  bool is_object() const noexcept { return kind_ == kind::object; }

  // Typed access; error 498 when the value has another type.
  bool as_bool() const { return check(kind::boolean), b_; }
  std::int64_t as_int() const { return check(kind::integer), i_; }
  // Either kind of number.
  double as_double() const {
    if (kind_ == kind::integer) return static_cast<double>(i_);
    return check(kind::number), d_;
  }
  const std::string& as_string() const { return check(kind::string), s_; }
  const array_type& as_array() const { return check(kind::array), a_; }
  array_type& as_array() { return check(kind::array), a_; }
  const object_type& as_object() const { return check(kind::object), o_; }
  object_type& as_object() { return check(kind::object), o_; }

  // Elements of an array or members of an object; 0 otherwise.
  std::size_t size() const noexcept {
    return kind_ == kind::array ? a_.size() : kind_ == kind::object ? o_.size() : 0;
  }
  // The member with that key, or nullptr (also when this is not an object).
  const json* find(std::string_view key) const noexcept {
    if (kind_ != kind::object) return nullptr;
    for (const auto& kv : o_)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  // Error 498 when missing.
  const json& at(std::string_view key) const {
    const json* v = find(key);
    if (!v) throw decode_error(498, {}, "json: no member \"" + std::string(key) + "\"");
    return *v;
  }
  const json& at(std::size_t i) const {
    if (i >= as_array().size()) throw decode_error(498, {}, "json: index out of range");
    return a_[i];
  }
  const json& operator[](std::string_view key) const { return at(key); }
  const json& operator[](std::size_t i) const { return at(i); }

  friend bool operator==(const json& a, const json& b) {
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
      case kind::null: return true;
      case kind::boolean: return a.b_ == b.b_;
      case kind::integer: return a.i_ == b.i_;
      case kind::number: return a.d_ == b.d_;
      case kind::string: return a.s_ == b.s_;
      case kind::array: return a.a_ == b.a_;
      case kind::object: return a.o_ == b.o_;
    }
    return false;
  }
  friend bool operator!=(const json& a, const json& b) { return !(a == b); }

  // json.loads(bytes). Errors: 495 syntax, 496 encoding, 497 integer with
  // more than 4300 digits; limits 521 (depth) and 523 (integer beyond double).
  // Positions are byte offsets in the input (in the UTF-8 transcoding for
  // UTF-16/32 input), added to where.offset when that is known.
  static json parse(const std::byte* data, std::size_t size, const location& where = {},
                    std::size_t max_depth = default_max_depth);
  static json parse(std::string_view text, const location& where = {},
                    std::size_t max_depth = default_max_depth) {
    return parse(reinterpret_cast<const std::byte*>(text.data()), text.size(), where, max_depth);
  }

  // Python's json.dumps(value) with default arguments (what webdataset's
  // writer stores): ", " and ": " separators, ensure_ascii (\uXXXX escapes,
  // surrogate pairs above U+FFFF), NaN/Infinity, floats as repr(float).
  // Error 499 for a string that is not (generalized) UTF-8.
  std::string dump() const {
    std::string out;
    dump_to(out);
    return out;
  }

 private:
  void dump_to(std::string& out) const;

  void check(kind k) const {
    if (kind_ != k) throw decode_error(498, {}, "json: value has another type");
  }

  kind kind_ = kind::null;
  bool b_ = false;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  array_type a_;
  object_type o_;

  friend class json_parser;
};

namespace detail {

using unicode::append_utf8;

// Length of the valid UTF-8 sequence at p (strict like Python's "utf-8"
// codec, or also accepting encoded surrogates like "surrogatepass"), or 0.
inline std::size_t utf8_sequence_length(const unsigned char* p, std::size_t n, bool allow_surrogates) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed && !allow_surrogates) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (n < 2 || p[1] < lo || p[1] > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (k >= n || (p[k] & 0xc0) != 0x80) return 0;
  return len;
}

// Offset of the first byte Python's strict UTF-8 decoder rejects, or npos.
inline std::size_t utf8_error_offset(const unsigned char* p, std::size_t n, bool allow_surrogates) {
  std::size_t i = 0;
  while (i < n) {
    const std::size_t len = utf8_sequence_length(p + i, n - i, allow_surrogates);
    if (len == 0) return i;
    i += len;
  }
  return std::string::npos;
}

}  // namespace detail

class json_parser {
 public:
  json_parser(std::string_view text, std::size_t base, const location& where, std::size_t max_depth)
      : s_(text), base_(base), where_(where), max_depth_(max_depth) {}

  json parse() {
    skip_ws();
    json result;
    bool done = false;
    while (!done) {
      json v = value_start();
      if (pending_container_) {  // an opened '[' or '{' that is not empty
        pending_container_ = false;
        continue;
      }
      // Close containers for as long as the input says so.
      for (;;) {
        if (stack_.empty()) {
          result = std::move(v);
          done = true;
          break;
        }
        frame& top = stack_.back();
        add(top, std::move(v));
        skip_ws();
        const char c = peek();
        if (c == ',') {
          ++i_;
          skip_ws();
          if (top.value.kind_ == json::kind::object) member_key(top);
          break;  // next value
        }
        if (c == (top.value.kind_ == json::kind::array ? ']' : '}')) {
          ++i_;
          v = std::move(top.value);
          stack_.pop_back();
          continue;
        }
        fail("Expecting ',' delimiter");
      }
    }
    skip_ws();
    if (i_ != s_.size()) fail("Extra data");
    return result;
  }

 private:
  struct frame {
    json value;
    std::string key;
    std::unordered_map<std::string, std::size_t> index;  // built for big objects only
  };

  [[noreturn]] void fail(const char* why, int id = 495) const { fail_at(why, i_, id); }
  [[noreturn]] void fail_at(const std::string& why, std::size_t pos, int id = 495) const {
    location l = where_;
    const std::size_t at = base_ + pos;
    l.offset = where_.offset == location::unknown_offset ? at : where_.offset + at;
    if (id >= 500) throw limit_error(id, std::move(l), "json: " + why);
    throw decode_error(id, std::move(l), "json: " + why);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool at_end() const { return i_ >= s_.size(); }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  void add(frame& f, json v) {
    if (f.value.kind_ == json::kind::array) {
      f.value.a_.push_back(std::move(v));
      return;
    }
    auto& members = f.value.o_;
    if (!f.index.empty() || members.size() >= 16) {
      if (f.index.empty())
        for (std::size_t k = 0; k < members.size(); ++k) f.index.emplace(members[k].first, k);
      auto it = f.index.find(f.key);
      if (it != f.index.end()) {
        members[it->second].second = std::move(v);
      } else {
        f.index.emplace(f.key, members.size());
        members.emplace_back(std::move(f.key), std::move(v));
      }
      return;
    }
    for (auto& kv : members) {
      if (kv.first == f.key) {
        kv.second = std::move(v);
        return;
      }
    }
    members.emplace_back(std::move(f.key), std::move(v));
  }

  void member_key(frame& f) {
    if (peek() != '"') fail("Expecting property name enclosed in double quotes");
    f.key = string_value();
    skip_ws();
    if (peek() != ':') fail("Expecting ':' delimiter");
    ++i_;
    skip_ws();
  }

  void open(json::kind k) {
    if (stack_.size() >= max_depth_)
      fail_at("nesting deeper than " + std::to_string(max_depth_), i_, 521);
    ++i_;
    stack_.emplace_back();
    stack_.back().value.kind_ = k;
  }

  // Parses a scalar, or opens a container. Sets pending_container_ when a
  // non-empty container was opened (its first value comes next).
  json value_start() {
    if (at_end()) fail("Expecting value");
    const char c = s_[i_];
    switch (c) {
      case '{': {
        open(json::kind::object);
        skip_ws();
        if (peek() == '}') {
          ++i_;
          json v = std::move(stack_.back().value);
          stack_.pop_back();
          return v;
        }
        member_key(stack_.back());
        pending_container_ = true;
        return {};
      }
      case '[': {
        open(json::kind::array);
        skip_ws();
        if (peek() == ']') {
          ++i_;
          json v = std::move(stack_.back().value);
          stack_.pop_back();
          return v;
        }
        pending_container_ = true;
        return {};
      }
      case '"': return json(string_value());
      case 'n': if (literal("null")) return json(); break;
      case 't': if (literal("true")) return json(true); break;
      case 'f': if (literal("false")) return json(false); break;
      case 'N': if (literal("NaN")) return json(std::numeric_limits<double>::quiet_NaN()); break;
      case 'I': if (literal("Infinity")) return json(std::numeric_limits<double>::infinity()); break;
      case '-':
        if (literal("-Infinity")) return json(-std::numeric_limits<double>::infinity());
        return number();
      default:
        if (c >= '0' && c <= '9') return number();
        break;
    }
    fail("Expecting value");
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  json number() {
    const std::size_t start = i_;
    if (peek() == '-') ++i_;
    std::size_t int_start = i_;
    if (peek() == '0') {
      ++i_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (digit(peek())) ++i_;
    } else {
      i_ = start;
      fail("Expecting value");
    }
    const std::size_t int_digits = i_ - int_start;
    bool is_float = false;
    if (peek() == '.' && i_ + 1 < s_.size() && digit(s_[i_ + 1])) {
      is_float = true;
      i_ += 1;
      while (digit(peek())) ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      const std::size_t e_start = i_++;
      if (peek() == '+' || peek() == '-') ++i_;
      if (digit(peek())) {
        while (digit(peek())) ++i_;
        is_float = true;
      } else {
        i_ = e_start;
      }
    }
    const std::string_view tok = s_.substr(start, i_ - start);
    if (!is_float) {
      if (int_digits > 4300)
        fail_at("integer has more than 4300 digits (Python's int_max_str_digits)", start, 497);
      std::int64_t v = 0;
      const auto r = std::from_chars(tok.data(), tok.data() + tok.size(), v);
      if (r.ec == std::errc() && r.ptr == tok.data() + tok.size()) return json(v);
      const double d = to_double(tok, start);
      if (!std::isfinite(d)) fail_at("integer outside the range of double", start, 523);
      return json(d);
    }
    return json(to_double(tok, start));
  }

  // Correctly rounded like Python's float(); overflow gives +-inf and
  // underflow +-0, as there.
  double to_double(std::string_view tok, std::size_t pos) const {
#if defined(__cpp_lib_to_chars)
    double d = 0;
    const auto r = std::from_chars(tok.data(), tok.data() + tok.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      const bool neg = tok[0] == '-';
      return decimal_exponent(tok) > 0 ? (neg ? -HUGE_VAL : HUGE_VAL) : (neg ? -0.0 : 0.0);
    }
    if (r.ec != std::errc() || r.ptr != tok.data() + tok.size()) fail_at("Invalid number", pos);
    return d;
#else
    std::string t(tok);
    const char point = *std::localeconv()->decimal_point;  // strtod follows the C locale
    for (char& c : t)
      if (c == '.') c = point;
    return std::strtod(t.c_str(), nullptr);
#endif
  }

  // Roughly log10 of a valid number token: only its sign matters here.
  static long long decimal_exponent(std::string_view tok) {
    std::size_t i = tok[0] == '-' ? 1 : 0;
    long long first_nonzero = -1, int_digits = 0, pos = 0;
    for (; i < tok.size() && tok[i] != 'e' && tok[i] != 'E'; ++i) {
      if (tok[i] == '.') {
        int_digits = pos;
        continue;
      }
      if (first_nonzero < 0 && tok[i] != '0') first_nonzero = pos;
      ++pos;
    }
    if (tok.find('.') == std::string_view::npos) int_digits = pos;
    long long exp = 0;
    if (i < tok.size()) {
      std::size_t k = i + 1;
      bool neg = false;
      if (tok[k] == '+' || tok[k] == '-') neg = tok[k++] == '-';
      for (; k < tok.size(); ++k) {
        if (exp < 1000000000) exp = exp * 10 + (tok[k] - '0');
      }
      if (neg) exp = -exp;
    }
    if (first_nonzero < 0) return 0;
    return exp + int_digits - first_nonzero;
  }

  static int hex4(std::string_view s, std::size_t at) {
    if (at + 4 > s.size()) return -1;
    int v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
      const char c = s[k];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return -1;
      v = v * 16 + d;
    }
    return v;
  }

  std::string string_value() {
    const std::size_t start = i_++;  // the opening quote
    std::string out;
    for (;;) {
      const std::size_t run = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\' &&
             static_cast<unsigned char>(s_[i_]) >= 0x20)
        ++i_;
      out.append(s_.data() + run, i_ - run);
      if (at_end()) fail_at("Unterminated string starting at", start);
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c != '\\') fail("Invalid control character at");
      if (i_ + 1 >= s_.size()) fail_at("Unterminated string starting at", start);
      const char e = s_[i_ + 1];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          int cp = hex4(s_, i_ + 2);
          if (cp < 0) fail("Invalid \\uXXXX escape");
          std::uint32_t code = static_cast<std::uint32_t>(cp);
          std::size_t used = 6;
          if (code >= 0xd800 && code <= 0xdbff && i_ + 7 < s_.size() && s_[i_ + 6] == '\\' &&
              s_[i_ + 7] == 'u') {
            const int lo = hex4(s_, i_ + 8);
            if (lo < 0) {
              i_ += 6;
              fail("Invalid \\uXXXX escape");
            }
            if (lo >= 0xdc00 && lo <= 0xdfff) {
              code = 0x10000 + ((code - 0xd800) << 10) + (static_cast<std::uint32_t>(lo) - 0xdc00);
              used = 12;
            }
          }
          detail::append_utf8(out, code);
          i_ += used;
          continue;
        }
        default:
          fail("Invalid \\escape");
      }
      i_ += 2;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::size_t base_;
  const location& where_;
  std::size_t max_depth_;
  std::vector<frame> stack_;
  bool pending_container_ = false;
};

namespace detail {

// Python's json.detect_encoding.
inline const char* json_detect_encoding(const unsigned char* b, std::size_t n) {
  auto starts = [&](std::initializer_list<unsigned char> p) {
    return n >= p.size() && std::equal(p.begin(), p.end(), b);
  };
  if (starts({0x00, 0x00, 0xfe, 0xff}) || starts({0xff, 0xfe, 0x00, 0x00})) return "utf-32";
  if (starts({0xfe, 0xff}) || starts({0xff, 0xfe})) return "utf-16";
  if (starts({0xef, 0xbb, 0xbf})) return "utf-8-sig";
  if (n >= 4) {
    if (!b[0]) return b[1] ? "utf-16-be" : "utf-32-be";
    if (!b[1]) return (b[2] || b[3]) ? "utf-16-le" : "utf-32-le";
  } else if (n == 2) {
    if (!b[0]) return "utf-16-be";
    if (!b[1]) return "utf-16-le";
  }
  return "utf-8";
}

// Decodes UTF-16/32 with surrogatepass into generalized UTF-8.
inline std::string json_transcode(const unsigned char* b, std::size_t n, std::string_view enc,
                                  const location& where) {
  auto fail = [&](std::size_t pos, const char* why) {
    location l = where;
    l.offset = where.offset == location::unknown_offset ? pos : where.offset + pos;
    throw decode_error(496, std::move(l), std::string("json: ") + why);
  };
  std::size_t i = 0;
  bool big = enc.size() > 6 && enc.substr(enc.size() - 2) == "be";
  const bool wide = enc.substr(0, 6) == "utf-32";
  if (enc == "utf-16") {  // the BOM picks the order and is dropped
    big = b[0] == 0xfe;
    i = 2;
  } else if (enc == "utf-32") {
    big = b[0] == 0x00;
    i = 4;
  }
  std::string out;
  const std::size_t unit = wide ? 4 : 2;
  auto read = [&](std::size_t at) -> std::uint32_t {
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < unit; ++k) {
      const std::uint32_t byte = b[at + (big ? k : unit - 1 - k)];
      v = (v << 8) | byte;
    }
    return v;
  };
  while (i < n) {
    if (n - i < unit) fail(i, "truncated data");
    std::uint32_t cp = read(i);
    i += unit;
    if (wide) {
      if (cp > 0x10ffff) fail(i - unit, "code point not in range(0x110000)");
    } else if (cp >= 0xd800 && cp <= 0xdbff && n - i >= 2) {
      const std::uint32_t lo = read(i);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 2;
      }
    }
    append_utf8(out, cp);
  }
  return out;
}

}  // namespace detail

inline json json::parse(const std::byte* data, std::size_t size, const location& where,
                        std::size_t max_depth) {
  const auto* b = reinterpret_cast<const unsigned char*>(data);
  const std::string_view enc = detail::json_detect_encoding(b, size);
  if (enc == "utf-8" || enc == "utf-8-sig") {
    const std::size_t skip = enc == "utf-8" ? 0 : 3;
    const std::size_t bad = detail::utf8_error_offset(b + skip, size - skip, true);
    if (bad != std::string::npos) {
      location l = where;
      l.offset = where.offset == location::unknown_offset ? skip + bad : where.offset + skip + bad;
      throw decode_error(496, std::move(l), "json: invalid UTF-8");
    }
    const std::string_view text(reinterpret_cast<const char*>(b + skip), size - skip);
    return json_parser(text, skip, where, max_depth).parse();
  }
  const std::string text = detail::json_transcode(b, size, enc, where);
  return json_parser(text, 0, where, max_depth).parse();
}

namespace detail {

// repr(float): the shortest digits that round-trip, fixed notation for
// 1e-4 <= |x| < 1e16 (with ".0" when integral), else d.ddde+XX.
inline void append_python_float(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-Infinity" : "Infinity";
    return;
  }
  if (std::signbit(d)) out += '-';
  const double a = std::fabs(d);
  if (a == 0) {
    out += "0.0";
    return;
  }
  // Shortest round-tripping significand via %.*e (locale-independent: only
  // digits and the exponent are read back from it).
  char buf[40];
  std::string digits;
  int exp10 = 0;
  for (int prec = 0; prec < 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec, a);
    if (std::strtod(buf, nullptr) == a || prec == 16) break;
  }
  const char* p = buf;
  for (; *p && *p != 'e'; ++p)
    if (*p >= '0' && *p <= '9') digits += *p;
  exp10 = std::atoi(p + 1);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  const int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (n > 1) out.append(".").append(digits, 1, std::string::npos);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    out += e;
  } else if (decpt <= 0) {
    out.append("0.").append(static_cast<std::size_t>(-decpt), '0').append(digits);
  } else if (decpt >= n) {
    out.append(digits).append(static_cast<std::size_t>(decpt - n), '0').append(".0");
  } else {
    out.append(digits, 0, static_cast<std::size_t>(decpt)).append(".").append(digits, static_cast<std::size_t>(decpt), std::string::npos);
  }
}

inline void append_json_string(std::string& out, const std::string& s) {
  static const char hexdigits[] = "0123456789abcdef";
  auto u = [&](std::uint32_t c) {
    out += "\\u";
    for (int sh = 12; sh >= 0; sh -= 4) out += hexdigits[(c >> sh) & 0xf];
  };
  out += '"';
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = b[i];
    if (c >= 0x20 && c < 0x7f) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c < 0x80) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: u(c);
      }
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence_length(b + i, s.size() - i, true);
    if (len == 0) throw decode_error(499, {}, "json: string is not UTF-8");
    std::uint32_t cp = len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (b[i + k] & 0x3fu);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u(0xd800 + (cp >> 10));
      u(0xdc00 + (cp & 0x3ff));
    } else {
      u(cp);
    }
    i += len;
  }
  out += '"';
}

}  // namespace detail

inline void json::dump_to(std::string& out) const {
  switch (kind_) {
    case kind::null: out += "null"; return;
    case kind::boolean: out += b_ ? "true" : "false"; return;
    case kind::integer: out += std::to_string(i_); return;
    case kind::number: detail::append_python_float(out, d_); return;
    case kind::string: detail::append_json_string(out, s_); return;
    case kind::array:
      out += '[';
      for (std::size_t k = 0; k < a_.size(); ++k) {
        if (k) out += ", ";
        a_[k].dump_to(out);
      }
      out += ']';
      return;
    case kind::object:
      out += '{';
      for (std::size_t k = 0; k < o_.size(); ++k) {
        if (k) out += ", ";
        detail::append_json_string(out, o_[k].first);
        out += ": ";
        o_[k].second.dump_to(out);
      }
      out += '}';
      return;
  }
}

WDS_NAMESPACE_END
