// SPDX-License-Identifier: MIT
#pragma once

// Streaming gzip over zlib: gzip_source<Source> inflates, gzip_sink<Sink>
// deflates. Needs WDS_HAS_ZLIB=1 and zlib linked (the build systems do both).
// With WDS_HAS_ISAL=1 (and libisal linked), gzip_source inflates through
// ISA-L's igzip instead: same bytes, same accept/refuse decisions, faster (1.5x
// on gzipped photos here, more on compressible data);
// zlib_gzip_source keeps zlib's inflate. Output is always zlib's deflate.

#include <wds/config.hpp>

#if !WDS_HAS_ZLIB
#error "wds/codec/gzip.hpp needs zlib: build with WDS_HAS_ZLIB=1 (CMake: WDS_WITH_ZLIB) and link zlib"
#endif

#include <wds/codec/stream.hpp>
#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>

#include <zlib.h>
#if WDS_HAS_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN

inline bool is_gzip_magic(const std::byte* p, std::size_t n) noexcept {
  return n >= 2 && p[0] == std::byte{0x1f} && p[1] == std::byte{0x8b};
}

namespace detail {

// zlib under wds/codec/stream.hpp's loop (concatenated members, trailing zero
// padding and garbage handled there, with the same rules as the other codecs).
// Held by pointer there: zlib's state points back at its z_stream.
class zlib_gzip_decoder {
 public:
  static constexpr const char* format = "gzip";
  static constexpr std::size_t magic_size = 2, padding_unit = 1;  // any run of zeros, as gzip -d and Python
  static bool is_magic(const std::byte* p, std::size_t n) noexcept { return is_gzip_magic(p, n); }

  explicit zlib_gzip_decoder(const limits&) {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) throw codec_failure{110, "inflateInit2 failed"};
  }
  zlib_gzip_decoder(const zlib_gzip_decoder&) = delete;
  zlib_gzip_decoder& operator=(const zlib_gzip_decoder&) = delete;
  ~zlib_gzip_decoder() { inflateEnd(&z_); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    const uInt ai = clamp(in_n), ao = clamp(out_n);
    z_.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in));
    z_.avail_in = ai;
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = ao;
    const int rc = inflate(&z_, Z_NO_FLUSH);
    if (rc == Z_DATA_ERROR) throw codec_failure{112, std::string("corrupt gzip data: ") + (z_.msg ? z_.msg : "inflate failed")};
    if (rc == Z_MEM_ERROR) throw codec_failure{110, "out of memory in inflate"};
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
      throw codec_failure{112, "inflate failed (" + std::to_string(rc) + ")"};
    return {ai - z_.avail_in, ao - z_.avail_out, rc == Z_STREAM_END};
  }
  void reset() { inflateReset(&z_); }

  static uInt clamp(std::size_t n) noexcept { return static_cast<uInt>(std::min<std::size_t>(n, 1u << 30)); }

 private:
  z_stream z_{};
};

// Gathers one gzip member header (RFC 1952: 10 fixed bytes, FEXTRA, FNAME,
// FCOMMENT, FHCRC), refusing what zlib refuses as soon as zlib does.
class gzip_header_reader {
 public:
  bool done() const noexcept { return hdr_done_; }
  const std::vector<std::uint8_t>& bytes() const noexcept { return hdr_; }
  void reset() {
    hdr_.clear();
    hdr_done_ = false;
    part_ = part::fixed;
  }

  // Appends header bytes (RFC 1952: 10 fixed, FEXTRA, FNAME, FCOMMENT, FHCRC)
  // to hdr_ until it is complete; returns how many of `in` it took. One step
  // per byte, so a long FNAME costs linear time.
  std::size_t gather(const std::byte* in, std::size_t in_n) {
    std::size_t k = 0;
    while (k < in_n && !hdr_done_) {
      const auto b = static_cast<std::uint8_t>(in[k++]);
      hdr_.push_back(b);
      hdr_done_ = header_step(b);
      if (!hdr_done_ && hdr_.size() > (std::size_t{1} << 20))
        throw codec_failure{112, "corrupt gzip data: header longer than 1 MiB"};
    }
    return k;
  }


 private:
  // The header part that follows the fixed 10 bytes or the field just ended.
  void next_part(unsigned after) {
    const unsigned flg = hdr_[3];
    left_ = 2;
    if (after < 4u && (flg & 4u)) part_ = part::xlen;
    else if (after < 8u && (flg & 8u)) part_ = part::name;
    else if (after < 16u && (flg & 16u)) part_ = part::comment;
    else if (after < 32u && (flg & 2u)) part_ = part::hcrc;
    else part_ = part::done;
  }
  // Takes the byte just appended to hdr_; true once the header is complete.
  bool header_step(std::uint8_t b) {
    const std::size_t n = hdr_.size();
    switch (part_) {
      case part::fixed:
        // Refused as soon as zlib refuses them, not after waiting for more.
        if (n == 2 && (hdr_[0] != 0x1f || hdr_[1] != 0x8b))
          throw codec_failure{112, "corrupt gzip data: incorrect header check"};
        if (n == 3 && hdr_[2] != 8) throw codec_failure{112, "corrupt gzip data: unknown compression method"};
        // zlib refuses a reserved FLG bit; ISA-L would ignore it.
        if (n == 4 && (hdr_[3] & 0xe0u)) throw codec_failure{112, "corrupt gzip data: unknown header flags set"};
        if (n == 10) next_part(0);
        break;
      case part::xlen:
        if (--left_ == 0) {
          left_ = hdr_[n - 2] | (std::size_t{hdr_[n - 1]} << 8);
          part_ = part::extra;
          if (left_ == 0) next_part(4u);
        }
        break;
      case part::extra:
        if (--left_ == 0) next_part(4u);
        break;
      case part::name:
        if (b == 0) next_part(8u);
        break;
      case part::comment:
        if (b == 0) next_part(16u);
        break;
      case part::hcrc:
        if (--left_ == 0) part_ = part::done;
        break;
      case part::done:
        break;
    }
    return part_ == part::done;
  }

  enum class part { fixed, xlen, extra, name, comment, hcrc, done };
  std::vector<std::uint8_t> hdr_;  // the member's header, gathered whole
  bool hdr_done_ = false;
  part part_ = part::fixed;  // where the header parse is
  std::size_t left_ = 0;     // bytes left in the current fixed-size part
};

#if WDS_HAS_ISAL
// ISA-L's igzip with the gzip wrapper: it verifies the CRC-32 and length
// trailer and hands back the bytes after a member, so the loop's member/
// padding/garbage rules apply unchanged. The header is gathered here first.
class isal_gzip_decoder {
 public:
  static constexpr const char* format = "gzip";
  static constexpr std::size_t magic_size = 2, padding_unit = 1;
  static bool is_magic(const std::byte* p, std::size_t n) noexcept { return is_gzip_magic(p, n); }

  // Value-initialized: isal_inflate_init leaves some fields (hist_bits) as they are.
  explicit isal_gzip_decoder(const limits&) : st_(new inflate_state()) { reset(); }
  isal_gzip_decoder(const isal_gzip_decoder&) = delete;
  isal_gzip_decoder& operator=(const isal_gzip_decoder&) = delete;

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    std::size_t taken = 0;
    if (!hdr_done_) {
      // ISA-L 2.30 misparses a header that arrives split inside FNAME (found
      // under clang's ASan: "invalid code"), so the header is gathered here and
      // handed over whole.
      taken = hdr_.gather(in, in_n);
      if (!hdr_.done()) return {taken, 0, false};
      hdr_done_ = true;
      feed(hdr_.bytes().data(), hdr_.bytes().size(), out, out_n);
      if (st_->avail_in != 0) throw codec_failure{112, "corrupt gzip data: incorrect header check"};
      in += taken;
      in_n -= taken;
    }
    const std::uint32_t ai = zlib_gzip_decoder::clamp(in_n), ao = zlib_gzip_decoder::clamp(out_n);
    feed(reinterpret_cast<const std::uint8_t*>(in), ai, out, ao);
    return {taken + (ai - st_->avail_in), ao - st_->avail_out, st_->block_state == ISAL_BLOCK_FINISH};
  }
  void reset() {
    isal_inflate_init(st_.get());
    st_->crc_flag = ISAL_GZIP;
    st_->hist_bits = 0;  // the full 32 KiB window
    hdr_.reset();
    hdr_done_ = false;
  }

  // zlib's message for an igzip error code.
  static const char* why(int rc) noexcept {
    switch (rc) {
      case ISAL_INVALID_BLOCK: return "invalid block type";
      case ISAL_INVALID_SYMBOL: return "invalid code";
      case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
      case ISAL_INVALID_WRAPPER: return "incorrect header check";
      case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
      case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
      case ISAL_NEED_DICT: return "needs a preset dictionary";
      default: return "inflate failed";
    }
  }

 private:
  void feed(const std::uint8_t* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    st_->next_in = const_cast<std::uint8_t*>(in);
    st_->avail_in = static_cast<std::uint32_t>(in_n);
    st_->next_out = reinterpret_cast<std::uint8_t*>(out);
    st_->avail_out = static_cast<std::uint32_t>(out_n);
    const int rc = isal_inflate(st_.get());
    if (rc < 0 || rc == ISAL_NEED_DICT) throw codec_failure{112, std::string("corrupt gzip data: ") + why(rc)};
  }

  std::unique_ptr<inflate_state> st_;  // about 40 KiB: on the heap
  gzip_header_reader hdr_;
  bool hdr_done_ = false;
};
using gzip_decoder = isal_gzip_decoder;
#else
using gzip_decoder = zlib_gzip_decoder;
#endif

// Header without name or mtime, so output is reproducible.
class gzip_encoder {
 public:
  static constexpr int default_level = Z_DEFAULT_COMPRESSION;

  explicit gzip_encoder(int level) {
    if (deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw codec_failure{110, "deflateInit2 failed (bad level?)"};
  }
  gzip_encoder(const gzip_encoder&) = delete;
  gzip_encoder& operator=(const gzip_encoder&) = delete;
  ~gzip_encoder() { deflateEnd(&z_); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n, bool finish) {
    const uInt ai = zlib_gzip_decoder::clamp(in_n), ao = zlib_gzip_decoder::clamp(out_n);
    z_.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in));
    z_.avail_in = ai;
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = ao;
    const int rc = deflate(&z_, finish ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) throw codec_failure{114, "deflate failed"};
    return {ai - z_.avail_in, ao - z_.avail_out, finish && rc == Z_STREAM_END};
  }

 private:
  z_stream z_{};
};

}  // namespace detail

// Inflates a gzip stream (concatenated members included, as gzip -d does).
// Every member's CRC-32 and length trailer is verified; verify_end() reads the
// rest of the stream after its consumer stops (the tar end marker), so a
// corrupt or truncated .tar.gz never passes for a complete one.
template <class Source>
class gzip_source : public decompressing_source<Source, detail::gzip_decoder> {
 public:
  using decompressing_source<Source, detail::gzip_decoder>::decompressing_source;
};
template <class Source>
gzip_source(Source, std::string = {}, limits = {}) -> gzip_source<Source>;

// zlib's inflate whatever WDS_HAS_ISAL says (the reference the ISA-L path is tested against).
template <class Source>
class zlib_gzip_source : public decompressing_source<Source, detail::zlib_gzip_decoder> {
 public:
  using decompressing_source<Source, detail::zlib_gzip_decoder>::decompressing_source;
};
template <class Source>
zlib_gzip_source(Source, std::string = {}, limits = {}) -> zlib_gzip_source<Source>;

// Deflates into a gzip stream (default level: zlib's 6).
template <class Sink>
class gzip_sink : public compressing_sink<Sink, detail::gzip_encoder> {
 public:
  using compressing_sink<Sink, detail::gzip_encoder>::compressing_sink;
};
template <class Sink>
gzip_sink(Sink) -> gzip_sink<Sink>;
template <class Sink>
gzip_sink(Sink, int) -> gzip_sink<Sink>;

WDS_NAMESPACE_END
