// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// Small pipeline pieces around the sample stream: shard lists (webdataset's
// brace expansion and `::` lists), a seeded shuffle buffer, batching, and
// mapping a function over the fields of a sample. No codec dependencies.

#include <wds/error.hpp>
#include <wds/sample.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN

// ---- shard lists ------------------------------------------------------------

namespace detail {

struct brace_parser {
  std::string_view text;
  std::size_t count_limit;

  [[noreturn]] void fail(int id, std::size_t pos, const std::string& why) const {
    throw spec_error(id, {std::string(text), {}, pos}, why);
  }

  // Index of the '}' closing the '{' at `open`, or npos when unbalanced.
  std::size_t matching_close(std::size_t open) const {
    int depth = 0;
    for (std::size_t i = open; i < text.size(); ++i) {
      if (text[i] == '\\') { ++i; continue; }
      if (text[i] == '{') ++depth;
      else if (text[i] == '}' && --depth == 0) return i;
    }
    return std::string_view::npos;
  }

  // Top-level comma positions of the group body [b, e).
  std::vector<std::size_t> top_commas(std::size_t b, std::size_t e) const {
    std::vector<std::size_t> out;
    int depth = 0;
    for (std::size_t i = b; i < e; ++i) {
      if (text[i] == '\\') { ++i; continue; }
      if (text[i] == '{') ++depth;
      else if (text[i] == '}') --depth;
      else if (text[i] == ',' && depth == 0) out.push_back(i);
    }
    return out;
  }

  static bool parse_int(std::string_view s, long long& v) {
    if (s.empty() || s.size() > 18) return false;
    std::size_t i = 0;
    bool neg = false;
    if (s[0] == '-' || s[0] == '+') { neg = s[0] == '-'; i = 1; }
    if (i == s.size()) return false;
    long long r = 0;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      r = r * 10 + (s[i] - '0');
    }
    v = neg ? -r : r;
    return true;
  }
  static bool zero_padded(std::string_view s) {
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    return s.size() > 1 && s[0] == '0';
  }

  // `a..b` or `a..b..step` (integers, zero padded when either end is, or single
  // letters); returns false when the body is not a sequence.
  bool sequence(std::size_t b, std::size_t e, std::vector<std::string>& out) const {
    std::string_view body = text.substr(b, e - b);
    std::size_t d1 = body.find("..");
    if (d1 == std::string_view::npos) return false;
    std::string_view lo = body.substr(0, d1), rest = body.substr(d1 + 2), hi = rest, st;
    if (std::size_t d2 = rest.find(".."); d2 != std::string_view::npos) {
      hi = rest.substr(0, d2);
      st = rest.substr(d2 + 2);
    }
    long long step = 1;
    if (!st.empty() && (!parse_int(st, step))) return false;
    if (step == 0) step = 1;
    if (step < 0) step = -step;
    long long a = 0, z = 0;
    bool letters = false;
    if (parse_int(lo, a) && parse_int(hi, z)) {
    } else if (lo.size() == 1 && hi.size() == 1 && std::isalpha(static_cast<unsigned char>(lo[0])) &&
               std::isalpha(static_cast<unsigned char>(hi[0]))) {
      letters = true;
      a = lo[0];
      z = hi[0];
    } else {
      return false;
    }
    std::size_t width = 0;
    if (!letters && (zero_padded(lo) || zero_padded(hi))) width = std::max(lo.size(), hi.size());
    const unsigned long long n = static_cast<unsigned long long>((a <= z ? z - a : a - z) / step) + 1;
    if (n > count_limit) fail(651, b, "brace range expands to more than the limit of " +
                                          std::to_string(count_limit) + " names");
    for (unsigned long long k = 0; k < n; ++k) {
      long long v = a <= z ? a + static_cast<long long>(k) * step : a - static_cast<long long>(k) * step;
      if (letters) {
        out.emplace_back(1, static_cast<char>(v));
        continue;
      }
      std::string digits = std::to_string(v < 0 ? -v : v);
      std::size_t w = width > 0 && v < 0 ? width - 1 : width;
      if (digits.size() < w) digits.insert(0, w - digits.size(), '0');
      out.push_back(v < 0 ? "-" + digits : digits);
    }
    return true;
  }

  // Expands text[b, e) into every alternative, left to right.
  std::vector<std::string> expand(std::size_t b, std::size_t e) const {
    std::vector<std::string> results{std::string()};
    std::size_t i = b;
    auto append_literal = [&](std::string_view lit) {
      for (auto& r : results) r.append(lit);
    };
    while (i < e) {
      char c = text[i];
      if (c == '\\' && i + 1 < e) {
        append_literal(text.substr(i + 1, 1));
        i += 2;
        continue;
      }
      if (c == '}') fail(650, i, "unbalanced '}' in shard pattern");
      if (c != '{') {
        std::size_t j = i;
        while (j < e && text[j] != '{' && text[j] != '}' && text[j] != '\\') ++j;
        append_literal(text.substr(i, j - i));
        i = j;
        continue;
      }
      std::size_t close = matching_close(i);
      if (close == std::string_view::npos || close >= e) fail(650, i, "unbalanced '{' in shard pattern");
      std::vector<std::string> alts;
      auto commas = top_commas(i + 1, close);
      if (!commas.empty()) {
        std::size_t s = i + 1;
        commas.push_back(close);
        for (std::size_t cpos : commas) {
          for (auto& x : expand(s, cpos)) alts.push_back(std::move(x));
          s = cpos + 1;
        }
      } else if (!sequence(i + 1, close, alts)) {
        // `{x}` without a comma or range stays literal, as in bash/braceexpand.
        std::vector<std::string> inner = expand(i + 1, close);
        for (auto& x : inner) alts.push_back("{" + x + "}");
      }
      if (results.size() * alts.size() > count_limit)
        fail(651, i, "brace pattern expands to more than the limit of " + std::to_string(count_limit) +
                         " names");
      std::vector<std::string> next;
      next.reserve(results.size() * alts.size());
      for (const auto& r : results)
        for (const auto& a : alts) next.push_back(r + a);
      results = std::move(next);
      i = close + 1;
    }
    return results;
  }
};

}  // namespace detail

// Bash/braceexpand-style expansion: `{000..099}` (zero padded when either end
// is), `{1..9..2}`, `{a..e}`, `{x,y}`, nesting (`{a,b{1..2}}`), `\{` escapes.
// Errors: spec_error 650 (unbalanced brace), 651 (more than max_names results);
// the error's offset is the position in the pattern.
inline std::vector<std::string> expand_braces(std::string_view pattern,
                                              std::size_t max_names = 10'000'000) {
  detail::brace_parser p{pattern, max_names};
  return p.expand(0, pattern.size());
}

// webdataset's shard-list syntax: `::`-joined patterns, each brace-expanded,
// concatenated in order (`a-{0..1}.tar::b.tar` -> a-0.tar, a-1.tar, b.tar).
inline std::vector<std::string> expand_shard_list(std::string_view spec,
                                                  std::size_t max_names = 10'000'000) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t sep = spec.find("::", start);
    std::string_view part = spec.substr(start, sep == std::string_view::npos ? sep : sep - start);
    if (!part.empty()) {
      try {
        for (auto& s : expand_braces(part, max_names)) out.push_back(std::move(s));
      } catch (const spec_error& e) {
        // Report the offset in the whole spec, not in the part.
        throw spec_error(e.id(), {std::string(spec), {}, e.offset() + start}, e.reason());
      }
      if (out.size() > max_names)
        throw spec_error(651, {std::string(spec), {}, start}, "shard list has more than " +
                                                                  std::to_string(max_names) + " names");
    }
    if (sep == std::string_view::npos) break;
    start = sep + 2;
  }
  return out;
}

// ---- seeded randomness -------------------------------------------------------

// splitmix64-seeded xoshiro256**: the same sequence on every platform and
// standard library (std::uniform_int_distribution is implementation-defined).
class random_engine {
 public:
  explicit random_engine(std::uint64_t seed = 0) noexcept {
    for (auto& w : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      w = z ^ (z >> 31);
    }
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) without modulo bias (n > 0).
  std::uint64_t below(std::uint64_t n) noexcept {
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// ---- shuffle buffer ----------------------------------------------------------

// webdataset's shuffle(bufsize, initial): items enter a buffer; once it holds
// `initial` items, every push hands back one item picked uniformly at random
// (swap-with-last and pop). Deterministic for a given seed and input order.
//   shuffle_buffer<sample> buf(1000, 100, seed);
//   for (...) if (auto out = buf.push(std::move(s))) use(*out);
//   while (auto out = buf.pop()) use(*out);
template <class T>
class shuffle_buffer {
 public:
  explicit shuffle_buffer(std::size_t capacity = 1000, std::size_t initial = 100,
                          std::uint64_t seed = 0)
      : capacity_(capacity == 0 ? 1 : capacity),
        initial_(std::min(initial == 0 ? 1 : initial, capacity == 0 ? 1 : capacity)),
        rng_(seed) {
    buf_.reserve(std::min<std::size_t>(capacity_, 4096));
  }

  // Adds an item; returns one picked at random once the buffer is warm. Between
  // `initial` and `capacity` items it hands back one item per two pushes, so
  // the buffer grows to capacity (webdataset reads two items per pick there).
  std::optional<T> push(T item) {
    buf_.push_back(std::move(item));
    ++pushes_;
    if (buf_.size() >= capacity_) return take();
    if (buf_.size() >= initial_ && pushes_ % 2 == 0) return take();
    return std::nullopt;
  }
  // Drains the buffer at the end of the input.
  std::optional<T> pop() {
    if (buf_.empty()) return std::nullopt;
    return take();
  }
  std::size_t size() const noexcept { return buf_.size(); }
  bool empty() const noexcept { return buf_.empty(); }

 private:
  T take() {
    std::size_t k = static_cast<std::size_t>(rng_.below(buf_.size()));
    T out = std::move(buf_[k]);
    if (k + 1 != buf_.size()) buf_[k] = std::move(buf_.back());
    buf_.pop_back();
    return out;
  }
  std::size_t capacity_, initial_;
  std::uint64_t pushes_ = 0;
  random_engine rng_;
  std::vector<T> buf_;
};

// ---- batching ----------------------------------------------------------------

// Groups items into vectors of `size`; the last, shorter batch is kept unless
// `partial` is false (webdataset's batched(n, partial=True)).
template <class T>
class batcher {
 public:
  explicit batcher(std::size_t size, bool partial = true) : size_(size == 0 ? 1 : size), partial_(partial) {
    batch_.reserve(size_);
  }
  std::optional<std::vector<T>> push(T item) {
    batch_.push_back(std::move(item));
    if (batch_.size() < size_) return std::nullopt;
    std::vector<T> out = std::move(batch_);
    batch_ = {};
    batch_.reserve(size_);
    return out;
  }
  // The final partial batch (if any and if partial batches are kept).
  std::optional<std::vector<T>> finish() {
    if (batch_.empty() || !partial_) {
      batch_.clear();
      return std::nullopt;
    }
    std::vector<T> out = std::move(batch_);
    batch_ = {};
    return out;
  }

 private:
  std::size_t size_;
  bool partial_;
  std::vector<T> batch_;
};

// ---- mapping over fields -----------------------------------------------------

// webdataset's map_dict for one field: replaces the bytes of the field whose
// ext is exactly `ext` with fn(bytes); returns false (and does nothing) when
// the sample has no such field.
//   wds::map_field(s, "txt", [](std::vector<std::byte> b) { return upper(b); });
template <class Fn>
bool map_field(sample& s, std::string_view ext, Fn&& fn) {
  field* f = s.find(ext);
  if (!f) return false;
  f->data = fn(std::move(f->data));
  return true;
}

// Applies fn(field&) to every field (ext, data and member are visible), in
// tar order; `_`-prefixed meta fields included.
template <class Fn>
void for_each_field(sample& s, Fn&& fn) {
  for (field& f : s.fields()) fn(f);
}

WDS_NAMESPACE_END
