// SPDX-License-Identifier: MIT
#pragma once

// parallel_gzip_source<Source>: one gzip stream inflated on several threads
// (the pugz / rapidgzip method), same bytes and same accept/refuse decisions
// as gzip_source. Needs WDS_HAS_ZLIB=1.
//
// The compressed member is cut into chunks. A worker takes chunk k > 0, looks
// for a deflate block start after the chunk's nominal start (a plausible
// dynamic-Huffman header or stored-block header, confirmed by decoding that
// block and checking the next header), and inflates from there without
// knowing the 32 KiB window before it. It runs two inflates over the first
// stretch, one with a dictionary whose byte i is i & 0xff and one whose byte
// i is (i >> 8) with the top bit flipped against the first: an output byte on
// which they agree is a literal (or copies one), where they differ the pair
// names the window position it came from (a 15-bit "marker"). Once 32 KiB of
// output carry no marker, later back-references cannot reach the unknown
// window, and one inflate continues alone.
//
// Exactness never rests on the guess: the consumer walks the chain in order,
// and chunk k's output is accepted only if the verified decode before it ended
// on a block boundary exactly where chunk k's decode started; markers are then
// replaced from the real window (one before the stream start is zlib's
// "invalid distance too far back"). Any mismatch, a chunk that runs out of
// input or passes the output cap, is decoded again by the consumer, in order
// and with the real window. CRC-32 and ISIZE are checked over the member.

#include <wds/config.hpp>

#if !WDS_HAS_ZLIB
#error "wds/codec/gzip_parallel.hpp needs zlib: build with WDS_HAS_ZLIB=1 and link zlib"
#endif

#include <wds/codec/gzip.hpp>
#include <wds/codec/stream.hpp>
#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>

#include <zlib.h>
#if WDS_HAS_ISAL
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN

struct parallel_gzip_options {
  unsigned threads = 0;                                  // 0: hardware_concurrency(); 1: gzip_source's decoder
  std::size_t chunk_size = std::size_t{4} << 20;         // compressed bytes per chunk
  std::size_t max_chunk_output = std::size_t{64} << 20;  // a chunk expanding further is decoded in order instead
};

namespace detail {
namespace pgz {

constexpr std::uint64_t no_bit = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t window_size = 32768;

// Up to 32 bits of `p` (n bytes) from bit `bit`, LSB first as deflate packs them; zeros past the end.
inline std::uint32_t bits_at(const std::uint8_t* p, std::size_t n, std::uint64_t bit, unsigned count) noexcept {
  const std::uint64_t byte = bit >> 3;
  std::uint64_t v = 0;
  if (byte + 8 <= n) {
    std::memcpy(&v, p + byte, 8);  // little-endian hosts only (x86, arm64), as ISA-L itself
  } else {
    for (std::uint64_t i = 0; i < 8 && byte + i < n; ++i) v |= std::uint64_t{p[byte + i]} << (8 * i);
  }
  return static_cast<std::uint32_t>((v >> (bit & 7)) & ((std::uint64_t{1} << count) - 1));
}

// Kraft sum of a set of code lengths: 0 complete, > 0 incomplete, < 0 over-subscribed.
inline int code_left(const std::uint8_t* len, unsigned n, unsigned* used = nullptr) noexcept {
  unsigned count[16] = {};
  unsigned nonzero = 0;
  for (unsigned i = 0; i < n; ++i) {
    ++count[len[i]];
    nonzero += len[i] != 0;
  }
  int left = 1;
  for (unsigned l = 1; l < 16; ++l) {
    left = left * 2 - static_cast<int>(count[l]);
    if (left < 0) return -1;
  }
  if (used) *used = nonzero;
  return left;
}

// Whether a dynamic-Huffman block header parses at `bit` into codes zlib would
// accept (complete code-length and literal/length codes with end-of-block,
// a complete, single or empty distance code). Most bit positions fail in the first 17 bits.
inline bool dynamic_header_ok(const std::uint8_t* in, std::size_t n, std::uint64_t bit, bool allow_final) noexcept {
  const std::uint64_t end = std::uint64_t{n} * 8;
  if (bit + 17 > end) return false;
  const std::uint32_t h = bits_at(in, n, bit, 17);
  if ((h & 6u) != 4u || (!allow_final && (h & 1u))) return false;  // BTYPE 10
  const unsigned hlit = (h >> 3) & 31u, hdist = (h >> 8) & 31u, hclen = ((h >> 13) & 15u) + 4;
  if (hlit > 29 || hdist > 29) return false;
  bit += 17;
  if (bit + 3 * hclen > end) return false;
  static constexpr std::uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  std::uint8_t cl[19] = {};
  for (unsigned i = 0; i < hclen; ++i, bit += 3) cl[order[i]] = static_cast<std::uint8_t>(bits_at(in, n, bit, 3));
  if (code_left(cl, 19) != 0) return false;
  // Decoding table for the code-length code (at most 7 bits).
  std::uint16_t table[128];
  unsigned next[16] = {}, count[16] = {};
  for (unsigned s = 0; s < 19; ++s) ++count[cl[s]];
  count[0] = 0;
  for (unsigned l = 1, code = 0; l < 16; ++l) {
    code = (code + count[l - 1]) << 1;
    next[l] = code;
  }
  for (unsigned s = 0; s < 19; ++s) {
    const unsigned l = cl[s];
    if (!l) continue;
    const unsigned code = next[l]++;
    unsigned rev = 0;
    for (unsigned i = 0; i < l; ++i) rev |= ((code >> i) & 1u) << (l - 1 - i);
    for (unsigned r = rev; r < 128; r += 1u << l) table[r] = static_cast<std::uint16_t>(s | (l << 8));
  }
  const unsigned total = hlit + 257 + hdist + 1;
  std::uint8_t len[320];
  for (unsigned i = 0; i < total;) {
    if (bit + 7 > end + 7) return false;
    const std::uint16_t e = table[bits_at(in, n, bit, 7)];
    bit += e >> 8;
    const unsigned sym = e & 0xffu;
    if (sym < 16) {
      len[i++] = static_cast<std::uint8_t>(sym);
      continue;
    }
    unsigned rep;
    std::uint8_t val = 0;
    if (sym == 16) {
      if (i == 0) return false;
      val = len[i - 1];
      rep = 3 + bits_at(in, n, bit, 2);
      bit += 2;
    } else if (sym == 17) {
      rep = 3 + bits_at(in, n, bit, 3);
      bit += 3;
    } else {
      rep = 11 + bits_at(in, n, bit, 7);
      bit += 7;
    }
    if (i + rep > total) return false;
    while (rep--) len[i++] = val;
  }
  if (bit > end) return false;
  if (len[256] == 0 || code_left(len, hlit + 257) != 0) return false;
  unsigned used = 0;
  const int dleft = code_left(len + hlit + 257, hdist + 1, &used);
  return dleft == 0 || used <= 1;  // zlib accepts an empty or one-code distance set
}

// A non-final stored block whose LEN starts at byte `at`, its 3 header bits just before.
inline bool stored_header_ok(const std::uint8_t* in, std::size_t n, std::size_t at) noexcept {
  if (at < 1 || at + 4 > n || (in[at - 1] & 0xe0u)) return false;
  const unsigned len = in[at] | (in[at + 1] << 8), nlen = in[at + 2] | (in[at + 3] << 8);
  return (len ^ nlen) == 0xffffu;
}

// A block header that could follow a block ending at `bit` (final ones included).
inline bool next_header_plausible(const std::uint8_t* in, std::size_t n, std::uint64_t bit) noexcept {
  if (bit + 3 > std::uint64_t{n} * 8) return true;  // cannot tell yet
  const unsigned type = (bits_at(in, n, bit, 3) >> 1) & 3u;
  if (type == 3) return false;
  if (type == 2) return bit + 300 > std::uint64_t{n} * 8 || dynamic_header_ok(in, n, bit, true);
  if (type == 0) {
    const std::size_t at = static_cast<std::size_t>((bit + 3 + 7) / 8);
    if (at + 4 > n) return true;
    return ((in[at] | (in[at + 1] << 8)) ^ (in[at + 2] | (in[at + 3] << 8))) == 0xffffu;
  }
  return true;
}

// Stored blocks are chunk starts only without igzip: a chunk that ends at one
// would have to stop there on its own (igzip cannot be cut at an ambiguous,
// padded boundary), and data stored whole is inflated in order at memcpy speed.
constexpr bool stored_starts = !WDS_HAS_ISAL;

// The first candidate block start in [from, to): a stored block is reported
// at its LEN byte * 8 - 3 (header bits right before LEN, no padding).
inline std::uint64_t find_block(const std::uint8_t* in, std::size_t n, std::uint64_t from, std::uint64_t to,
                                bool stored = stored_starts) noexcept {
  for (std::uint64_t bit = from; bit < to; ++bit) {
    if (stored && ((bit + 3) & 7) == 0 && stored_header_ok(in, n, static_cast<std::size_t>((bit + 3) / 8))) return bit;
    if (dynamic_header_ok(in, n, bit, false)) return bit;
  }
  return no_bit;
}

// Raw inflate (zlib) that stops at every block end and knows its bit position.
class raw_inflater {
 public:
  enum class result { block_end, stream_end, need_input, out_full, error };

  raw_inflater() {
    if (inflateInit2(&z_, -15) != Z_OK) throw codec_failure{110, "inflateInit2 failed"};
  }
  raw_inflater(const raw_inflater&) = delete;
  raw_inflater& operator=(const raw_inflater&) = delete;
  ~raw_inflater() { inflateEnd(&z_); }

  // Starts at absolute bit `bit`; `partial` is the byte holding it. Input then
  // continues at byte next_byte().
  void start(std::uint64_t bit, std::uint8_t partial, const std::uint8_t* dict, std::size_t dict_n) {
    inflateReset(&z_);
    if (dict_n) inflateSetDictionary(&z_, dict, static_cast<uInt>(dict_n));
    next_ = bit / 8;
    const unsigned r = static_cast<unsigned>(bit % 8);
    if (r) {
      inflatePrime(&z_, static_cast<int>(8 - r), partial >> r);
      ++next_;
    }
    z_.avail_in = 0;
    bits_ = r ? 8 - r : 0;
  }
  // The next input bytes, starting at absolute byte next_byte().
  void feed(const std::uint8_t* p, std::size_t n) {
    z_.next_in = const_cast<Bytef*>(p);
    z_.avail_in = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
  }
  std::size_t avail_in() const noexcept { return z_.avail_in; }
  std::uint64_t next_byte() const noexcept { return next_; }
  std::uint64_t bit() const noexcept { return next_ * 8 - bits_; }
  const char* message() const noexcept { return z_.msg ? z_.msg : "inflate failed"; }

  result run(std::uint8_t* out, std::size_t out_n, std::size_t& produced) {
    const uInt ai = z_.avail_in, ao = static_cast<uInt>(std::min<std::size_t>(out_n, 1u << 30));
    z_.next_out = out;
    z_.avail_out = ao;
    const int rc = inflate(&z_, Z_BLOCK);
    next_ += ai - z_.avail_in;
    produced = ao - z_.avail_out;
    bits_ = static_cast<unsigned>(z_.data_type) & 63u;
    if (rc == Z_MEM_ERROR) throw codec_failure{110, "out of memory in inflate"};
    if (rc == Z_STREAM_END) return result::stream_end;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return result::error;
    // After the final block zlib stops once more before its end: that is the member's end.
    if (z_.data_type & 128) return (z_.data_type & 64) ? result::stream_end : result::block_end;
    if (z_.avail_out == 0) return result::out_full;
    return result::need_input;
  }

 private:
  z_stream z_{};
  std::uint64_t next_ = 0;  // absolute byte of z_.next_in
  unsigned bits_ = 0;       // bits zlib holds but has not used
};

// One chunk's speculative decode and its outcome.
struct chunk_task {
  enum class outcome { boundary, member_end, failed, give_up };

  std::size_t index = 0;
  std::uint64_t base = 0;                 // absolute byte of in[0]
  std::vector<std::uint8_t> in;           // [chunk start, next chunk's end) of the compressed member
  std::uint64_t target = no_bit;          // stop at the first block boundary at or after this bit
  std::uint64_t search_end = 0;           // candidates are looked for in [base * 8, search_end)
  std::atomic<bool> cancel{false};

  bool done = false;  // guarded by the pool's mutex
  outcome how = outcome::give_up;
  std::uint64_t start = 0, end = 0;       // absolute bits
  std::vector<std::uint8_t> out, alt;     // output; the second inflate's over [0, prefix)
  std::size_t prefix = 0;                 // markers only before this
  uLong crc_rest = 0;                     // CRC-32 of out[prefix, size)
  std::string why;                        // for failed
  std::exception_ptr ex;
};

// Inflates one block (or until out of input/cap) appending to out[used..].
inline raw_inflater::result inflate_block(raw_inflater& z, std::vector<std::uint8_t>& out, std::size_t& used,
                                          std::size_t cap, const std::atomic<bool>& cancel) {
  for (;;) {
    if (out.size() - used < (std::size_t{64} << 10)) {
      if (used >= cap || cancel.load(std::memory_order_relaxed)) return raw_inflater::result::out_full;
      // Never much past the cap: memory stays bounded whatever the input.
      out.resize(std::min(std::max(out.size() * 2, used + (std::size_t{256} << 10)), cap + (std::size_t{256} << 10)));
    }
    std::size_t got = 0;
    const auto r = z.run(out.data() + used, out.size() - used, got);
    used += got;
    if (r != raw_inflater::result::out_full) return r;
  }
}

inline uLong crc_of(uLong crc, const std::uint8_t* p, std::size_t n) noexcept {
#if WDS_HAS_ISAL
  return crc32_gzip_refl(static_cast<std::uint32_t>(crc), p, n);  // the same CRC, carry-less multiply
#endif
  while (n) {  // crc32 takes uInt lengths
    const std::size_t k = std::min<std::size_t>(n, 1u << 30);
    crc = crc32(crc, p, static_cast<uInt>(k));
    p += k;
    n -= k;
  }
  return crc;
}

#if WDS_HAS_ISAL
// ISA-L from bit `from` (a block boundary, window `dict`) to bit `to`, where
// the input is cut and an empty final stored block appended: igzip ends there,
// consuming every bit, only if `to` is a block boundary of this decode (the
// only set bits after `to` are its BFINAL and the NLEN 0xffff, on which no
// other header can be valid). With `to` == no_bit: to the member's end, whose
// bit lands in *end. Output goes to out[used..]; false leaves `used`.
inline bool isal_until(const std::uint8_t* in, std::size_t n, std::uint64_t from, std::uint64_t to,
                       const std::uint8_t* dict, std::size_t dict_n, std::vector<std::uint8_t>& out,
                       std::size_t& used, std::size_t cap, const std::atomic<bool>& cancel, std::uint64_t* end_bit) {
  const bool to_end = to == no_bit;
  const std::size_t b0 = static_cast<std::size_t>(from / 8), e = to_end ? n : static_cast<std::size_t>(to / 8);
  const unsigned r = static_cast<unsigned>(from % 8), re = to_end ? 0 : static_cast<unsigned>(to % 8);
  const std::size_t p = b0 + (r ? 1 : 0);
  if (p > e) return false;
  std::uint8_t tail[7] = {};
  std::size_t tn = 0;
  tail[tn++] = static_cast<std::uint8_t>(((to_end ? 0 : in[e]) & ((1u << re) - 1)) | (1u << re));  // BFINAL 1, BTYPE 00
  if (re >= 6) tail[tn++] = 0;                                                     // the header spills over
  tail[tn + 2] = tail[tn + 3] = 0xff;                                              // LEN 0, NLEN 0xffff
  tn += 4;
  auto st = std::make_unique<inflate_state>();
  isal_inflate_init(st.get());
  st->crc_flag = 0;
  st->hist_bits = 0;
  if (dict_n && isal_inflate_set_dict(st.get(), const_cast<std::uint8_t*>(dict), static_cast<std::uint32_t>(dict_n)) != 0)
    return false;
  if (r) {
    st->read_in = in[b0] >> r;
    st->read_in_length = static_cast<std::int32_t>(8 - r);
  }
  st->next_in = const_cast<std::uint8_t*>(in + p);
  st->avail_in = static_cast<std::uint32_t>(e - p);
  bool in_tail = false;
  const std::size_t start = used;
  for (;;) {
    if (out.size() - used < (std::size_t{256} << 10)) {
      if (used >= cap || cancel.load(std::memory_order_relaxed)) break;
      out.resize(std::min(std::max(out.size() * 2, used + (std::size_t{1} << 20)), cap + (std::size_t{1} << 20)));
    }
    st->next_out = out.data() + used;
    st->avail_out = static_cast<std::uint32_t>(std::min<std::size_t>(out.size() - used, 1u << 30));
    const std::uint32_t room = st->avail_out;
    const int rc = isal_inflate(st.get());
    used += room - st->avail_out;
    if (rc < 0 || rc == ISAL_NEED_DICT) break;
    if (st->block_state == ISAL_BLOCK_FINISH) {
      const std::uint64_t end = (std::uint64_t{e} + (in_tail ? tn : 0) - st->avail_in) * 8 -
                                static_cast<std::uint64_t>(st->read_in_length);
      if (to_end && !in_tail) {
        *end_bit = end;
        return true;
      }
      if (in_tail && end == (std::uint64_t{e} + tn) * 8) return true;
      break;
    }
    if (st->avail_in == 0) {
      if (in_tail || to_end) break;  // to_end: the member goes on past this input
      in_tail = true;
      st->next_in = tail;
      st->avail_in = static_cast<std::uint32_t>(tn);
    }
  }
  used = start;
  return false;
}
#endif

inline void decode_chunk(chunk_task& t, const parallel_gzip_options& opt, const std::atomic<bool>& stop) {
  using R = raw_inflater::result;
  static const std::vector<std::uint8_t> dict_lo = [] {
    std::vector<std::uint8_t> d(window_size);
    for (std::size_t i = 0; i < window_size; ++i) d[i] = static_cast<std::uint8_t>(i & 0xffu);
    return d;
  }();
  static const std::vector<std::uint8_t> dict_hi = [] {
    std::vector<std::uint8_t> d(window_size);
    // The top bit opposite dict_lo's: the two never agree on a window byte.
    for (std::size_t i = 0; i < window_size; ++i) d[i] = static_cast<std::uint8_t>((i >> 8) | (~i & 0x80u));
    return d;
  }();
  const std::uint8_t* in = t.in.data();
  const std::size_t n = t.in.size();
  const std::uint64_t base_bit = t.base * 8;
  // Photos lose their markers within a few hundred KiB; text may keep some for good.
  const std::size_t cap = opt.max_chunk_output, prefix_cap = std::min(cap, std::size_t{2} << 20);
  raw_inflater a, d;
  const auto begin = [&](raw_inflater& z, std::uint64_t rel, const std::vector<std::uint8_t>& dict) {
    z.start(base_bit + rel, rel / 8 < n ? in[rel / 8] : 0, dict.data(), dict.size());
    const std::uint64_t at = z.next_byte() - t.base;
    z.feed(in + std::min<std::uint64_t>(at, n), at < n ? n - at : 0);
  };
  std::size_t used = 0, alt_used = 0, marked = 0;  // output sizes; markers only before `marked`
  const auto scan = [&](std::size_t from) {
    for (std::size_t i = from; i < used; ++i)
      if (t.out[i] != t.alt[i]) marked = i + 1;
  };
  R r = R::error;
  std::uint64_t from = 0;
  if (t.index == 0) {  // the member's start: nothing unknown, no second inflate
    a.start(base_bit, in[0], nullptr, 0);
    a.feed(in, n);
    t.start = base_bit;
    r = R::block_end;
  }
  for (; t.index != 0;) {  // find a start whose first block decodes and is followed by a plausible header
    if (stop.load(std::memory_order_relaxed) || t.cancel.load(std::memory_order_relaxed)) return;
    const std::uint64_t s = find_block(in, n, from, t.search_end - base_bit);
    if (s == no_bit) return;
    begin(a, s, dict_lo);
    begin(d, s, dict_hi);
    used = alt_used = marked = 0;
    r = inflate_block(a, t.out, used, prefix_cap, t.cancel);
    const R rd = inflate_block(d, t.alt, alt_used, prefix_cap, t.cancel);
    if (rd != r || used != alt_used) return;
    if (r == R::out_full || r == R::need_input) return;  // a huge or cut first block: the consumer decodes it
    if (r == R::block_end && next_header_plausible(in, n, a.bit() - base_bit)) {
      t.start = base_bit + s;
      break;
    }
    from = s + 1;
  }
  scan(0);
  bool known = t.index == 0 || used - marked >= window_size;  // the window no longer matters
#if WDS_HAS_ISAL
  bool tried_isal = false;
#endif
  for (;;) {
    if (stop.load(std::memory_order_relaxed) || t.cancel.load(std::memory_order_relaxed)) return;
    if (r == R::error) {
      t.how = chunk_task::outcome::failed;
      t.why = a.message();
      break;
    }
    if (r == R::stream_end) {
      t.how = chunk_task::outcome::member_end;
      t.end = a.bit();
      break;
    }
    if (r != R::block_end) return;  // out of input or past the cap: the consumer decodes it
    if (a.bit() >= t.target) {
      t.how = chunk_task::outcome::boundary;
      t.end = a.bit();
      break;
    }
    if (known) {
#if WDS_HAS_ISAL
      // The rest up to the next chunk's candidate start through igzip, if that start is confirmed.
      if (!tried_isal) {
        tried_isal = true;
        const std::size_t w = std::min(used, window_size);
        const std::uint8_t* dict = t.out.data() + used - w;
        if (t.target == no_bit) {  // the last chunk: to the member's end
          std::uint64_t end = 0;
          if (isal_until(in, n, a.bit() - base_bit, no_bit, dict, w, t.out, used, cap, t.cancel, &end)) {
            t.how = chunk_task::outcome::member_end;
            t.end = base_bit + end;
            break;
          }
        } else {
          const std::uint64_t next = find_block(in, n, t.target - base_bit, std::uint64_t{n} * 8, false);
          if (next != no_bit &&
              isal_until(in, n, a.bit() - base_bit, next, dict, w, t.out, used, cap, t.cancel, nullptr)) {
            t.how = chunk_task::outcome::boundary;
            t.end = base_bit + next;
            break;
          }
        }
      }
#endif
      r = inflate_block(a, t.out, used, cap, t.cancel);
      continue;
    }
    const std::size_t before = used;
    r = inflate_block(a, t.out, used, prefix_cap, t.cancel);
    const R rd = inflate_block(d, t.alt, alt_used, prefix_cap, t.cancel);
    if (rd != r || alt_used != used) return;
    scan(before);
    known = used - marked >= window_size;
  }
  t.out.resize(used);
  t.prefix = marked;
  t.alt.resize(marked);
  t.alt.shrink_to_fit();
  t.crc_rest = crc_of(crc32(0L, Z_NULL, 0), t.out.data() + marked, used - marked);
}

}  // namespace pgz

// The Decoder (wds/codec/stream.hpp) behind parallel_gzip_source. It takes
// input ahead of its output (whole chunks) and hands back what follows a
// member through take_overread(), so the loop's member, padding and garbage
// rules are gzip_source's.
class parallel_gzip_decoder {
 public:
  static constexpr const char* format = "gzip";
  static constexpr std::size_t magic_size = 2, padding_unit = 1;
  static bool is_magic(const std::byte* p, std::size_t n) noexcept { return is_gzip_magic(p, n); }

  explicit parallel_gzip_decoder(const limits& lim) : parallel_gzip_decoder(lim, parallel_gzip_options{}) {}
  parallel_gzip_decoder(const limits& lim, const parallel_gzip_options& opt) : opt_(opt) {
    unsigned threads = opt_.threads ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
    opt_.chunk_size = std::max<std::size_t>(opt_.chunk_size, 256);  // tiny ones for the tests and the fuzzer
    opt_.max_chunk_output = std::max<std::size_t>(opt_.max_chunk_output, std::size_t{1} << 20);
    if (threads <= 1) {
      plain_ = std::make_unique<gzip_decoder>(lim);
      return;
    }
    try {
      for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    } catch (const std::system_error&) {
      // Fewer threads than asked (none: the consumer decodes everything in order).
    }
  }
  parallel_gzip_decoder(const parallel_gzip_decoder&) = delete;
  parallel_gzip_decoder& operator=(const parallel_gzip_decoder&) = delete;
  ~parallel_gzip_decoder() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
      stop_flag_ = true;
    }
    work_cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    if (plain_) return plain_->step(in, in_n, out, out_n);
    if (in_n == 0) eof_ = true;  // the loop offers no input only at its end
    std::size_t taken = 0;
    if (!hdr_.done()) {
      taken = hdr_.gather(in, in_n);
      if (!hdr_.done()) return {taken, 0, false};
      check_header_crc();
    }
    taken += take_input(reinterpret_cast<const std::uint8_t*>(in) + taken, in_n - taken);
    auto* dst = reinterpret_cast<std::uint8_t*>(out);
    for (;;) {
      dispatch();
      if (pending_pos_ < pending_.size()) {
        const std::size_t k = std::min(out_n, pending_.size() - pending_pos_);
        std::memcpy(dst, pending_.data() + pending_pos_, k);
        pending_pos_ += k;
        return {taken, k, false};
      }
      if (failed_) throw codec_failure{112, "corrupt gzip data: " + why_};
      if (member_end_) return {taken, 0, trailer()};
#if WDS_HAS_ISAL
      if (rest_) {
        const std::size_t k = run_rest(dst, out_n);
        if (k || !rest_) {
          if (k) return {taken, k, false};
          continue;
        }
        return {taken, 0, false};  // needs input
      }
#endif
      if (seq_active_) {
        const std::size_t k = run_seq(dst, out_n);
        if (k) return {taken, k, false};
        if (seq_active_) return {taken, 0, false};  // needs input
        continue;
      }
      if (!next_chunk(taken > 0)) return {taken, 0, false};
    }
  }

  void reset() {
    if (plain_) return plain_->reset();
    cancel_tasks();
    hdr_.reset();
    segs_.clear();
    in_end_ = 0;
    eof_ = false;
    chain_ = 0;
    hist_ = 0;
    window_.clear();
    crc_ = crc32(0L, Z_NULL, 0);
    seq_.reset();
    seq_active_ = false;
#if WDS_HAS_ISAL
    rest_.reset();
#endif
    pending_.clear();
    pending_pos_ = 0;
    failed_ = false;
    member_end_ = false;
    next_dispatch_ = 0;
    over_.clear();
  }

  std::vector<std::byte> take_overread() { return std::move(over_); }

 private:
  using task = pgz::chunk_task;

  std::uint64_t chunk_bits() const noexcept { return std::uint64_t{opt_.chunk_size} * 8; }
  std::uint64_t nominal(std::size_t k) const noexcept { return std::uint64_t{k} * opt_.chunk_size; }

  void check_header_crc() {
    const auto& h = hdr_.bytes();
    if (!(h[3] & 2u)) return;
    const uLong c = crc32(0L, h.data(), static_cast<uInt>(h.size() - 2));
    if ((c & 0xffffu) != (h[h.size() - 2] | (unsigned{h[h.size() - 1]} << 8)))
      throw codec_failure{112, "corrupt gzip data: header crc mismatch"};
  }

  // Compressed bytes buffered ahead of the in-order decode, at most.
  std::uint64_t room() const noexcept { return std::uint64_t{workers_.size() + 4} * opt_.chunk_size; }

  // Where the in-order decode is (bytes before it are no longer needed).
  std::uint64_t chain_byte() const noexcept {
#if WDS_HAS_ISAL
    if (rest_) return rest_at_;
#endif
    return seq_active_ ? seq_->next_byte() : chain_ / 8;
  }

  std::size_t take_input(const std::uint8_t* in, std::size_t n) {
    const std::uint64_t ahead = in_end_ - std::min(in_end_, chain_byte());
    if (ahead >= room()) return 0;
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, room() - ahead));
    for (std::size_t done = 0; done < n;) {
      if (segs_.empty() || segs_.back().data.size() == opt_.chunk_size) {
        segs_.push_back({in_end_, {}});
        segs_.back().data.reserve(opt_.chunk_size);  // never reallocated: zlib may point into it
      }
      auto& s = segs_.back().data;
      const std::size_t k = std::min(n - done, opt_.chunk_size - s.size());
      s.insert(s.end(), in + done, in + done + k);
      done += k;
      in_end_ += k;
    }
    // Drop what neither the in-order decode nor a chunk still to start needs.
    const std::uint64_t keep = std::min(chain_byte(), nominal(next_dispatch_));
    while (segs_.size() > 1 && segs_.front().start + segs_.front().data.size() <= keep) segs_.pop_front();
    return n;
  }

  // Copies [from, to) of the buffered member into dst.
  void copy_input(std::uint64_t from, std::uint64_t to, std::uint8_t* dst) const {
    for (const auto& s : segs_) {
      const std::uint64_t a = std::max(from, s.start), b = std::min(to, s.start + s.data.size());
      if (a < b) {
        std::memcpy(dst, s.data.data() + (a - s.start), static_cast<std::size_t>(b - a));
        dst += b - a;
      }
    }
  }

  // Starts chunk tasks while input and the in-flight bound allow.
  void dispatch() {
    if (workers_.empty() || member_end_) return;
#if WDS_HAS_ISAL
    if (rest_) return;
#endif
    const std::size_t chain_chunk = static_cast<std::size_t>(chain_ / chunk_bits());
    if (chain_ > 0 && next_dispatch_ <= chain_chunk) next_dispatch_ = chain_chunk + 1;
    while (tasks_.size() < workers_.size() + 1) {
      const std::size_t k = next_dispatch_;
      const std::uint64_t lo = nominal(k), hi = nominal(k + 2);
      if (in_end_ < hi && !(eof_ && in_end_ > lo + opt_.chunk_size / 4)) return;
      if (segs_.empty() || lo < segs_.front().start) return;
      auto t = std::make_shared<task>();
      t->index = k;
      t->in = reuse(in_pool_);
      t->out = reuse(out_pool_);
      t->base = lo;
      const std::uint64_t top = std::min(hi, in_end_);
      t->in.resize(static_cast<std::size_t>(top - lo));
      copy_input(lo, top, t->in.data());
      t->target = (eof_ && in_end_ <= nominal(k + 1)) ? pgz::no_bit : nominal(k + 1) * 8;
      t->search_end = std::min(nominal(k + 1), top) * 8;
      ++next_dispatch_;
      tasks_.push_back(t);
      {
        std::lock_guard<std::mutex> lk(m_);
        queue_.push_back(std::move(t));
      }
      work_cv_.notify_one();
    }
  }

  void work() {
    for (;;) {
      std::shared_ptr<task> t;
      {
        std::unique_lock<std::mutex> lk(m_);
        work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        t = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        pgz::decode_chunk(*t, opt_, stop_flag_);
      } catch (...) {
        t->ex = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(m_);
        t->done = true;
      }
      done_cv_.notify_all();
    }
  }

  void cancel_tasks() {
    std::lock_guard<std::mutex> lk(m_);
    for (auto& t : tasks_) t->cancel = true;
    tasks_.clear();
    queue_.clear();
  }

  // The chain is at a block boundary: take the chunk task that starts there, or decode
  // in order. False: wait for input (the first chunk's task needs two chunks of it).
  bool next_chunk(bool took_input) {
    const std::size_t j = static_cast<std::size_t>(chain_ / chunk_bits());
    while (!tasks_.empty() && tasks_.front()->index < j) {
      tasks_.front()->cancel = true;
      tasks_.pop_front();
    }
    if (j == 0 && tasks_.empty() && !workers_.empty() && !eof_) return false;
    if (!tasks_.empty() && tasks_.front()->index == j) {
      std::shared_ptr<task> t = tasks_.front();
      {
        std::unique_lock<std::mutex> lk(m_);
        // Read ahead (so later chunks can start) rather than wait while input is welcome.
        if (!t->done && took_input && !eof_ && in_end_ - std::min(in_end_, chain_byte()) < room()) return false;
        done_cv_.wait(lk, [&] { return t->done; });
      }
      tasks_.pop_front();
      if (t->ex) std::rethrow_exception(t->ex);
      const bool ok = accept(*t);
      recycle(in_pool_, std::move(t->in));
      if (ok) return true;
      recycle(out_pool_, std::move(t->out));
#if WDS_HAS_ISAL
      if (t->how == task::outcome::give_up) return start_rest(), true;
#endif
    }
#if WDS_HAS_ISAL
    if (j == 0) return start_rest(), true;  // a small member: igzip alone
#endif
    start_seq(j);
    return true;
  }

  // A stored block's start as chunk tasks report it (header bits right before LEN).
  static std::uint64_t normalized(const task& t, std::uint64_t bit) noexcept {
    const std::uint64_t rel = bit - t.base * 8;
    if (rel + 3 > t.in.size() * std::uint64_t{8} || pgz::bits_at(t.in.data(), t.in.size(), rel, 3) != 0) return bit;
    return (rel + 3 + 7) / 8 * 8 - 3 + t.base * 8;
  }

  bool accept(task& t) {
    if (t.how == task::outcome::give_up || (t.index != 0 && t.start != normalized(t, chain_))) return false;
    std::size_t n = t.out.size(), good = t.prefix;
    for (std::size_t i = 0; i < t.prefix; ++i) {
      if (t.out[i] == t.alt[i]) continue;
      const std::size_t at = t.out[i] | (std::size_t{t.alt[i] & 0x7fu} << 8), back = pgz::window_size - at;
      if (back > hist_) {  // before the member's first byte
        n = good = i;
        failed_ = true;
        why_ = "invalid distance too far back";
        break;
      }
      t.out[i] = window_[window_.size() - back];
    }
    t.out.resize(n);
    if (!failed_) {
      const uLong head = pgz::crc_of(crc32(0L, Z_NULL, 0), t.out.data(), good);
      crc_ = crc32_combine(crc_, crc32_combine(head, t.crc_rest, static_cast<z_off_t>(n - good)), static_cast<z_off_t>(n));
      if (t.how == task::outcome::failed) {
        failed_ = true;
        why_ = t.why;
      }
    }
    remember(t.out.data(), n);
    chain_ = t.end;
    seq_paused_ = false;
    member_end_ = t.how == task::outcome::member_end;
    if (member_end_) cancel_tasks();
    recycle(out_pool_, std::move(pending_));
    pending_ = std::move(t.out);
    pending_pos_ = 0;
    return true;
  }

  void recycle(std::vector<std::vector<std::uint8_t>>& pool, std::vector<std::uint8_t> v) {
    if (v.capacity() && pool.size() < workers_.size() + 2) pool.push_back(std::move(v));
  }
  static std::vector<std::uint8_t> reuse(std::vector<std::vector<std::uint8_t>>& pool) {
    if (pool.empty()) return {};
    std::vector<std::uint8_t> v = std::move(pool.back());
    pool.pop_back();
    v.clear();
    return v;
  }

  // Output is counted and its last 32 KiB kept as the window of the next chunk.
  void remember(const std::uint8_t* p, std::size_t n) {
    hist_ += n;
    if (n >= pgz::window_size) {
      window_.assign(p + n - pgz::window_size, p + n);
      return;
    }
    window_.insert(window_.end(), p, p + n);
    if (window_.size() > 2 * pgz::window_size)
      window_.erase(window_.begin(), window_.end() - static_cast<std::ptrdiff_t>(pgz::window_size));
  }

#if WDS_HAS_ISAL
  // The rest of the member through igzip, in order: once a chunk gave up
  // (its output past the cap, or markers that never die out, as in text whose
  // strings are copied on and on), the chunks after it would mostly give up too.
  void start_rest() {
    cancel_tasks();
    rest_ = std::make_unique<inflate_state>();
    isal_inflate_init(rest_.get());
    rest_->crc_flag = 0;
    rest_->hist_bits = 0;
    const std::size_t w = std::min<std::size_t>(window_.size(), pgz::window_size);
    if (w) isal_inflate_set_dict(rest_.get(), window_.data() + window_.size() - w, static_cast<std::uint32_t>(w));
    rest_at_ = chain_ / 8;
    if (chain_ % 8) {
      std::uint8_t partial = 0;
      copy_input(rest_at_, rest_at_ + 1, &partial);
      rest_->read_in = partial >> (chain_ % 8);
      rest_->read_in_length = static_cast<std::int32_t>(8 - chain_ % 8);
      ++rest_at_;
    }
    rest_fed_ = rest_at_;
    rest_->avail_in = 0;
  }

  std::size_t run_rest(std::uint8_t* dst, std::size_t n) {
    std::size_t produced = 0;
    for (;;) {
      if (rest_->avail_in == 0) {
        for (const auto& s : segs_)
          if (rest_at_ >= s.start && rest_at_ < s.start + s.data.size()) {
            rest_->next_in = const_cast<std::uint8_t*>(s.data.data() + (rest_at_ - s.start));
            rest_->avail_in = static_cast<std::uint32_t>(s.start + s.data.size() - rest_at_);
            rest_fed_ = rest_at_ + rest_->avail_in;
            break;
          }
      }
      rest_->next_out = dst + produced;
      rest_->avail_out = static_cast<std::uint32_t>(std::min<std::size_t>(n - produced, 1u << 30));
      const std::uint32_t room = rest_->avail_out, had = rest_->avail_in;
      const int rc = isal_inflate(rest_.get());
      const std::size_t got = room - rest_->avail_out;
      rest_at_ = rest_fed_ - rest_->avail_in;
      crc_ = pgz::crc_of(crc_, dst + produced, got);
      remember(dst + produced, got);
      produced += got;
      if (rc < 0 || rc == ISAL_NEED_DICT) {
        failed_ = true;
        why_ = isal_gzip_decoder::why(rc);
        rest_.reset();
        return produced;
      }
      if (rest_->block_state == ISAL_BLOCK_FINISH) {
        chain_ = rest_at_ * 8 - static_cast<std::uint64_t>(rest_->read_in_length);
        member_end_ = true;
        rest_.reset();
        return produced;
      }
      if (produced == n) return produced;
      if (rest_->avail_in == 0 && rest_at_ >= in_end_) return produced;  // needs input
      if (got == 0 && had == rest_->avail_in && rest_->avail_in != 0) {
        failed_ = true;  // no progress with input and room: never seen, refused rather than spun on
        why_ = "inflate made no progress";
        rest_.reset();
        return produced;
      }
    }
  }
#endif

  void start_seq(std::size_t j) {
    seq_target_ = (eof_ && in_end_ <= nominal(j + 1)) ? pgz::no_bit : nominal(j + 1) * 8;
    seq_active_ = true;
    if (seq_ && seq_->bit() == chain_ && seq_paused_) return;  // already there: go on
    if (!seq_) seq_ = std::make_unique<pgz::raw_inflater>();
    std::uint8_t partial = 0;
    if (chain_ % 8) copy_input(chain_ / 8, chain_ / 8 + 1, &partial);
    const std::size_t w = std::min<std::size_t>(window_.size(), pgz::window_size);
    seq_->start(chain_, partial, window_.data() + window_.size() - w, w);
  }

  // In-order decode from the chain to the first block boundary at or after seq_target_.
  std::size_t run_seq(std::uint8_t* dst, std::size_t n) {
    using R = pgz::raw_inflater::result;
    seq_paused_ = false;
    std::size_t produced = 0;
    for (;;) {
      if (seq_->avail_in() == 0) {
        const std::uint64_t at = seq_->next_byte();
        for (const auto& s : segs_)
          if (at >= s.start && at < s.start + s.data.size()) {
            seq_->feed(s.data.data() + (at - s.start), static_cast<std::size_t>(s.start + s.data.size() - at));
            break;
          }
      }
      std::size_t got = 0;
      const R r = seq_->run(dst + produced, n - produced, got);
      crc_ = pgz::crc_of(crc_, dst + produced, got);
      remember(dst + produced, got);
      produced += got;
      switch (r) {
        case R::block_end:
          if (seq_->bit() < seq_target_) break;
          chain_ = seq_->bit();
          seq_active_ = false;
          seq_paused_ = true;
          return produced;
        case R::stream_end:
          chain_ = seq_->bit();
          seq_active_ = false;
          member_end_ = true;
          cancel_tasks();
          return produced;
        case R::error:
          seq_active_ = false;
          failed_ = true;
          why_ = seq_->message();
          return produced;
        case R::out_full:
          return produced;
        case R::need_input:
          if (seq_->avail_in() != 0 || seq_->next_byte() >= in_end_) return produced;
          break;
      }
      if (produced == n) return produced;
    }
  }

  // After the member's last block: CRC-32 and ISIZE, then the bytes after them go back.
  bool trailer() {
    const std::uint64_t at = (chain_ + 7) / 8;
    if (in_end_ < at + 4) return false;
    std::uint8_t t[8];
    copy_input(at, at + 4, t);
    // The CRC is checked as soon as it is there, before ISIZE arrives (as zlib does).
    const std::uint32_t crc = t[0] | (t[1] << 8) | (t[2] << 16) | (std::uint32_t{t[3]} << 24);
    if (crc != (crc_ & 0xffffffffu)) throw codec_failure{112, "corrupt gzip data: incorrect data check"};
    if (in_end_ < at + 8) return false;
    copy_input(at + 4, at + 8, t + 4);
    const std::uint32_t len = t[4] | (t[5] << 8) | (t[6] << 16) | (std::uint32_t{t[7]} << 24);
    if (len != (hist_ & 0xffffffffu)) throw codec_failure{112, "corrupt gzip data: incorrect length check"};
    over_.resize(static_cast<std::size_t>(in_end_ - (at + 8)));
    copy_input(at + 8, in_end_, reinterpret_cast<std::uint8_t*>(over_.data()));
    segs_.clear();
    return true;
  }

  struct segment {
    std::uint64_t start;
    std::vector<std::uint8_t> data;
  };

  parallel_gzip_options opt_;
  std::unique_ptr<gzip_decoder> plain_;  // threads == 1
  gzip_header_reader hdr_;
  std::deque<segment> segs_;             // the member's compressed bytes still needed
  std::uint64_t in_end_ = 0;             // member bytes taken so far
  bool eof_ = false;
  std::uint64_t chain_ = 0;              // verified block boundary the output has reached (bits)
  std::uint64_t hist_ = 0;               // member output so far
  std::vector<std::uint8_t> window_;     // its last 32 KiB (or more)
  uLong crc_ = crc32(0L, Z_NULL, 0);
  std::unique_ptr<pgz::raw_inflater> seq_;
  std::uint64_t seq_target_ = 0;
  bool seq_active_ = false, seq_paused_ = false;
  std::vector<std::uint8_t> pending_;    // accepted output not yet handed out
  // Buffers of finished tasks, for the next ones: pages already faulted in cost
  // less than fresh ones (a chunk's output is megabytes).
  std::vector<std::vector<std::uint8_t>> in_pool_, out_pool_;
  std::size_t pending_pos_ = 0;
  bool failed_ = false;                  // corrupt data after pending_
  std::string why_;
  bool member_end_ = false;
  std::size_t next_dispatch_ = 0;
  std::deque<std::shared_ptr<task>> tasks_;  // in chunk order
  std::vector<std::byte> over_;          // bytes after the member's trailer
#if WDS_HAS_ISAL
  std::unique_ptr<inflate_state> rest_;  // igzip on the rest of the member (start_rest)
  std::uint64_t rest_at_ = 0, rest_fed_ = 0;  // absolute bytes: its next_in, the end of what it was given
#endif

  std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<task>> queue_;
  bool stop_ = false;
  std::atomic<bool> stop_flag_{false};
  std::vector<std::thread> workers_;
};

}  // namespace detail

// Inflates a gzip stream on several threads (see the top of this header);
// otherwise gzip_source: concatenated members, padding, trailing garbage,
// limits, verify_end(). Memory: about (threads + 4) compressed chunks plus
// threads + 1 chunk outputs of at most max_chunk_output bytes.
template <class Source>
class parallel_gzip_source : public decompressing_source<Source, detail::parallel_gzip_decoder> {
  using base = decompressing_source<Source, detail::parallel_gzip_decoder>;

 public:
  explicit parallel_gzip_source(Source src, std::string name = {}, limits lim = {},
                                parallel_gzip_options options = {})
      : base(std::move(src), std::move(name), lim, options) {}
};
template <class Source>
parallel_gzip_source(Source, std::string = {}, limits = {}, parallel_gzip_options = {}) -> parallel_gzip_source<Source>;

WDS_NAMESPACE_END
