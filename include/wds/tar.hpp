// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// Streaming POSIX tar: tar_reader<Source> never seeks and never holds more than
// one member; tar_writer<Sink> writes headers byte-for-byte like Python's
// tarfile in its default (pax) format, which is what webdataset's TarWriter uses.

#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>
#include <wds/unicode.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN

inline constexpr std::size_t tar_block_size = 512;

// One archive member as the reader presents it: extension headers (GNU long
// names, pax records) are already folded in.
struct tar_member {
  std::string name;       // raw bytes, as stored (may be invalid UTF-8)
  std::string linkname;
  std::uint64_t size = 0;  // payload bytes
  std::int64_t mtime = 0;
  std::uint32_t mode = 0;
  std::uint64_t uid = 0, gid = 0;
  std::string uname, gname;
  char type = '0';
  std::uint64_t header_offset = 0;  // first header block, extension headers included
  std::uint64_t data_offset = 0;    // first payload byte
  // pax records other than the ones folded into the fields above.
  std::vector<std::pair<std::string, std::string>> pax;

  bool is_sparse = false;  // GNU sparse (old 'S' or pax 0.0/0.1/1.0): holes read as zeros

  // Python's isreg(): regular, contiguous and GNU sparse files.
  bool is_regular() const noexcept { return type == '0' || type == '\0' || type == '7' || type == 'S'; }
};

namespace detail {

inline bool all_zero(const std::byte* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != std::byte{0}) return false;
  return true;
}

inline std::string field_string(const std::byte* f, std::size_t len) {
  const char* c = reinterpret_cast<const char*>(f);
  return std::string(c, strnlen(c, len));
}

// Parses a tar number field: octal text (leading spaces, terminated by NUL or
// space) or GNU base-256 (high bit set, 0xff = negative). Returns false when
// the field is garbage or the value does not fit in int64.
inline bool parse_tar_number(const std::byte* f, std::size_t len, std::int64_t& out) noexcept {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(f[i]); };
  if (b(0) & 0x80) {
    const bool negative = b(0) == 0xff;
    if (!negative && b(0) != 0x80) return false;
    // Two's complement big-endian; everything above 63 bits must be sign fill.
    std::uint64_t v = 0;
    const unsigned fill = negative ? 0xff : 0x00;
    std::size_t i = 1;
    for (; i + 8 < len; ++i)
      if (b(i) != fill) return false;
    for (; i < len; ++i) v = (v << 8) | b(i);
    if (len - 1 < 8 && negative) v |= ~std::uint64_t{0} << (8 * (len - 1));
    auto sv = static_cast<std::int64_t>(v);
    if (negative != (sv < 0)) return false;
    out = sv;
    return true;
  }
  std::size_t i = 0;
  while (i < len && (b(i) == ' ' || b(i) == 0)) {
    if (b(i) == 0) {  // NUL before any digit: an empty field reads as 0
      bool rest_empty = true;
      for (std::size_t j = i; j < len; ++j) rest_empty &= (b(j) == 0 || b(j) == ' ');
      if (rest_empty) {
        out = 0;
        return true;
      }
    }
    ++i;
  }
  std::uint64_t v = 0;
  std::size_t digits = 0;
  for (; i < len && b(i) >= '0' && b(i) <= '7'; ++i, ++digits) {
    if (v >> 60) return false;
    v = (v << 3) | (b(i) - '0');
  }
  for (; i < len; ++i)
    if (b(i) != ' ' && b(i) != 0) return false;
  if (digits == 0) {
    out = 0;
    return true;
  }
  if (v > static_cast<std::uint64_t>(INT64_MAX)) return false;
  out = static_cast<std::int64_t>(v);
  return true;
}

inline bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// pax time: [-]digits[.fraction]; returns the whole seconds (floor).
inline bool parse_pax_time(std::string_view s, std::int64_t& out) noexcept {
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  std::string_view whole = s.substr(0, s.find('.'));
  std::string_view frac = whole.size() < s.size() ? s.substr(whole.size() + 1) : std::string_view{};
  std::uint64_t w = 0;
  if (!parse_decimal(whole, w) || w > static_cast<std::uint64_t>(INT64_MAX) - 1) return false;
  bool frac_nonzero = false;
  for (char c : frac) {
    if (c < '0' || c > '9') return false;
    frac_nonzero |= c != '0';
  }
  auto v = static_cast<std::int64_t>(w);
  out = neg ? -v - (frac_nonzero ? 1 : 0) : v;
  return true;
}

}  // namespace detail

struct tar_reader_options {
  // A 0-byte input is an empty archive instead of tar error 208 (Python's
  // tarfile: "ReadError: empty file"; a failed download looks like this).
  bool allow_empty = false;
};

// Reads members in archive order. Typical use:
//   wds::tar_reader reader(wds::file_source("shard.tar"), "shard.tar");
//   while (const wds::tar_member* m = reader.next()) use(m->name, reader.payload());
template <class Source>
class tar_reader {
 public:
  static constexpr std::size_t buffer_size = std::size_t{1} << 20;
  // Payload reads at least this large bypass the buffer (saves a copy).
  static constexpr std::size_t direct_read_min = std::size_t{64} << 10;
  // Smallest growth of a payload buffer while its bytes arrive.
  static constexpr std::size_t growth_step = std::size_t{1} << 20;

  explicit tar_reader(Source src, std::string shard_name = {}, limits lim = {}, tar_reader_options opts = {})
      : src_(std::move(src)), shard_(std::move(shard_name)), limits_(lim), opts_(opts),
        buf_(new std::byte[buffer_size]) {
    if (shard_.empty()) shard_ = name_of(src_);
  }
  tar_reader(tar_reader&&) noexcept = default;
  tar_reader& operator=(tar_reader&&) noexcept = default;

  // Advances to the next regular-file member; nullptr at the end of the archive.
  // Directories, links, devices and other non-file members are skipped.
  const tar_member* next() {
    if (done_) return nullptr;
    skip_rest();
    std::string long_name, long_link;
    bool have_long_name = false, have_long_link = false;
    std::vector<std::pair<std::string, std::string>> local_pax;
    std::vector<std::pair<std::string, std::string>> local_sparse;  // GNU.sparse.* in order, repeats kept (0.0)
    bool have_local_pax = false;
    std::uint64_t first_header = offset_;
    std::array<std::byte, tar_block_size> h{};
    for (;;) {
      const std::uint64_t at = offset_;
      std::size_t got = read_some(h.data(), h.size());
      if (got == 0) {  // end of data without an end marker: GNU tar accepts it
        if (have_long_name || have_long_link || have_local_pax)
          fail(201, at, "archive ends after an extension header");
        if (at == 0 && !opts_.allow_empty) fail(208, 0, "empty file (0 bytes)");
        return finish();
      }
      if (got < h.size()) fail(201, at, "truncated header block (" + std::to_string(got) + " of 512 bytes)");
      if (detail::all_zero(h.data(), h.size())) {
        if (have_long_name || have_long_link || have_local_pax)
          fail(201, at, "end-of-archive marker after an extension header");
        return finish();  // GNU tar stops at the first zero block
      }
      verify_checksum(h.data(), at);

      const char type = static_cast<char>(h[156]);
      std::uint64_t size = number_field(h.data() + 124, 12, at, "size", true);
      if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
        std::string data = read_extension(size, at, type);
        if (type == 'L') {
          long_name.assign(data.c_str());  // up to the first NUL, like GNU tar
          have_long_name = true;
        } else if (type == 'K') {
          long_link.assign(data.c_str());
          have_long_link = true;
        } else {
          auto records = parse_pax(data, at);
          if (type == 'g') {
            for (auto& r : records) set_record(global_pax_, std::move(r));
          } else {
            for (auto& r : records) {
              if (r.first.compare(0, 11, "GNU.sparse.") == 0) local_sparse.push_back(r);
              set_record(local_pax, std::move(r));
            }
            have_local_pax = true;
          }
        }
        continue;
      }

      tar_member& m = member_;
      m = tar_member{};
      m.type = type;
      m.header_offset = first_header;
      m.mode = static_cast<std::uint32_t>(number_field(h.data() + 100, 8, at, "mode", false) & 07777);
      m.uid = number_field(h.data() + 108, 8, at, "uid", false);
      m.gid = number_field(h.data() + 116, 8, at, "gid", false);
      m.mtime = signed_field(h.data() + 136, 12, at, "mtime");
      m.size = size;
      const bool posix = std::memcmp(h.data() + 257, "ustar\0" "00", 8) == 0;
      const bool gnu = std::memcmp(h.data() + 257, "ustar  \0", 8) == 0;
      m.name = detail::field_string(h.data(), 100);
      if (posix) {
        std::string prefix = detail::field_string(h.data() + 345, 155);
        if (!prefix.empty()) m.name = prefix + "/" + m.name;
      }
      m.linkname = detail::field_string(h.data() + 157, 100);
      if (posix || gnu) {
        m.uname = detail::field_string(h.data() + 265, 32);
        m.gname = detail::field_string(h.data() + 297, 32);
      }
      if (have_long_name) m.name = std::move(long_name);
      if (have_long_link) m.linkname = std::move(long_link);
      for (const auto* records : {&global_pax_, &local_pax})
        for (const auto& r : *records) apply_pax(m, r, at);
      sparse_.clear();
      sparse_ready_ = false;
      if (type == 'S') read_old_gnu_sparse(h.data(), m, at);
      else if (!local_sparse.empty()) apply_pax_sparse(m, local_sparse, at);
      m.data_offset = offset_;
      remaining_ = payload_bytes(m);
      padding_ = (tar_block_size - remaining_ % tar_block_size) % tar_block_size;
      have_member_ = true;
      if (m.is_sparse && !m.is_regular()) m.is_sparse = false;
      if (m.is_sparse) {
        padding_ = (tar_block_size - sparse_stored_ % tar_block_size) % tar_block_size;
        if (sparse_map_in_data_) read_sparse_map_in_data(at);
        remaining_ = m.size;
      }
      // Old v7 archives mark directories with a trailing slash on a regular type.
      if (m.type == '\0' && !m.name.empty() && m.name.back() == '/') m.type = '5';
      if (m.is_regular()) return &m;
      skip_rest();
      first_header = offset_;
      long_name.clear();
      long_link.clear();
      have_long_name = have_long_link = have_local_pax = false;
      local_pax.clear();
      local_sparse.clear();
    }
  }

  // The current member's (remaining) payload, valid until the next call on this
  // reader. Zero-copy when the member fits the read buffer (one that lies
  // across its end is moved to its front and completed there); a larger one
  // is copied into a scratch buffer reused across members.
  byte_view payload() {
    if (!have_member_) return {};
    check_member_limit();
    if (member_.is_sparse) {
      expand_sparse();
      const std::size_t n = static_cast<std::size_t>(remaining_);
      remaining_ = 0;
      return {sparse_buf_.data() + (sparse_buf_.size() - n), n};
    }
    const std::size_t n = static_cast<std::size_t>(remaining_);
    if (n > len_ - pos_ && n <= buffer_size) gather(n);
    if (n <= len_ - pos_) {
      const std::byte* p = buf_.get() + pos_;
      pos_ += n;
      offset_ += n;
      remaining_ = 0;
      return {p, n};
    }
    read_payload(scratch_);
    return {scratch_.data(), scratch_.size()};
  }

  // Reads the current member's (remaining) payload into `out`, which is
  // resized to fit (its capacity is reused); the size is checked against
  // limits::max_member_size first.
  void read_payload(std::vector<std::byte>& out) {
    if (!have_member_) {
      out.clear();
      return;
    }
    check_member_limit();
    if (member_.is_sparse) {
      byte_view v = payload();
      out.assign(v.begin(), v.end());
      return;
    }
    const std::size_t n = static_cast<std::size_t>(remaining_);
    // assign() copies without zero-filling first; only the unbuffered rest is.
    const std::size_t buffered = std::min(n, len_ - pos_);
    out.assign(buf_.get() + pos_, buf_.get() + pos_ + buffered);
    pos_ += buffered;
    offset_ += buffered;
    remaining_ -= buffered;
    // Grow with the bytes that actually arrive (at most doubling), so a header
    // that lies about its size costs memory only for data that exists.
    std::size_t have = buffered;
    while (have < n) {
      const std::size_t step = std::max(have, growth_step);
      const std::size_t next = n - have > step ? have + step : n;
      out.resize(next);
      read(out.data() + have, next - have);
      have = next;
    }
  }

  // Streams the current member's payload; returns 0 once it is all read.
  std::size_t read(std::byte* dst, std::size_t n) {
    if (!have_member_ || remaining_ == 0) return 0;
    if (member_.is_sparse) {
      check_member_limit();  // holes are expanded in memory
      expand_sparse();
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, remaining_));
      std::memcpy(dst, sparse_buf_.data() + (sparse_buf_.size() - remaining_), k);
      remaining_ -= k;
      return k;
    }
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, remaining_));
    std::size_t got = read_some(dst, want);
    if (got < want)
      fail(202, offset_, "truncated payload: " + std::to_string(remaining_ - got) + " bytes missing");
    remaining_ -= got;
    return got;
  }

  // Payload bytes of the current member not yet read.
  std::uint64_t remaining() const noexcept { return remaining_; }
  // payload() would return a view into the read buffer (no copy).
  bool payload_buffered() const noexcept {
    return have_member_ && !member_.is_sparse && remaining_ <= buffer_size;
  }
  // Called just before the read buffer is overwritten, so that a caller
  // holding payload() views can copy them out first (nullptr: none).
  void set_refill_hook(void (*hook)(void*), void* context) noexcept {
    refill_hook_ = hook;
    refill_context_ = context;
  }
  // Bytes of archive consumed so far.
  std::uint64_t offset() const noexcept { return offset_; }
  const tar_member* current() const noexcept { return have_member_ ? &member_ : nullptr; }
  const std::string& shard_name() const noexcept { return shard_; }
  const wds::limits& limits() const noexcept { return limits_; }
  Source& source() noexcept { return src_; }

 private:
  void check_member_limit() const {
    if (remaining_ > limits_.max_member_size)
      throw limit_error(502, loc(offset_),
                        "member of " + std::to_string(remaining_) + " bytes exceeds the limit of " +
                            std::to_string(limits_.max_member_size) + "");
  }

  [[noreturn]] void fail(int id, std::uint64_t at, const std::string& why) const {
    throw tar_error(id, loc(at), why);
  }
  location loc(std::uint64_t at) const {
    return {shard_, have_member_ ? member_.name : std::string{}, at};
  }

  const tar_member* finish() {
    done_ = true;
    have_member_ = false;
    remaining_ = padding_ = 0;
    // A compressed source checks its trailer (CRC, length) here.
    verify_end(src_);
    return nullptr;
  }

  void refill() {
    if (refill_hook_) refill_hook_(refill_context_);
    pos_ = 0;
    len_ = src_.read(buf_.get(), buffer_size);
  }

  // Makes the next n bytes (n <= buffer_size) contiguous in the buffer: what
  // is left of it moves to the front and the rest is read after it. Costs a
  // move of the part already read, where a copy out would move all n twice.
  void gather(std::size_t n) {
    if (refill_hook_) refill_hook_(refill_context_);
    const std::size_t have = len_ - pos_;
    std::memmove(buf_.get(), buf_.get() + pos_, have);
    pos_ = 0;
    len_ = have;
    while (len_ < n) {
      const std::size_t k = src_.read(buf_.get() + len_, buffer_size - len_);
      if (k == 0) fail(202, offset_ + len_, "truncated payload: " + std::to_string(n - len_) + " bytes missing");
      len_ += k;
    }
  }

  // Copies from the buffer, refilling it; large reads bypass it.
  std::size_t read_some(std::byte* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      if (pos_ == len_) {
        if (n - done >= direct_read_min) {  // big payload: read straight into place
          std::size_t k = src_.read(dst + done, n - done);
          if (k == 0) break;
          done += k;
          offset_ += k;
          continue;
        }
        refill();
        if (len_ == 0) break;
      }
      std::size_t k = std::min(n - done, len_ - pos_);
      std::memcpy(dst + done, buf_.get() + pos_, k);
      pos_ += k;
      done += k;
      offset_ += k;
    }
    return done;
  }

  void discard(std::uint64_t n) {
    while (n > 0) {
      if (pos_ == len_) {
        refill();
        if (len_ == 0) fail(202, offset_, "truncated payload: " + std::to_string(n) + " bytes missing");
      }
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, len_ - pos_));
      pos_ += k;
      offset_ += k;
      n -= k;
    }
  }

  void skip_rest() {
    if (!have_member_) return;
    if (member_.is_sparse) {
      if (!sparse_ready_) discard(sparse_stored_);
      remaining_ = 0;
      sparse_buf_.clear();
      sparse_buf_.shrink_to_fit();
    }
    discard(remaining_);
    remaining_ = 0;
    const std::uint64_t at = offset_;
    std::size_t pad = padding_;
    padding_ = 0;
    std::array<std::byte, tar_block_size> scratch{};
    if (pad && read_some(scratch.data(), pad) < pad)
      fail(202, at, "truncated payload padding");
    have_member_ = false;
  }

  void verify_checksum(const std::byte* h, std::uint64_t at) const {
    // A bad first header without the ustar magic is most likely not a tar at
    // all (a text file, a JPEG, an HTML error page): say so.
    const bool not_tar = at == 0 && std::memcmp(h + 257, "ustar", 5) != 0;
    std::int64_t stored = 0;
    if (!detail::parse_tar_number(h + 148, 8, stored)) {
      if (not_tar) fail(207, at, "not a tar archive: first header has no ustar magic and no number in its checksum field");
      fail(204, at, "bad number in checksum field");
    }
    // Sums eight bytes at a time in 16-bit lanes (fast at any -O level); the
    // checksum field counts as spaces, and the signed sum differs by 256 for
    // every byte >= 0x80.
    const auto* u = reinterpret_cast<const unsigned char*>(h);
    std::uint64_t lanes = 0, high_lanes = 0;
    constexpr std::uint64_t even = 0x00ff00ff00ff00ffull, ones = 0x0101010101010101ull;
    for (std::size_t i = 0; i < tar_block_size; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, u + i, 8);
      lanes += (w & even) + ((w >> 8) & even);  // <= 64 * 510 per lane: no overflow
      high_lanes += (w >> 7) & ones;            // <= 64 per byte lane
    }
    auto fold16 = [](std::uint64_t v) {
      return std::uint32_t((v & 0xffff) + ((v >> 16) & 0xffff) + ((v >> 32) & 0xffff) + (v >> 48));
    };
    std::uint32_t total = fold16(lanes);
    std::uint32_t high = fold16((high_lanes & even) + ((high_lanes >> 8) & even));
    for (std::size_t i = 148; i < 156; ++i) {
      total -= u[i];
      high -= u[i] >> 7;
    }
    const std::int64_t unsigned_sum = std::int64_t{total} + 8 * ' ';
    const std::int64_t signed_sum = unsigned_sum - 256 * std::int64_t{high};
    if (stored != unsigned_sum && stored != signed_sum && not_tar)
      fail(207, at, "not a tar archive: first header has no ustar magic and a bad checksum (stored " +
                        std::to_string(stored) + ", computed " + std::to_string(unsigned_sum) + ")");
    if (stored != unsigned_sum && stored != signed_sum)
      fail(203, at, "bad header checksum (stored " + std::to_string(stored) + ", computed " +
                        std::to_string(unsigned_sum) + ")");
  }

  std::uint64_t number_field(const std::byte* f, std::size_t len, std::uint64_t at, const char* what,
                             bool is_size) const {
    std::int64_t v = 0;
    if (!detail::parse_tar_number(f, len, v)) fail(204, at, std::string("bad number in ") + what + " field");
    if (v < 0) fail(204, at, std::string("negative ") + what + (is_size ? "" : " field"));
    return static_cast<std::uint64_t>(v);
  }
  std::int64_t signed_field(const std::byte* f, std::size_t len, std::uint64_t at, const char* what) const {
    std::int64_t v = 0;
    if (!detail::parse_tar_number(f, len, v)) fail(204, at, std::string("bad number in ") + what + " field");
    return v;
  }

  std::string read_extension(std::uint64_t size, std::uint64_t at, char type) {
    if (size > limits_.max_pax_size)
      throw limit_error(501, {shard_, {}, at},
                        std::string(type == 'L' || type == 'K' ? "GNU long name" : "pax header") + " of " +
                            std::to_string(size) + " bytes exceeds the limit of " +
                            std::to_string(limits_.max_pax_size));
    std::string data(static_cast<std::size_t>(size), '\0');
    if (read_some(reinterpret_cast<std::byte*>(data.data()), data.size()) < data.size())
      fail(202, offset_, "truncated extension header payload");
    std::size_t pad = (tar_block_size - size % tar_block_size) % tar_block_size;
    std::array<std::byte, tar_block_size> scratch{};
    if (read_some(scratch.data(), pad) < pad) fail(202, offset_, "truncated extension header padding");
    return data;
  }

  // "LEN KEY=VALUE\n" records; LEN counts the whole record.
  std::vector<std::pair<std::string, std::string>> parse_pax(const std::string& d, std::uint64_t at) const {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t pos = 0;
    while (pos < d.size() && d[pos] != '\0') {
      std::size_t sp = d.find(' ', pos);
      std::uint64_t len = 0;
      if (sp == std::string::npos || !detail::parse_decimal(std::string_view(d).substr(pos, sp - pos), len) ||
          len > d.size() - pos || len < sp - pos + 3 || d[pos + len - 1] != '\n')
        fail(206, at, "bad pax record at byte " + std::to_string(pos) + " of the extended header");
      std::string_view rec(d.data() + sp + 1, pos + len - 1 - (sp + 1));
      std::size_t eq = rec.find('=');
      if (eq == std::string_view::npos || eq == 0)
        fail(206, at, "bad pax record at byte " + std::to_string(pos) + " of the extended header (no key)");
      out.emplace_back(std::string(rec.substr(0, eq)), std::string(rec.substr(eq + 1)));
      pos += len;
    }
    return out;
  }

  static void set_record(std::vector<std::pair<std::string, std::string>>& v,
                         std::pair<std::string, std::string> r) {
    for (auto& e : v)
      if (e.first == r.first) {
        e.second = std::move(r.second);
        return;
      }
    v.push_back(std::move(r));
  }

  // Folds one pax record into the member; returns true for GNU sparse markers.
  bool apply_pax(tar_member& m, const std::pair<std::string, std::string>& r, std::uint64_t at) const {
    const std::string& k = r.first;
    const std::string& v = r.second;
    std::uint64_t n = 0;
    if (k == "path") {
      m.name = v;  // Python's tarfile strips trailing slashes from a pax path (not from ustar names)
      while (!m.name.empty() && m.name.back() == '/') m.name.pop_back();
    } else if (k == "linkpath") {
      m.linkname = v;
    } else if (k == "size") {
      if (!detail::parse_decimal(v, n)) fail(206, at, "bad pax size \"" + v.substr(0, 40) + "\"");
      m.size = n;
    } else if (k == "mtime") {
      std::int64_t t = 0;
      if (!detail::parse_pax_time(v, t)) fail(206, at, "bad pax mtime \"" + v.substr(0, 40) + "\"");
      m.mtime = t;
    } else if (k == "uid" || k == "gid") {
      if (!detail::parse_decimal(v, n)) fail(206, at, "bad pax " + k);
      (k == "uid" ? m.uid : m.gid) = n;
    } else if (k == "uname") {
      m.uname = v;
    } else if (k == "gname") {
      m.gname = v;
    } else if (k.compare(0, 11, "GNU.sparse.") == 0) {
      return false;  // folded in by apply_pax_sparse
    } else if (k != "hdrcharset" && k != "atime" && k != "ctime" && k != "comment" && k != "charset") {
      m.pax.push_back(r);
    }
    return false;
  }

  // ---- GNU sparse members (what Python's tarfile reads: _proc_sparse, _proc_gnusparse_*) ----

  std::size_t max_sparse_entries() const noexcept {
    return static_cast<std::size_t>(std::max<std::uint64_t>(limits_.max_pax_size / 24, 4));
  }
  void add_sparse(std::uint64_t off, std::uint64_t n, std::uint64_t at) {
    if (sparse_.size() >= max_sparse_entries())
      throw limit_error(501, {shard_, member_.name, at},
                        "GNU sparse map has more than " + std::to_string(max_sparse_entries()) +
                            " entries (limits::max_pax_size / 24)");
    sparse_.emplace_back(off, n);
  }

  // Old GNU 'S': four entries in the header, 21 per extension block after it.
  void read_old_gnu_sparse(const std::byte* h, tar_member& m, std::uint64_t at) {
    m.is_sparse = true;
    sparse_stored_ = m.size;
    sparse_map_in_data_ = false;
    auto entry = [&](const std::byte* e) {
      std::int64_t off = 0, n = 0;
      if (!detail::parse_tar_number(e, 12, off) || !detail::parse_tar_number(e + 12, 12, n) || off < 0 || n < 0)
        return false;  // Python stops at the first unreadable entry
      if (n > 0) add_sparse(static_cast<std::uint64_t>(off), static_cast<std::uint64_t>(n), at);
      return true;
    };
    for (int i = 0; i < 4 && entry(h + 386 + 24 * i); ++i) {
    }
    bool extended = h[482] != std::byte{0};
    m.size = number_field(h + 483, 12, at, "sparse real size", true);
    std::array<std::byte, tar_block_size> b{};
    while (extended) {
      const std::uint64_t bat = offset_;
      if (read_some(b.data(), b.size()) < b.size()) fail(202, bat, "truncated GNU sparse extension block");
      for (int i = 0; i < 21 && entry(b.data() + 24 * i); ++i) {
      }
      extended = b[504] != std::byte{0};
    }
  }

  // pax GNU.sparse.* records: 0.1 (GNU.sparse.map), 0.0 (repeated offset/numbytes),
  // 1.0 (major=1, minor=0: the map starts the data), in Python's order of tests.
  void apply_pax_sparse(tar_member& m, const std::vector<std::pair<std::string, std::string>>& rs,
                        std::uint64_t at) {
    auto get = [&](const char* k) -> const std::string* {
      const std::string* v = nullptr;
      for (const auto& r : rs)
        if (r.first == k) v = &r.second;
      return v;
    };
    auto number = [&](const std::string& v) {
      std::uint64_t n = 0;
      if (!detail::parse_decimal(v, n)) fail(205, at, "bad GNU sparse number \"" + v.substr(0, 40) + "\"");
      return n;
    };
    const std::string *map = get("GNU.sparse.map"), *size = get("GNU.sparse.size"),
                      *major = get("GNU.sparse.major"), *minor = get("GNU.sparse.minor");
    const bool v10 = major && minor && *major == "1" && *minor == "0";
    if (!map && !size && !v10) return;
    m.is_sparse = true;
    sparse_stored_ = m.size;
    sparse_map_in_data_ = false;
    if (const std::string* name = get("GNU.sparse.name")) m.name = *name;
    if (size) m.size = number(*size);
    if (const std::string* real = get("GNU.sparse.realsize")) m.size = number(*real);
    if (map) {
      std::vector<std::uint64_t> nums;
      for (std::size_t p = 0; p <= map->size();) {
        std::size_t c = map->find(',', p);
        if (c == std::string::npos) c = map->size();
        nums.push_back(number(map->substr(p, c - p)));
        p = c + 1;
      }
      for (std::size_t i = 0; i + 1 < nums.size(); i += 2) add_sparse(nums[i], nums[i + 1], at);
    } else if (size) {
      std::vector<std::uint64_t> offs, lens;
      for (const auto& r : rs) {
        if (r.first == "GNU.sparse.offset") offs.push_back(number(r.second));
        else if (r.first == "GNU.sparse.numbytes") lens.push_back(number(r.second));
      }
      for (std::size_t i = 0; i < std::min(offs.size(), lens.size()); ++i) add_sparse(offs[i], lens[i], at);
    } else {
      sparse_map_in_data_ = true;
    }
  }

  // 1.0: "COUNT\n" then COUNT pairs "OFFSET\nBYTES\n", padded to a block.
  void read_sparse_map_in_data(std::uint64_t at) {
    std::string text;
    std::size_t pos = 0;
    auto line = [&]() {
      for (;;) {
        std::size_t nl = text.find('\n', pos);
        if (nl != std::string::npos) {
          std::uint64_t n = 0;
          if (!detail::parse_decimal(std::string_view(text).substr(pos, nl - pos), n))
            fail(205, at, "bad GNU sparse 1.0 map");
          pos = nl + 1;
          return n;
        }
        if (text.size() >= limits_.max_pax_size || sparse_stored_ < tar_block_size)
          fail(205, at, "GNU sparse 1.0 map is unterminated or larger than limits::max_pax_size");
        std::array<std::byte, tar_block_size> b{};
        if (read_some(b.data(), b.size()) < b.size()) fail(202, offset_, "truncated GNU sparse 1.0 map");
        sparse_stored_ -= tar_block_size;
        text.append(reinterpret_cast<const char*>(b.data()), b.size());
      }
    };
    const std::uint64_t count = line();
    if (count > max_sparse_entries())
      throw limit_error(501, {shard_, member_.name, at},
                        "GNU sparse 1.0 map has " + std::to_string(count) + " entries, more than " +
                            std::to_string(max_sparse_entries()) + " (limits::max_pax_size / 24)");
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t off = line();
      add_sparse(off, line(), at);
    }
    member_.data_offset = offset_;
  }

  // Reads the stored chunks into a zero-filled buffer of the real size.
  void expand_sparse() {
    if (sparse_ready_) return;
    const std::uint64_t at = offset_;
    std::uint64_t stored = 0;
    for (const auto& [off, n] : sparse_) {
      if (off > member_.size || n > member_.size - off)
        fail(205, at, "GNU sparse map entry " + std::to_string(off) + "+" + std::to_string(n) +
                          " lies outside the file's " + std::to_string(member_.size) + " bytes");
      stored += n;
    }
    if (stored > sparse_stored_)
      fail(205, at, "GNU sparse map holds " + std::to_string(stored) + " bytes but the member stores " +
                        std::to_string(sparse_stored_));
    sparse_buf_.assign(static_cast<std::size_t>(member_.size), std::byte{0});
    for (const auto& [off, n] : sparse_) {
      if (n && read_some(sparse_buf_.data() + off, static_cast<std::size_t>(n)) < n)
        fail(202, offset_, "truncated GNU sparse data");
    }
    discard(sparse_stored_ - stored);
    sparse_ready_ = true;
  }

  // Python's tarfile skips a payload only for regular and unknown types; links,
  // devices, fifos and directories carry none whatever their size field says.
  static std::uint64_t payload_bytes(const tar_member& m) noexcept {
    switch (m.type) {
      case '1': case '2': case '3': case '4': case '5': case '6': return 0;
      default: return m.size;
    }
  }

  Source src_;
  std::string shard_;
  wds::limits limits_;
  tar_reader_options opts_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t pos_ = 0, len_ = 0;
  std::uint64_t offset_ = 0;
  tar_member member_;
  bool have_member_ = false, done_ = false;
  std::uint64_t remaining_ = 0;
  std::size_t padding_ = 0;
  std::vector<std::pair<std::string, std::string>> global_pax_;
  std::vector<std::byte> scratch_;
  // The current GNU sparse member: its map (offset, bytes), the stored data
  // bytes still in the archive, and the expanded payload once asked for.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sparse_;
  std::uint64_t sparse_stored_ = 0;
  bool sparse_ready_ = false, sparse_map_in_data_ = false;
  std::vector<std::byte> sparse_buf_;
  void (*refill_hook_)(void*) = nullptr;
  void* refill_context_ = nullptr;
};

template <class Source>
tar_reader(Source, std::string = {}, limits = {}, tar_reader_options = {}) -> tar_reader<Source>;

// ---- writer -----------------------------------------------------------------

struct tar_writer_options {
  // Defaults are webdataset TarWriter's, with a fixed mtime for reproducible output.
  std::int64_t mtime = 0;
  std::uint32_t mode = 0444;
  std::uint64_t uid = 0, gid = 0;
  std::string uname = "bigdata", gname = "bigdata";
  // The archive is zero-padded to a multiple of this (Python tarfile: 20 blocks).
  std::size_t record_size = 20 * tar_block_size;
};

namespace detail {

// Python's itn() for ustar: zero-padded octal in digits-1 characters plus NUL.
inline void put_octal(std::byte* f, std::size_t len, std::uint64_t v) noexcept {
  f[len - 1] = std::byte{0};
  for (std::size_t i = len - 1; i-- > 0;) {
    f[i] = static_cast<std::byte>('0' + (v & 7));
    v >>= 3;
  }
}

inline void put_string(std::byte* f, std::size_t len, std::string_view s) noexcept {
  std::memcpy(f, s.data(), std::min(len, s.size()));
}

inline bool is_ascii(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  std::uint32_t cp = 0;
  return unicode::decode_utf8(s, i, cp);
}

inline bool is_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

// What Python's str.encode("ascii", "replace") makes of a name decoded with
// surrogateescape: one '?' per non-ASCII code point or undecodable byte.
inline std::string ascii_replace(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    if (n == 1) out += s[i];
    else out += '?';
    i += n ? n : 1;
  }
  return out;
}

inline std::string pax_record(std::string_view key, std::string_view value) {
  const std::size_t l = key.size() + value.size() + 3;
  std::size_t p = 0;
  for (;;) {  // the length field counts its own digits
    std::size_t n = l + std::to_string(p).size();
    if (n == p) break;
    p = n;
  }
  std::string r = std::to_string(p);
  r.append(" ").append(key).append("=").append(value).append("\n");
  return r;
}

}  // namespace detail

// Writes members. Headers are Python tarfile's pax-format bytes: plain ustar
// while everything fits, a "././@PaxHeader" record when a name is long or
// non-ASCII or a number overflows (sizes >= 8 GiB). finish() writes the two
// end blocks and the record padding, then closes the sink; a writer destroyed
// without finish() leaves the sink unclosed (file_sink then discards it).
template <class Sink>
class tar_writer {
 public:
  explicit tar_writer(Sink sink, tar_writer_options opts = {})
      : sink_(std::move(sink)), opts_(std::move(opts)) {}

  // Writes a whole member from memory.
  void write(std::string_view name, const void* data, std::size_t size) {
    begin(name, size);
    write_data(data, size);
    end();
  }
  template <class C, class = decltype(std::declval<const C&>().data()),
            class = decltype(std::declval<const C&>().size())>
  void write(std::string_view name, const C& bytes) {
    static_assert(sizeof(*bytes.data()) == 1, "write() takes a byte container");
    write(name, bytes.data(), bytes.size());
  }

  // Streams a member whose size is known up front.
  void begin(std::string_view name, std::uint64_t size) {
    if (in_member_) throw_usage("begin() while a member is open");
    if (finished_) throw_usage("begin() after finish()");
    if (name.empty()) throw_usage("empty member name");
    if (name.find('\0') != std::string_view::npos) throw_usage("member name contains a NUL byte");
    write_header(name, size);
    in_member_ = true;
    member_size_ = size;
    member_written_ = 0;
    member_name_.assign(name);
  }
  void write_data(const void* data, std::size_t n) {
    if (!in_member_) throw_usage("write_data() without begin()");
    if (n > member_size_ - member_written_)
      throw_usage("more payload than the size given to begin()");
    put(static_cast<const std::byte*>(data), n);
    member_written_ += n;
  }
  void end() {
    if (!in_member_) throw_usage("end() without begin()");
    if (member_written_ != member_size_)
      throw_usage("payload has " + std::to_string(member_written_) + " of " + std::to_string(member_size_) +
                  " bytes");
    pad_block();
    in_member_ = false;
  }

  // webdataset's TarWriter.write(): members KEY.EXT in sorted ext order;
  // fields whose ext starts with '_' (meta such as __key__) are not written.
  template <class Sample>
  std::uint64_t write_sample(const Sample& s) {
    std::vector<const typename Sample::field_type*> order;
    for (const auto& f : s.fields())
      if (!f.ext.empty() && f.ext[0] != '_') order.push_back(&f);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->ext < b->ext; });
    std::uint64_t total = 0;
    for (const auto* f : order) {
      write(std::string(s.key()) + "." + f->ext, f->data);
      total += f->data.size();
    }
    return total;
  }

  // Ends the archive and closes the sink. Idempotent.
  void finish() {
    if (finished_) return;
    if (in_member_) throw_usage("finish() inside an unfinished member");
    static const std::array<std::byte, 2 * tar_block_size> zeros{};
    put(zeros.data(), zeros.size());
    if (opts_.record_size > 0 && written_ % opts_.record_size) {
      std::uint64_t pad = opts_.record_size - written_ % opts_.record_size;
      while (pad > 0) {
        std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(pad, zeros.size()));
        put(zeros.data(), k);
        pad -= k;
      }
    }
    finished_ = true;
    sink_.close();
  }

  Sink& sink() noexcept { return sink_; }
  std::uint64_t bytes_written() const noexcept { return written_; }
  const tar_writer_options& options() const noexcept { return opts_; }

 private:
  [[noreturn]] void throw_usage(const std::string& why) const {
    throw tar_error(210, {name_of(sink_), member_name_, written_}, why);
  }

  void put(const std::byte* p, std::size_t n) {
    sink_.write(p, n);
    written_ += n;
  }
  void pad_block() {
    static const std::array<std::byte, tar_block_size> zeros{};
    if (std::size_t r = static_cast<std::size_t>(written_ % tar_block_size)) put(zeros.data(), tar_block_size - r);
  }

  static std::array<std::byte, tar_block_size> ustar_header(std::string_view name, std::uint32_t mode,
                                                            std::uint64_t uid, std::uint64_t gid,
                                                            std::uint64_t size, std::uint64_t mtime, char type,
                                                            std::string_view uname, std::string_view gname) {
    std::array<std::byte, tar_block_size> h{};
    std::byte* b = h.data();
    detail::put_string(b, 100, name);
    detail::put_octal(b + 100, 8, mode & 07777);
    detail::put_octal(b + 108, 8, uid);
    detail::put_octal(b + 116, 8, gid);
    detail::put_octal(b + 124, 12, size);
    detail::put_octal(b + 136, 12, mtime);
    std::memset(b + 148, ' ', 8);
    b[156] = static_cast<std::byte>(type);
    std::memcpy(b + 257, "ustar\0" "00", 8);
    detail::put_string(b + 265, 32, uname);
    detail::put_string(b + 297, 32, gname);
    // devmajor/devminor stay NUL for non-device members, as Python's tarfile writes them.
    unsigned sum = 0;
    for (std::byte x : h) sum += static_cast<unsigned char>(x);
    char chk[8];
    std::snprintf(chk, sizeof chk, "%06o", sum & 0777777u);
    std::memcpy(b + 148, chk, 7);  // six digits and a NUL; the 8th byte stays a space
    return h;
  }

  void write_header(std::string_view name, std::uint64_t size) {
    std::vector<std::pair<std::string, std::string>> pax;  // Python's insertion order
    auto text_field = [&](std::string_view v, std::size_t len, const char* key) {
      if (!detail::is_ascii(v) || v.size() > len) pax.emplace_back(key, std::string(v));
    };
    text_field(name, 100, "path");
    text_field(opts_.uname, 32, "uname");
    text_field(opts_.gname, 32, "gname");
    std::uint64_t uid = opts_.uid, gid = opts_.gid, hsize = size, mtime = 0;
    const std::uint64_t max7 = std::uint64_t{1} << 21, max11 = std::uint64_t{1} << 33;
    if (uid >= max7) pax.emplace_back("uid", std::to_string(std::exchange(uid, 0)));
    if (gid >= max7) pax.emplace_back("gid", std::to_string(std::exchange(gid, 0)));
    if (hsize >= max11) pax.emplace_back("size", std::to_string(std::exchange(hsize, 0)));
    if (opts_.mtime < 0 || static_cast<std::uint64_t>(opts_.mtime) >= max11)
      pax.emplace_back("mtime", std::to_string(opts_.mtime));
    else
      mtime = static_cast<std::uint64_t>(opts_.mtime);

    if (!pax.empty()) {
      std::string records;
      bool binary = false;
      for (auto& r : pax) binary |= !detail::is_utf8(r.second);
      if (binary) records += detail::pax_record("hdrcharset", "BINARY");
      for (auto& r : pax) records += detail::pax_record(r.first, r.second);
      auto ph = ustar_header("././@PaxHeader", 0, 0, 0, records.size(), 0, 'x', "", "");
      put(ph.data(), ph.size());
      put(reinterpret_cast<const std::byte*>(records.data()), records.size());
      pad_block();
    }
    auto h = ustar_header(detail::is_ascii(name) ? std::string(name) : detail::ascii_replace(name),
                          opts_.mode, uid, gid, hsize, mtime, '0',
                          detail::is_ascii(opts_.uname) ? opts_.uname : detail::ascii_replace(opts_.uname),
                          detail::is_ascii(opts_.gname) ? opts_.gname : detail::ascii_replace(opts_.gname));
    put(h.data(), h.size());
  }

  Sink sink_;
  tar_writer_options opts_;
  std::uint64_t written_ = 0;
  bool in_member_ = false, finished_ = false;
  std::uint64_t member_size_ = 0, member_written_ = 0;
  std::string member_name_;
};

template <class Sink>
tar_writer(Sink, tar_writer_options = {}) -> tar_writer<Sink>;

// The type-erased reader and writer, for members and containers
// (std::unique_ptr<wds::any_tar_writer>) and for run-time choices of the
// source or sink (open_input, open_output).
using any_tar_reader = tar_reader<any_source>;
using any_tar_writer = tar_writer<any_sink>;

WDS_NAMESPACE_END
