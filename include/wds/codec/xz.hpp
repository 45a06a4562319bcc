// SPDX-License-Identifier: MIT
#pragma once

// xz shards over liblzma: xz_source<Source> decompresses (concatenated streams
// and 4-byte stream padding, as `xz -d`; every check verified; the dictionary
// bounded by limits::max_decoder_memory), xz_sink<Sink> compresses (preset 6,
// CRC64: what `xz` and Python's tarfile "w:xz" write). Needs WDS_HAS_LZMA=1
// and liblzma linked.

#include <wds/config.hpp>

#if !WDS_HAS_LZMA
#error "wds/codec/xz.hpp needs liblzma: build with WDS_HAS_LZMA=1 (CMake: WDS_WITH_LZMA) and link liblzma"
#endif

#include <wds/codec/stream.hpp>

#include <lzma.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace wds {

inline bool is_xz_magic(const std::byte* p, std::size_t n) noexcept {
  return n >= 6 && std::memcmp(p, "\xfd" "7zXZ\0", 6) == 0;
}

namespace detail {

inline std::string lzma_reason(lzma_ret rc) {
  switch (rc) {
    case LZMA_FORMAT_ERROR: return "not an xz stream";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_DATA_ERROR: return "corrupt xz data";
    case LZMA_BUF_ERROR: return "truncated or corrupt xz data";
    default: return "xz error " + std::to_string(static_cast<int>(rc));
  }
}

class xz_decoder {
 public:
  static constexpr const char* format = "xz";
  static constexpr std::size_t magic_size = 6, padding_unit = 4;
  static bool is_magic(const std::byte* p, std::size_t n) noexcept { return is_xz_magic(p, n); }

  explicit xz_decoder(const limits& lim)
      : z_(std::make_unique<lzma_stream>()), memlimit_(lim.max_decoder_memory ? lim.max_decoder_memory : UINT64_MAX) {
    init();
  }
  xz_decoder(const xz_decoder&) = delete;
  xz_decoder& operator=(const xz_decoder&) = delete;
  ~xz_decoder() { lzma_end(z_.get()); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    lzma_stream& z = *z_;
    z.next_in = reinterpret_cast<const std::uint8_t*>(in);
    z.avail_in = in_n;
    z.next_out = reinterpret_cast<std::uint8_t*>(out);
    z.avail_out = out_n;
    // LZMA_FINISH once the input is exhausted makes a truncated stream an error
    // instead of a wait for more input; with input left, LZMA_RUN.
    lzma_ret rc = lzma_code(&z, in_n == 0 ? LZMA_FINISH : LZMA_RUN);
    codec_step s{in_n - z.avail_in, out_n - z.avail_out, rc == LZMA_STREAM_END};
    if (rc == LZMA_OK || rc == LZMA_STREAM_END) return s;
    if (rc == LZMA_BUF_ERROR && in_n == 0) return s;  // no progress possible: the caller sees truncation
    if (rc == LZMA_MEM_ERROR) throw codec_failure{110, "out of memory in xz decoder"};
    if (rc == LZMA_MEMLIMIT_ERROR)
      throw codec_failure{505, "xz stream needs " + std::to_string(lzma_memusage(&z)) +
                                   " bytes of decoder memory, over limits::max_decoder_memory (" +
                                   std::to_string(memlimit_) + ")"};
    throw codec_failure{112, lzma_reason(rc)};
  }
  void reset() {
    lzma_end(z_.get());
    init();
  }

 private:
  void init() {
    *z_ = lzma_stream{};  // LZMA_STREAM_INIT
    if (lzma_stream_decoder(z_.get(), memlimit_, 0) != LZMA_OK) throw codec_failure{110, "lzma_stream_decoder failed"};
  }
  std::unique_ptr<lzma_stream> z_;
  std::uint64_t memlimit_;
};

class xz_encoder {
 public:
  static constexpr int default_level = 6;  // xz's and Python's lzma default preset

  explicit xz_encoder(int level) : z_(std::make_unique<lzma_stream>()) {
    *z_ = lzma_stream{};
    if (level < 0 || level > 9 ||
        lzma_easy_encoder(z_.get(), static_cast<std::uint32_t>(level), LZMA_CHECK_CRC64) != LZMA_OK)
      throw codec_failure{110, "lzma_easy_encoder failed (preset " + std::to_string(level) + ", must be 0..9)"};
  }
  xz_encoder(const xz_encoder&) = delete;
  xz_encoder& operator=(const xz_encoder&) = delete;
  ~xz_encoder() { lzma_end(z_.get()); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n, bool finish) {
    lzma_stream& z = *z_;
    z.next_in = reinterpret_cast<const std::uint8_t*>(in);
    z.avail_in = in_n;
    z.next_out = reinterpret_cast<std::uint8_t*>(out);
    z.avail_out = out_n;
    lzma_ret rc = lzma_code(&z, finish ? LZMA_FINISH : LZMA_RUN);
    if (rc != LZMA_OK && rc != LZMA_STREAM_END)
      throw codec_failure{114, "xz compression failed: " + lzma_reason(rc)};
    return {in_n - z.avail_in, out_n - z.avail_out, rc == LZMA_STREAM_END};
  }

 private:
  std::unique_ptr<lzma_stream> z_;
};

}  // namespace detail

template <class Source>
using xz_source = decompressing_source<Source, detail::xz_decoder>;
template <class Sink>
using xz_sink = compressing_sink<Sink, detail::xz_encoder>;

}  // namespace wds
