// SPDX-License-Identifier: MIT
#pragma once

// Opening shards by name: "-" is stdin/stdout, gzip input is recognised by its
// magic bytes (not its name), gzip output is chosen by a ".gz" name.

#include <wds/config.hpp>
#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>

#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
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

// Inflates a gzip stream transparently, recognised by its magic bytes (io_error
// 115 when built without zlib); any other stream is passed through.
template <class Source>
any_source gunzip_if_gzip(Source src, const std::string& name, const limits& lim = {}) {
  std::array<std::byte, 2> magic{};
  std::size_t n = read_full(src, magic.data(), magic.size());
  const bool gz = n == 2 && magic[0] == std::byte{0x1f} && magic[1] == std::byte{0x8b};
  prefixed_source<Source> replay(std::move(src), magic.data(), n);
  if (!gz) return any_source(std::move(replay));
#if WDS_HAS_ZLIB
  return any_source(gzip_source<decltype(replay)>(std::move(replay), name, lim));
#else
  (void)lim;
  throw io_error(115, {name, {}, 0}, "input is gzip-compressed but wds was built without zlib");
#endif
}

// Opens a shard for reading: a path, or "-" for stdin. A gzip stream is
// inflated transparently (io_error 115 when built without zlib). For URLs
// (pipe:, http://, ais://) see wds/url.hpp's open_url.
inline any_source open_input(const std::string& path, const limits& lim = {}) {
  if (path == "-") return gunzip_if_gzip(fd_source(0, "-"), path, lim);
  return gunzip_if_gzip(file_source(path), path, lim);
}

// Opens an output: "-" is stdout; any other path is written atomically
// (temporary + rename on close()). gzip when `gzip` is true.
inline any_sink open_output(const std::string& path, bool gzip) {
  auto wrap = [&](auto sink) -> any_sink {
    if (!gzip) return any_sink(std::move(sink));
#if WDS_HAS_ZLIB
    return any_sink(gzip_sink<decltype(sink)>(std::move(sink)));
#else
    throw io_error(115, {path, {}, 0}, "gzip output requested but wds was built without zlib");
#endif
  };
  if (path == "-") return wrap(fd_sink(1, "-"));
  return wrap(file_sink(path));
}
// Same, gzip chosen by a ".gz" or ".tgz" name.
inline any_sink open_output(const std::string& path) {
  return open_output(path, ends_with(path, ".gz") || ends_with(path, ".tgz"));
}

}  // namespace wds
