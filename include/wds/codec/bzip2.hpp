// SPDX-License-Identifier: MIT
#pragma once

// bzip2 shards over libbz2: bzip2_source<Source> decompresses (concatenated
// streams, each CRC checked), bzip2_sink<Sink> compresses (level 9 by default,
// byte-identical to `bzip2 -9` and Python's tarfile "w:bz2"). Needs
// WDS_HAS_BZIP2=1 and libbz2 linked (the build systems do both).

#include <wds/config.hpp>

#if !WDS_HAS_BZIP2
#error "wds/codec/bzip2.hpp needs libbz2: build with WDS_HAS_BZIP2=1 (CMake: WDS_WITH_BZIP2) and link libbz2"
#endif

#include <wds/codec/stream.hpp>

#include <bzlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>

namespace wds {

// "BZh" + block size digit + the first block's (or the end-of-stream) magic.
inline bool is_bzip2_magic(const std::byte* p, std::size_t n) noexcept {
  return n >= 4 && p[0] == std::byte{'B'} && p[1] == std::byte{'Z'} && p[2] == std::byte{'h'} &&
         p[3] >= std::byte{'1'} && p[3] <= std::byte{'9'};
}

namespace detail {

inline unsigned int bz_chunk(std::size_t n) noexcept {
  return static_cast<unsigned int>(std::min<std::size_t>(n, UINT_MAX));
}

class bzip2_decoder {
 public:
  static constexpr const char* format = "bzip2";
  static constexpr std::size_t magic_size = 4, padding_unit = 0;
  static bool is_magic(const std::byte* p, std::size_t n) noexcept { return is_bzip2_magic(p, n); }

  explicit bzip2_decoder(const limits&) : z_(std::make_unique<bz_stream>()) { init(); }
  bzip2_decoder(const bzip2_decoder&) = delete;
  bzip2_decoder& operator=(const bzip2_decoder&) = delete;
  ~bzip2_decoder() { BZ2_bzDecompressEnd(z_.get()); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    bz_stream& z = *z_;
    z.next_in = const_cast<char*>(reinterpret_cast<const char*>(in));
    z.avail_in = bz_chunk(in_n);
    z.next_out = reinterpret_cast<char*>(out);
    z.avail_out = bz_chunk(out_n);
    const unsigned int ai = z.avail_in, ao = z.avail_out;
    int rc = BZ2_bzDecompress(&z);
    codec_step s{ai - z.avail_in, ao - z.avail_out, rc == BZ_STREAM_END};
    if (rc == BZ_OK || rc == BZ_STREAM_END) return s;
    if (rc == BZ_MEM_ERROR) throw codec_failure{110, "out of memory in bzip2 decoder"};
    throw codec_failure{112, rc == BZ_DATA_ERROR_MAGIC ? "not a bzip2 stream (bad magic)"
                                                       : "corrupt bzip2 data (error " + std::to_string(rc) + ")"};
  }
  void reset() {
    BZ2_bzDecompressEnd(z_.get());
    init();
  }

 private:
  void init() {
    *z_ = bz_stream{};
    if (BZ2_bzDecompressInit(z_.get(), 0, 0) != BZ_OK) throw codec_failure{110, "BZ2_bzDecompressInit failed"};
  }
  std::unique_ptr<bz_stream> z_;
};

class bzip2_encoder {
 public:
  static constexpr int default_level = 9;  // bzip2's and Python's default block size

  explicit bzip2_encoder(int level) : z_(std::make_unique<bz_stream>()) {
    if (level < 1 || level > 9 || BZ2_bzCompressInit(z_.get(), level, 0, 0) != BZ_OK)
      throw codec_failure{110, "BZ2_bzCompressInit failed (level " + std::to_string(level) + ", must be 1..9)"};
  }
  bzip2_encoder(const bzip2_encoder&) = delete;
  bzip2_encoder& operator=(const bzip2_encoder&) = delete;
  ~bzip2_encoder() { BZ2_bzCompressEnd(z_.get()); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n, bool finish) {
    bz_stream& z = *z_;
    z.next_in = const_cast<char*>(reinterpret_cast<const char*>(in));
    z.avail_in = bz_chunk(in_n);
    z.next_out = reinterpret_cast<char*>(out);
    z.avail_out = bz_chunk(out_n);
    const unsigned int ai = z.avail_in, ao = z.avail_out;
    int rc = BZ2_bzCompress(&z, finish ? BZ_FINISH : BZ_RUN);
    if (rc != BZ_RUN_OK && rc != BZ_FINISH_OK && rc != BZ_STREAM_END)
      throw codec_failure{114, "bzip2 compression failed (error " + std::to_string(rc) + ")"};
    return {ai - z.avail_in, ao - z.avail_out, rc == BZ_STREAM_END};
  }

 private:
  std::unique_ptr<bz_stream> z_;
};

}  // namespace detail

template <class Source>
using bzip2_source = decompressing_source<Source, detail::bzip2_decoder>;
template <class Sink>
using bzip2_sink = compressing_sink<Sink, detail::bzip2_encoder>;

}  // namespace wds
