// SPDX-License-Identifier: MIT
#pragma once

// CPython's random.Random, bit for bit: MT19937 seeded with init_by_array
// from the absolute value of an integer seed (Modules/_randommodule.c),
// getrandbits, _randbelow by rejection (Lib/random.py), randint, shuffle and
// random(). With it, wds reproduces webdataset's shard and buffer shuffle
// orders for a given seed:
//   wds::python_random rng(42);      // random.Random(42)
//   rng.randint(0, 9);               // rng.randint(0, 9)
//   rng.shuffle(v);                  // rng.shuffle(v)

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace wds {

class python_random {
 public:
  // random.Random(seed) for an int seed (Python uses abs(seed)).
  explicit python_random(std::int64_t seed = 0) { this->seed(seed); }

  void seed(std::int64_t s) {
    std::uint64_t n = s < 0 ? std::uint64_t(0) - std::uint64_t(s) : std::uint64_t(s);
    std::uint32_t key[2] = {static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n >> 32)};
    init_by_array(key, key[1] ? 2 : 1);
  }

  // One 32-bit output of MT19937 (genrand_uint32).
  std::uint32_t next_u32() noexcept {
    if (index_ >= n_) twist();
    std::uint32_t y = mt_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  // getrandbits(k) for 0 <= k <= 64.
  std::uint64_t getrandbits(unsigned k) noexcept {
    if (k == 0) return 0;
    if (k <= 32) return next_u32() >> (32 - k);
    std::uint64_t lo = next_u32();
    std::uint64_t hi = next_u32() >> (64 - k);
    return lo | (hi << 32);
  }

  // _randbelow(n) for n > 0: getrandbits(n.bit_length()) until below n.
  std::uint64_t randbelow(std::uint64_t n) noexcept {
    if (n == 0) return 0;
    unsigned k = 0;
    for (std::uint64_t v = n; v; v >>= 1) ++k;
    std::uint64_t r = getrandbits(k);
    while (r >= n) r = getrandbits(k);
    return r;
  }

  // randint(a, b), both ends included (a <= b).
  std::int64_t randint(std::int64_t a, std::int64_t b) noexcept {
    return a + static_cast<std::int64_t>(randbelow(static_cast<std::uint64_t>(b - a) + 1));
  }

  // random(): 53-bit float in [0, 1).
  double random() noexcept {
    const std::uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

  // random.shuffle: Fisher-Yates from the end with _randbelow(i + 1).
  template <class Vec>
  void shuffle(Vec& x) {
    using std::swap;
    for (std::size_t i = x.size(); i-- > 1;) {
      const auto j = static_cast<std::size_t>(randbelow(i + 1));
      swap(x[i], x[j]);
    }
  }

  // Uniform in [0, n): the name the wds shuffles use for their engines.
  std::uint64_t below(std::uint64_t n) noexcept { return randbelow(n); }

 private:
  static constexpr std::size_t n_ = 624, m_ = 397;

  void init_genrand(std::uint32_t s) noexcept {
    mt_[0] = s;
    for (std::size_t i = 1; i < n_; ++i)
      mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
    index_ = n_;
  }

  void init_by_array(const std::uint32_t* key, std::size_t len) noexcept {
    init_genrand(19650218u);
    std::size_t i = 1, j = 0;
    for (std::size_t k = n_ > len ? n_ : len; k; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
      ++i;
      ++j;
      if (i >= n_) {
        mt_[0] = mt_[n_ - 1];
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (std::size_t k = n_ - 1; k; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
      ++i;
      if (i >= n_) {
        mt_[0] = mt_[n_ - 1];
        i = 1;
      }
    }
    mt_[0] = 0x80000000u;
    index_ = n_;
  }

  void twist() noexcept {
    constexpr std::uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix = 0x9908b0dfu;
    for (std::size_t k = 0; k < n_; ++k) {
      const std::uint32_t y = (mt_[k] & upper) | (mt_[(k + 1) % n_] & lower);
      mt_[k] = mt_[(k + m_) % n_] ^ (y >> 1) ^ ((y & 1u) ? matrix : 0u);
    }
    index_ = 0;
  }

  std::array<std::uint32_t, n_> mt_{};
  std::size_t index_ = n_;
};

}  // namespace wds
