// SPDX-License-Identifier: MIT
#pragma once

// zstd shards over libzstd: zstd_source<Source> decompresses (concatenated and
// skippable frames, as `zstd -d`; the window bounded by
// limits::max_decoder_memory), zstd_sink<Sink> compresses (level 3 with a
// content checksum, as the zstd CLI writes from a pipe). Needs WDS_HAS_ZSTD=1
// and libzstd linked.

#include <wds/config.hpp>

#if !WDS_HAS_ZSTD
#error "wds/codec/zstd.hpp needs libzstd: build with WDS_HAS_ZSTD=1 (CMake: WDS_WITH_ZSTD) and link libzstd"
#endif

#include <wds/codec/stream.hpp>

#include <zstd.h>
#include <zstd_errors.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace wds {

// A zstd frame (28 b5 2f fd) or a skippable frame (5? 2a 4d 18).
inline bool is_zstd_magic(const std::byte* p, std::size_t n) noexcept {
  if (n < 4) return false;
  const auto b = [&](std::size_t i) { return static_cast<unsigned>(p[i]); };
  const std::uint32_t m = b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
  return m == 0xFD2FB528u || (m & 0xFFFFFFF0u) == 0x184D2A50u;
}

namespace detail {

class zstd_decoder {
 public:
  static constexpr const char* format = "zstd";
  static constexpr std::size_t magic_size = 4, padding_unit = 0;
  static bool is_magic(const std::byte* p, std::size_t n) noexcept { return is_zstd_magic(p, n); }

  explicit zstd_decoder(const limits& lim) : z_(ZSTD_createDStream()) {
    if (!z_) throw codec_failure{110, "ZSTD_createDStream failed"};
    // The largest window that fits the memory limit (zstd's own default is 2^27).
    int log = 10;
    const std::uint64_t cap = lim.max_decoder_memory ? lim.max_decoder_memory : UINT64_MAX;
    while (log < 31 && (std::uint64_t{1} << (log + 1)) <= cap) ++log;
    window_log_ = log;
    ZSTD_DCtx_setParameter(z_, ZSTD_d_windowLogMax, log);
  }
  zstd_decoder(const zstd_decoder&) = delete;
  zstd_decoder& operator=(const zstd_decoder&) = delete;
  ~zstd_decoder() { ZSTD_freeDStream(z_); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n) {
    ZSTD_inBuffer ib{in, in_n, 0};
    ZSTD_outBuffer ob{out, out_n, 0};
    std::size_t rc = ZSTD_decompressStream(z_, &ob, &ib);
    if (ZSTD_isError(rc)) {
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge)
        throw codec_failure{505, "zstd frame needs a window over limits::max_decoder_memory (2^" +
                                     std::to_string(window_log_) + " bytes)"};
      if (ZSTD_getErrorCode(rc) == ZSTD_error_memory_allocation)
        throw codec_failure{110, "out of memory in zstd decoder"};
      throw codec_failure{112, std::string("corrupt zstd data: ") + ZSTD_getErrorName(rc)};
    }
    // 0: a frame is decoded and fully flushed.
    return {ib.pos, ob.pos, rc == 0};
  }
  void reset() { ZSTD_DCtx_reset(z_, ZSTD_reset_session_only); }

 private:
  ZSTD_DStream* z_;
  int window_log_ = 27;
};

class zstd_encoder {
 public:
  static constexpr int default_level = 3;  // the zstd CLI's default

  explicit zstd_encoder(int level) : z_(ZSTD_createCCtx()) {
    if (!z_) throw codec_failure{110, "ZSTD_createCCtx failed"};
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z_, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z_, ZSTD_c_checksumFlag, 1))) {
      ZSTD_freeCCtx(z_);
      throw codec_failure{110, "bad zstd level " + std::to_string(level)};
    }
  }
  zstd_encoder(const zstd_encoder&) = delete;
  zstd_encoder& operator=(const zstd_encoder&) = delete;
  ~zstd_encoder() { ZSTD_freeCCtx(z_); }

  codec_step step(const std::byte* in, std::size_t in_n, std::byte* out, std::size_t out_n, bool finish) {
    ZSTD_inBuffer ib{in, in_n, 0};
    ZSTD_outBuffer ob{out, out_n, 0};
    std::size_t rc = ZSTD_compressStream2(z_, &ob, &ib, finish ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(rc)) throw codec_failure{114, std::string("zstd compression failed: ") + ZSTD_getErrorName(rc)};
    return {ib.pos, ob.pos, finish && rc == 0};
  }

 private:
  ZSTD_CCtx* z_;
};

}  // namespace detail

template <class Source>
using zstd_source = decompressing_source<Source, detail::zstd_decoder>;
template <class Sink>
using zstd_sink = compressing_sink<Sink, detail::zstd_encoder>;

}  // namespace wds
