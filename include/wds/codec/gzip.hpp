// SPDX-License-Identifier: MIT
#pragma once

// Streaming gzip over zlib: gzip_source<Source> inflates, gzip_sink<Sink>
// deflates. Needs WDS_HAS_ZLIB=1 and zlib linked (the build systems do both).

#include <wds/config.hpp>

#if !WDS_HAS_ZLIB
#error "wds/codec/gzip.hpp needs zlib: build with WDS_HAS_ZLIB=1 (CMake: WDS_WITH_ZLIB) and link zlib"
#endif

#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace wds {

inline bool is_gzip_magic(const std::byte* p, std::size_t n) noexcept {
  return n >= 2 && p[0] == std::byte{0x1f} && p[1] == std::byte{0x8b};
}

// Inflates a gzip stream (concatenated members included, as gzip -d does).
// Every member's CRC-32 and length trailer is verified; verify_end() reads the
// rest of the stream after its consumer stops (the tar end marker), so a
// corrupt or truncated .tar.gz never passes for a complete one.
template <class Source>
class gzip_source {
 public:
  static constexpr std::size_t in_size = std::size_t{256} << 10;

  explicit gzip_source(Source src, std::string name = {}, limits lim = {})
      : src_(std::move(src)), name_(std::move(name)), limits_(lim),
        z_(std::make_unique<z_stream>()), in_(new std::byte[in_size]) {
    if (name_.empty()) name_ = name_of(src_);
    if (inflateInit2(z_.get(), 15 + 16) != Z_OK) throw io_error(110, {name_, {}, 0}, "inflateInit2 failed");
  }
  gzip_source(gzip_source&& o) noexcept
      : src_(std::move(o.src_)), name_(std::move(o.name_)), limits_(o.limits_), z_(std::move(o.z_)),
        in_(std::move(o.in_)), out_total_(o.out_total_), in_total_(o.in_total_), ended_(o.ended_),
        eof_(o.eof_), zero_tail_(o.zero_tail_), draining_(o.draining_), finished_(o.finished_) {}
  gzip_source(const gzip_source&) = delete;
  gzip_source& operator=(const gzip_source&) = delete;
  gzip_source& operator=(gzip_source&&) = delete;
  ~gzip_source() {
    if (z_) inflateEnd(z_.get());
  }

  std::size_t read(std::byte* dst, std::size_t n) {
    if (n == 0 || finished_) return 0;
    z_stream& z = *z_;
    z.next_out = reinterpret_cast<Bytef*>(dst);
    z.avail_out = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    const uInt want = z.avail_out;
    while (z.avail_out == want) {
      if (ended_) {  // between members: another member, zero padding, or the end
        if (!start_next_member()) return 0;
      }
      if (z.avail_in == 0 && !eof_) refill();
      if (z.avail_in == 0 && eof_) throw truncated();
      int rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_DATA_ERROR) {
        throw io_error(112, {name_, {}, out_total_ + (want - z.avail_out)},
                       std::string("corrupt gzip data: ") + (z.msg ? z.msg : "inflate failed"));
      } else if (rc == Z_MEM_ERROR) {
        throw io_error(110, {name_, {}, out_total_}, "out of memory in inflate");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        throw io_error(112, {name_, {}, out_total_}, "inflate failed (" + std::to_string(rc) + ")");
      }
    }
    std::size_t got = want - z.avail_out;
    out_total_ += got;
    if (limits_.max_decompressed_size && out_total_ > limits_.max_decompressed_size)
      throw limit_error(504, {name_, {}, out_total_},
                        "gzip stream inflates past the limit of " + std::to_string(limits_.max_decompressed_size) +
                            " bytes");
    return got;
  }

  // Drains the rest of the stream (bounded) so trailers get verified.
  void verify_end() {
    draining_ = true;
    std::unique_ptr<std::byte[]> scratch(new std::byte[std::size_t{64} << 10]);
    std::uint64_t drained = 0;
    while (std::size_t k = read(scratch.get(), std::size_t{64} << 10)) {
      drained += k;
      if (drained > (std::uint64_t{1} << 20))
        throw io_error(113, {name_, {}, out_total_},
                       "more than 1 MiB of data after the end of the archive in the gzip stream");
    }
  }

  const std::string& name() const noexcept { return name_; }
  std::uint64_t decompressed_bytes() const noexcept { return out_total_; }

 private:
  io_error truncated() const {
    return io_error(111, {name_, {}, out_total_}, "truncated gzip stream (missing data or CRC/length trailer)");
  }

  void refill() {
    std::size_t k = src_.read(in_.get(), in_size);
    if (k == 0) {
      eof_ = true;
      return;
    }
    in_total_ += k;
    z_->next_in = reinterpret_cast<Bytef*>(in_.get());
    z_->avail_in = static_cast<uInt>(k);
  }

  // After a member's trailer: a new member starts with the gzip magic; trailing
  // zero bytes (tape padding) are ignored like gzip does; anything else is corrupt.
  bool start_next_member() {
    z_stream& z = *z_;
    for (;;) {
      while (z.avail_in > 0 && *z.next_in == 0) {
        ++z.next_in;
        --z.avail_in;
        zero_tail_ = true;
      }
      if (z.avail_in == 0) {
        if (eof_) return false;
        refill();
        if (z.avail_in == 0) return false;
        continue;
      }
      if (zero_tail_) return garbage("garbage after zero padding at the end of the gzip stream");
      if (z.avail_in < 2 && !eof_) {
        // Keep the one byte and read more to see the whole magic.
        std::byte first = static_cast<std::byte>(*z.next_in);
        in_[0] = first;
        std::size_t k = src_.read(in_.get() + 1, in_size - 1);
        if (k == 0) eof_ = true;
        in_total_ += k;
        z.next_in = reinterpret_cast<Bytef*>(in_.get());
        z.avail_in = static_cast<uInt>(1 + k);
      }
      if (z.avail_in < 2 || z.next_in[0] != 0x1f || z.next_in[1] != 0x8b)
        return garbage("trailing garbage after the gzip stream, inside the archive");
      inflateReset(&z);
      ended_ = false;
      return true;
    }
  }

  // After the tar end marker, garbage is ignored with a warning, as gzip -d
  // and Python do; before it, the archive itself is corrupt.
  bool garbage(const char* why) {
    if (!draining_) throw io_error(112, {name_, {}, out_total_}, why);
    detail::trailing_garbage_counter().fetch_add(1, std::memory_order_relaxed);
    finished_ = true;
    return false;
  }

  Source src_;
  std::string name_;
  limits limits_;
  std::unique_ptr<z_stream> z_;
  std::unique_ptr<std::byte[]> in_;
  std::uint64_t out_total_ = 0, in_total_ = 0;
  bool ended_ = false, eof_ = false, zero_tail_ = false, draining_ = false, finished_ = false;
};

// Deflates into a gzip stream (header without name or mtime, so output is reproducible).
template <class Sink>
class gzip_sink {
 public:
  static constexpr std::size_t out_size = std::size_t{256} << 10;

  explicit gzip_sink(Sink sink, int level = Z_DEFAULT_COMPRESSION)
      : sink_(std::move(sink)), z_(std::make_unique<z_stream>()), out_(new std::byte[out_size]) {
    if (deflateInit2(z_.get(), level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw io_error(110, {name_of(sink_), {}, 0}, "deflateInit2 failed (bad level?)");
  }
  gzip_sink(gzip_sink&& o) noexcept
      : sink_(std::move(o.sink_)), z_(std::move(o.z_)), out_(std::move(o.out_)), closed_(o.closed_) {}
  gzip_sink(const gzip_sink&) = delete;
  gzip_sink& operator=(const gzip_sink&) = delete;
  gzip_sink& operator=(gzip_sink&&) = delete;
  ~gzip_sink() {
    if (z_) deflateEnd(z_.get());
  }

  void write(const std::byte* src, std::size_t n) {
    while (n > 0) {
      uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
      z_->next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(src));
      z_->avail_in = chunk;
      pump(Z_NO_FLUSH);
      src += chunk;
      n -= chunk;
    }
  }
  void close() {
    if (closed_) return;
    z_->avail_in = 0;
    pump(Z_FINISH);
    closed_ = true;
    sink_.close();
  }
  const std::string& name() const noexcept {
    static const std::string none;
    if constexpr (detail::has_name<Sink>::value) return sink_.name();
    else return none;
  }
  Sink& inner() noexcept { return sink_; }

 private:
  void pump(int flush) {
    for (;;) {
      z_->next_out = reinterpret_cast<Bytef*>(out_.get());
      z_->avail_out = static_cast<uInt>(out_size);
      int rc = deflate(z_.get(), flush);
      if (rc == Z_STREAM_ERROR) throw io_error(114, {name_of(sink_), {}, 0}, "deflate failed");
      std::size_t have = out_size - z_->avail_out;
      if (have) sink_.write(out_.get(), have);
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z_->avail_in == 0 && z_->avail_out != 0)) break;
    }
  }

  Sink sink_;
  std::unique_ptr<z_stream> z_;
  std::unique_ptr<std::byte[]> out_;
  bool closed_ = false;
};

}  // namespace wds
