// SPDX-License-Identifier: MIT
#pragma once

// Opening shards by name: "-" is stdin/stdout; compressed input (gzip, bzip2,
// xz, zstd) is recognised by its magic bytes, not its name; compressed output
// is chosen by the name (.gz/.tgz, .bz2/.tbz2/.tbz, .xz/.txz, .zst/.tzst).

#include <wds/config.hpp>
#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>

#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
#endif
#if WDS_HAS_BZIP2
#include <wds/codec/bzip2.hpp>
#endif
#if WDS_HAS_LZMA
#include <wds/codec/xz.hpp>
#endif
#if WDS_HAS_ZSTD
#include <wds/codec/zstd.hpp>
#endif

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace wds {

// Replays bytes already read (a sniffed magic) before reading on.
template <class Source>
class prefixed_source {
 public:
  prefixed_source(Source src, const std::byte* prefix, std::size_t n) : src_(std::move(src)), n_(n) {
    std::memcpy(prefix_.data(), prefix, std::min(n, prefix_.size()));
  }
  std::size_t read(std::byte* dst, std::size_t n) {
    if (pos_ < n_) {
      std::size_t k = std::min(n, n_ - pos_);
      std::memcpy(dst, prefix_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    return src_.read(dst, n);
  }
  void verify_end() { wds::verify_end(src_); }
  std::string name() const { return name_of(src_); }

 private:
  Source src_;
  std::array<std::byte, 16> prefix_{};
  std::size_t n_ = 0, pos_ = 0;
};

inline bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

enum class compression { none, gzip, bzip2, xz, zstd };

inline const char* compression_name(compression c) noexcept {
  switch (c) {
    case compression::gzip: return "gzip";
    case compression::bzip2: return "bzip2";
    case compression::xz: return "xz";
    case compression::zstd: return "zstd";
    default: return "none";
  }
}

// The compression a stream starts with, by magic bytes (looks at up to 10).
// bzip2 needs its first block's magic too, as Python's tarfile checks, so a
// plain tar whose first member is named "BZh9..." stays a tar. xz's legacy
// .lzma format is not recognised.
inline compression detect_compression(const std::byte* p, std::size_t n) noexcept {
  auto at = [&](std::size_t i, std::string_view m) {
    return n >= i + m.size() && std::memcmp(p + i, m.data(), m.size()) == 0;
  };
  if (at(0, "\x1f\x8b")) return compression::gzip;
  if (at(0, "BZh") && n >= 4 && p[3] >= std::byte{'1'} && p[3] <= std::byte{'9'} &&
      (at(4, "1AY&SY") || at(4, "\x17\x72\x45\x38\x50\x90")))
    return compression::bzip2;
  if (at(0, std::string_view("\xfd" "7zXZ\0", 6))) return compression::xz;
  if (at(0, "\x28\xb5\x2f\xfd")) return compression::zstd;
  if (n >= 4 && (p[0] & std::byte{0xf0}) == std::byte{0x50} && at(1, "\x2a\x4d\x18"))
    return compression::zstd;  // a skippable frame first
  return compression::none;
}

// Whether this build can read and write `c`.
constexpr bool compression_available(compression c) noexcept {
  switch (c) {
    case compression::gzip: return WDS_HAS_ZLIB != 0;
    case compression::bzip2: return WDS_HAS_BZIP2 != 0;
    case compression::xz: return WDS_HAS_LZMA != 0;
    case compression::zstd: return WDS_HAS_ZSTD != 0;
    default: return true;
  }
}

// The compression an output name asks for.
inline compression compression_for_name(std::string_view path) noexcept {
  if (ends_with(path, ".gz") || ends_with(path, ".tgz")) return compression::gzip;
  if (ends_with(path, ".bz2") || ends_with(path, ".tbz2") || ends_with(path, ".tbz")) return compression::bzip2;
  if (ends_with(path, ".xz") || ends_with(path, ".txz")) return compression::xz;
  if (ends_with(path, ".zst") || ends_with(path, ".tzst")) return compression::zstd;
  return compression::none;
}

namespace detail {
[[noreturn]] inline void no_codec(compression c, const std::string& path, bool input) {
  const char* lib = c == compression::gzip ? "zlib" : c == compression::bzip2 ? "libbz2"
                    : c == compression::xz ? "liblzma" : "libzstd";
  throw io_error(115, {path, {}, 0},
                 std::string(input ? "input is " : "output asks for ") + compression_name(c) +
                     (input ? "-compressed" : " compression") + " but this build has no " + compression_name(c) +
                     " support (wds was built without " + lib + ")");
}
}  // namespace detail

// Decompresses a stream transparently, recognised by its magic bytes (io.115
// when this build lacks the codec); any other stream is passed through.
template <class Source>
any_source decompress_by_magic(Source src, const std::string& path, const limits& lim = {}) {
  std::array<std::byte, 10> magic{};
  std::size_t n = read_full(src, magic.data(), magic.size());
  const compression c = detect_compression(magic.data(), n);
  prefixed_source<Source> replay(std::move(src), magic.data(), n);
  using replay_t [[maybe_unused]] = decltype(replay);
  (void)lim;
  switch (c) {
    case compression::none: return any_source(std::move(replay));
#if WDS_HAS_ZLIB
    case compression::gzip: return any_source(gzip_source<replay_t>(std::move(replay), path, lim));
#endif
#if WDS_HAS_BZIP2
    case compression::bzip2: return any_source(bzip2_source<replay_t>(std::move(replay), path, lim));
#endif
#if WDS_HAS_LZMA
    case compression::xz: return any_source(xz_source<replay_t>(std::move(replay), path, lim));
#endif
#if WDS_HAS_ZSTD
    case compression::zstd: return any_source(zstd_source<replay_t>(std::move(replay), path, lim));
#endif
    default: detail::no_codec(c, path, true);
  }
}

// Opens a shard for reading: a path, or "-" for stdin, decompressed by magic.
// For URLs (pipe:, http://, ais://) see wds/url.hpp's open_url.
inline any_source open_input(const std::string& path, const limits& lim = {}) {
  if (path == "-") return decompress_by_magic(fd_source(0, "-"), path, lim);
  return decompress_by_magic(file_source(path), path, lim);
}

// Opens an output: "-" is stdout; any other path is written atomically
// (temporary + rename on close()), compressed as asked.
inline any_sink open_output(const std::string& path, compression c) {
  if (!compression_available(c)) detail::no_codec(c, path, false);  // before any file exists
  auto wrap = [&](auto sink) -> any_sink {
    using sink_t [[maybe_unused]] = decltype(sink);
    switch (c) {
    case compression::none: return any_sink(std::move(sink));
#if WDS_HAS_ZLIB
    case compression::gzip: return any_sink(gzip_sink<sink_t>(std::move(sink)));
#endif
#if WDS_HAS_BZIP2
    case compression::bzip2: return any_sink(bzip2_sink<sink_t>(std::move(sink)));
#endif
#if WDS_HAS_LZMA
    case compression::xz: return any_sink(xz_sink<sink_t>(std::move(sink)));
#endif
#if WDS_HAS_ZSTD
    case compression::zstd: return any_sink(zstd_sink<sink_t>(std::move(sink)));
#endif
      default: detail::no_codec(c, path, false);
    }
  };
  if (path == "-") return wrap(fd_sink(1, "-"));
  return wrap(file_sink(path));
}
// gzip when `gzip` is true.
inline any_sink open_output(const std::string& path, bool gzip) {
  return open_output(path, gzip ? compression::gzip : compression::none);
}
// Compression chosen by the name (compression_for_name).
inline any_sink open_output(const std::string& path) { return open_output(path, compression_for_name(path)); }

}  // namespace wds
