// SPDX-License-Identifier: MIT
#pragma once

// JPEG decode/encode through the libjpeg API of libjpeg-turbo, set up so the
// pixels and bytes equal Pillow 9.4's (Image.open().convert(), Image.save()).

#include "wds/config.hpp"

#if !WDS_HAS_JPEG
#error "wds/codec/jpeg.hpp needs libjpeg-turbo: define WDS_HAS_JPEG=1 and link -ljpeg (CMake: link wds::wds with WDS_WITH_JPEG=AUTO|ON)"
#endif

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <jpeglib.h>

#include "wds/convert.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/limits.hpp"


WDS_NAMESPACE_BEGIN

enum class jpeg_subsampling { s444, s422, s420 };

// Encoder settings; the defaults give Pillow's `im.save(f, "JPEG")` bytes.
struct jpeg_options {
  int quality = 75;  // 0..100 (libjpeg treats 0 as 1), as Pillow's quality=
  // Chroma subsampling of 3-channel images. Gray and CMYK images are written
  // without subsampling (Pillow's default for them).
  jpeg_subsampling subsampling = jpeg_subsampling::s420;
  bool progressive = false;
  bool optimize = false;  // optimized Huffman tables (Pillow's optimize=True)
  // COM marker text (Pillow writes im.info["comment"] of a JPEG it opened);
  // empty = none, at most 65533 bytes.
  std::string comment;
};

// What the header says.
struct jpeg_info {
  int width = 0;
  int height = 0;
  int components = 0;                 // 1, 3 or 4
  pixel_mode mode = pixel_mode::l;    // Pillow's mode: L, RGB or CMYK
  bool progressive = false;
};

struct jpeg_decode_options {
  // Output mode (any 8-bit mode: L, LA, RGB, RGBA, CMYK); nullopt = the
  // file's own mode. Pixels equal Pillow's Image.open(f).convert(mode).
  std::optional<pixel_mode> mode;
  // DCT scaling 1/scale_denom with scale_denom 1, 2, 4 or 8 (Pillow's draft();
  // see jpeg_draft_scale). The output is ceil(width/scale) x ceil(height/scale).
  int scale_denom = 1;
  // Every libjpeg warning (corrupt data that libjpeg can skip over) becomes
  // decode_error 403. Off by default: Pillow ignores those warnings, and
  // raises only when data is missing (truncation), which is always error 402.
  bool strict = false;
  // Region decodes only: after the region, still entropy-decode the rest of
  // the image so that a truncated file is detected (as a full decode would).
  // Off: the rows below the region are never read (faster).
  bool check_rest = false;
};

// A rectangle in the (scaled) output image; may extend outside it.
struct jpeg_region {
  int x = 0, y = 0, width = 0, height = 0;
};

// Pixels of the part of a requested region that lies inside the image, and
// where that part starts in the full (scaled) image. The caller's offset of the
// pixels inside its requested region is (x - region.x, y - region.y).
struct jpeg_region_image {
  image<std::uint8_t> pixels;
  int x = 0;
  int y = 0;
};

// What jpeg_decoder::decode_region_rows handed out: the part of the region
// inside the image (x, y in the full image, its size) and the rows' mode.
struct jpeg_rows_info {
  int x = 0, y = 0, width = 0, height = 0;
  pixel_mode mode = pixel_mode::l;
};

// Pillow's JpegImageFile.draft(mode, (req_width, req_height)) choice of DCT
// scale: the largest of 8, 4, 2, 1 not above min(width // req_w, height // req_h).
inline int jpeg_draft_scale(int width, int height, int req_width, int req_height) noexcept {
  if (req_width <= 0 || req_height <= 0) return 1;
  const int s = std::min(width / req_width, height / req_height);
  for (int c : {8, 4, 2}) if (s >= c) return c;
  return 1;
}

namespace detail {

// libjpeg reports errors through callbacks; they longjmp back to the setjmp
// in a jpeg_*_step function. Those functions hold only trivially destructible
// locals, so the jump never skips a C++ destructor.
struct jpeg_error_state {
  jpeg_error_mgr mgr;  // first member: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  bool strict;
  bool finishing;   // every output row is out; reading on to EOI
  int kind;         // 0 error, 1 truncated, 2 warning in strict mode, 3 ended after the rows
  char message[JMSG_LENGTH_MAX];
};

extern "C" {
inline void wds_jpeg_error_exit(j_common_ptr cinfo) {
  auto* st = reinterpret_cast<jpeg_error_state*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, st->message);
  st->kind = 0;
  std::longjmp(st->jump, 1);
}

inline void wds_jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* st = reinterpret_cast<jpeg_error_state*>(cinfo->err);
  cinfo->err->num_warnings++;
  const int code = cinfo->err->msg_code;
  const bool eof = code >= 0 && code <= cinfo->err->last_jpeg_message &&
                   cinfo->err->jpeg_message_table[code] != nullptr &&
                   std::strcmp(cinfo->err->jpeg_message_table[code], "Premature end of JPEG file") == 0;
  // Pillow's suspending reader raises "image file is truncated" when the data
  // ends while rows are still due (a missing EOI after entropy data is that),
  // libjpeg only warns. Once every row is out, Pillow stops at the suspension
  // and keeps the image (the data ends in a marker after the scan): so do we,
  // before libjpeg parses the fake EOI it inserted.
  if (eof && st->finishing && !st->strict) {
    st->kind = 3;
    std::longjmp(st->jump, 1);
  }
  if (eof || st->strict) {
    (*cinfo->err->format_message)(cinfo, st->message);
    st->kind = eof ? 1 : 2;
    std::longjmp(st->jump, 1);
  }
}

inline void wds_jpeg_output_message(j_common_ptr) {}
}

inline void init_jpeg_errors(jpeg_error_state& st) {
  jpeg_std_error(&st.mgr);
  st.mgr.error_exit = wds_jpeg_error_exit;
  st.mgr.emit_message = wds_jpeg_emit_message;
  st.mgr.output_message = wds_jpeg_output_message;
  st.strict = false;
  st.finishing = false;
  st.kind = 0;
  st.message[0] = '\0';
}

// Plain-data description of one decode, filled by C++ code before the step
// functions run (they must not allocate or throw).
struct jpeg_decode_job {
  const unsigned char* data;
  unsigned long size;
  int scale_denom;
  J_COLOR_SPACE out_space;
  bool check_rest;
  bool rest_scan;             // check_rest may end with jpeg_rest_is_clean
  bool rest_scanned;          // out: it did (tests count it)
  bool avoid_nt_rows;         // see jpeg_nt_row
  JDIMENSION rx, ry, rw, rh;  // region inside the output, clipped, non-empty
  unsigned char* out;         // packed rows of rw * components bytes
  unsigned char* scratch;     // 4 rows of the (cropped) scanline width, each 8 mod 16
  std::size_t scratch_stride; // bytes from one scratch row to the next, a multiple of 16
  int components;
  std::size_t skip_left;      // region: bytes before it in a decoded (cropped) scanline
  bool direct;                // region: the cropped scanline is the region's row
};

// libjpeg-turbo's SIMD YCbCr->RGB conversion (simd/x86_64/jdcolext-sse2.asm,
// -avx2.asm) writes a row with non-temporal stores (movntdq/vmovntdq) when
// the row starts 16- resp. 32-byte aligned (`test rdi, SIZEOF_XMMWORD-1` /
// `SIZEOF_YMMWORD-1`; a 16/32-pixel step is 48/96 bytes, so one row is all
// one or all the other). Such a row bypasses the cache and reading it back
// misses: those rows go to a scratch row at 8 mod 16 and are copied from there.
inline bool jpeg_nt_row(const unsigned char* p) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0;
}

// True when, from p, the first marker that is not RSTn is a whole EOI, with
// markers found as libjpeg finds them: FF, any fill FFs, then a code byte;
// FF 00 is a data byte.
inline bool jpeg_eoi_is_next(const unsigned char* p, const unsigned char* end) noexcept {
  while (p < end) {
    p = static_cast<const unsigned char*>(std::memchr(p, 0xFF, std::size_t(end - p)));
    if (p == nullptr) return false;
    do ++p; while (p < end && *p == 0xFF);
    if (p == end) return false;
    const unsigned c = *p++;
    if (c == 0xD9) return true;
    if (c != 0x00 && (c < 0xD0 || c > 0xD7)) return false;
  }
  return false;
}

// check_rest without decoding the rest, where that provably ends as the
// full check would. After the region's rows the full check decodes the rest
// and reads on to EOI; without strict mode (warnings ignored) it fails only
// (a) when the data runs out before EOI (the source's "Premature end of JPEG
// file": error 402) or (b) on an ERREXIT. In libjpeg-turbo 2.x decoding a
// single-scan Huffman file ERREXITs on nothing the entropy data holds: bad
// codes (JWRN_HUFF_BAD_CODE), a marker inside the data (JWRN_HIT_MARKER, zeros
// from there on), restart markers missing or out of order (JWRN_MUST_RESYNC)
// and junk before a marker (JWRN_EXTRANEOUS_DATA) are warnings. What can
// ERREXIT is a marker after the scan that read_markers parses: SOS (a second
// scan: JERR_EOI_EXPECTED), SOFn, DHT/DQT/DRI/DAC contents, reserved codes;
// and APPn/COM/DNL lengths past the data are (a). Every reader of the rest
// (jdhuff's bit buffer, its fast path, read_restart_marker and its resync,
// next_marker, read_markers) reads forward from the source position in whole
// tokens split as above, and goes past a marker only when it is RSTn: jdhuff
// stops at any marker; resync keeps EOI and skips only RSTn; read_markers
// ignores RSTn and stops at EOI. So if the pending marker is none, RSTn or EOI
// and, from the source position, the first marker but RSTn is a complete EOI,
// neither (a) nor (b) can happen: the full check would succeed, and the
// region's rows are already written. Anything else runs the full check:
// multi-scan files (jpeg_start_decompress read those to EOI already, their
// check is cheap), arithmetic coding, and strict mode (corrupt data below the
// region must still be error 403).
inline bool jpeg_rest_is_clean(jpeg_decompress_struct& ci, const jpeg_decode_job& job) {
  if (ci.progressive_mode || ci.arith_code || ci.buffered_image || jpeg_has_multiple_scans(&ci)) return false;
  const int m = ci.unread_marker;
  if (m == 0xD9) return true;  // libjpeg reads nothing more
  if (m != 0 && (m < 0xD0 || m > 0xD7)) return false;
  // Still inside our data (not the fake EOI the source adds when it ran out).
  const unsigned char* p = ci.src->next_input_byte;
  const unsigned char* end = job.data + job.size;
  if (p < job.data || p > end || ci.src->bytes_in_buffer != std::size_t(end - p)) return false;
  return jpeg_eoi_is_next(p, end);
}

// Header + output size. Returns false after a libjpeg error (see st.kind).
inline bool jpeg_header_step(jpeg_decompress_struct& ci, jpeg_error_state& st,
                             const jpeg_decode_job& job) {
  if (setjmp(st.jump)) return false;
  jpeg_abort_decompress(&ci);
  jpeg_mem_src(&ci, job.data, job.size);
  jpeg_read_header(&ci, TRUE);
  return true;
}

inline bool jpeg_dimensions_step(jpeg_decompress_struct& ci, jpeg_error_state& st,
                                 const jpeg_decode_job& job) {
  if (setjmp(st.jump)) return false;
  ci.out_color_space = job.out_space;
  ci.scale_num = 1;
  ci.scale_denom = static_cast<unsigned>(job.scale_denom);
  jpeg_calc_output_dimensions(&ci);
  return true;
}

// Reads on to EOI once every output row is out; inside a step's setjmp.
inline void jpeg_finish_reading(jpeg_decompress_struct& ci, jpeg_error_state& st) {
  st.finishing = true;
  jpeg_finish_decompress(&ci);
  st.finishing = false;
}

// After a longjmp in a step that may finish: the data ending in a marker
// after the rows (kind 3) is success, anything else the error.
inline bool jpeg_ended_after_rows(jpeg_decompress_struct& ci, jpeg_error_state& st) {
  st.finishing = false;
  if (st.kind != 3) return false;
  jpeg_abort_decompress(&ci);
  return true;
}

// The whole image, rows packed into job.out.
inline bool jpeg_pixels_step(jpeg_decompress_struct& ci, jpeg_error_state& st,
                             jpeg_decode_job& job) {
  st.finishing = false;
  if (setjmp(st.jump)) return jpeg_ended_after_rows(ci, st);
  jpeg_start_decompress(&ci);
  const std::size_t row_bytes = std::size_t(job.rw) * std::size_t(job.components);
  JSAMPROW rows[4];
  while (ci.output_scanline < ci.output_height) {
    const JDIMENSION y = ci.output_scanline;
    const JDIMENSION n = std::min<JDIMENSION>(4, ci.output_height - y);
    for (JDIMENSION i = 0; i < n; ++i) {
      unsigned char* dst = job.out + (y + i) * row_bytes;
      rows[i] = job.avoid_nt_rows && jpeg_nt_row(dst) ? job.scratch + i * job.scratch_stride : dst;
    }
    const JDIMENSION got = jpeg_read_scanlines(&ci, rows, n);
    for (JDIMENSION i = 0; i < got; ++i) {
      unsigned char* dst = job.out + (y + i) * row_bytes;
      if (rows[i] != dst) std::memcpy(dst, rows[i], row_bytes);
    }
  }
  jpeg_finish_reading(ci, st);
  return true;
}

// A region is decoded in three steps (start, rows, finish) so that its rows
// can also be handed out one at a time; each step has its own setjmp.
inline bool jpeg_region_start_step(jpeg_decompress_struct& ci, jpeg_error_state& st,
                                   jpeg_decode_job& job) {
  st.finishing = false;
  if (setjmp(st.jump)) return false;
  jpeg_start_decompress(&ci);
  // libjpeg-turbo treats the edges of a cropped scanline as image edges, so
  // fancy upsampling changes the outermost pixels: decode one iMCU more on
  // each side (when the image has it) to keep the region itself exact.
  const JDIMENSION margin = JDIMENSION(ci.max_h_samp_factor * ci.min_DCT_scaled_size);
  JDIMENSION xoff = job.rx > margin ? job.rx - margin : 0;
  JDIMENSION width = std::min<JDIMENSION>(ci.output_width, job.rx + job.rw + margin) - xoff;
  if (xoff != 0 || width != ci.output_width) jpeg_crop_scanline(&ci, &xoff, &width);
  if (job.ry > 0) jpeg_skip_scanlines(&ci, job.ry);
  job.skip_left = std::size_t(job.rx - xoff) * std::size_t(job.components);
  job.direct = xoff == job.rx && width == job.rw;
  return true;
}

// The next n rows of the region: packed into `out`, or (out == nullptr, n == 1)
// left in job.scratch at job.skip_left.
inline bool jpeg_region_rows_step(jpeg_decompress_struct& ci, jpeg_error_state& st,
                                  const jpeg_decode_job& job, JDIMENSION n, unsigned char* out) {
  if (setjmp(st.jump)) return false;
  const std::size_t row_bytes = std::size_t(job.rw) * std::size_t(job.components);
  for (JDIMENSION y = 0; y < n; ++y) {
    unsigned char* dst = out ? out + std::size_t(y) * row_bytes : nullptr;
    const bool into_dst = dst && job.direct && !(job.avoid_nt_rows && jpeg_nt_row(dst));
    JSAMPROW row = into_dst ? dst : job.scratch;
    jpeg_read_scanlines(&ci, &row, 1);
    if (dst && !into_dst) std::memcpy(dst, job.scratch + job.skip_left, row_bytes);
  }
  return true;
}

// After the region's rows: check_rest, or stop.
inline bool jpeg_region_finish_step(jpeg_decompress_struct& ci, jpeg_error_state& st,
                                    jpeg_decode_job& job) {
  st.finishing = false;
  if (setjmp(st.jump)) return jpeg_ended_after_rows(ci, st);
  if (job.check_rest && job.rest_scan && jpeg_rest_is_clean(ci, job)) {
    job.rest_scanned = true;
    jpeg_abort_decompress(&ci);
  } else if (job.check_rest) {
    // Skipping to the very end would only mark EOI as seen: skip all but the
    // last row and read that one, so every byte up to EOI is consumed.
    if (ci.output_scanline + 1 < ci.output_height)
      jpeg_skip_scanlines(&ci, ci.output_height - ci.output_scanline - 1);
    if (ci.output_scanline < ci.output_height) {
      JSAMPROW row = job.scratch;
      jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_reading(ci, st);
  } else {
    jpeg_abort_decompress(&ci);
  }
  return true;
}

// libjpeg keeps quantization and Huffman tables across images (for
// abbreviated streams), so a reused decoder would decode a file that lacks
// DQT or DHT with the previous file's tables where a fresh one (Pillow's)
// would not. True when both kinds of marker come before the first SOS.
inline bool jpeg_defines_tables(const unsigned char* p, std::size_t n) noexcept {
  bool dqt = false, dht = false;
  std::size_t i = 2;
  while (i + 4 <= n) {
    if (p[i] != 0xFF) return false;
    const unsigned m = p[i + 1];
    if (m == 0xFF) { ++i; continue; }
    if (m == 0xDA || m == 0xD9) break;
    if ((m >= 0xD0 && m <= 0xD8) || m == 0x01) { i += 2; continue; }
    dqt = dqt || m == 0xDB;
    dht = dht || m == 0xC4;
    i += 2 + ((std::size_t(p[i + 2]) << 8) | p[i + 3]);
  }
  return dqt && dht;
}

inline pixel_mode jpeg_native_mode(int components) noexcept {
  return components == 1 ? pixel_mode::l : components == 3 ? pixel_mode::rgb : pixel_mode::cmyk;
}

struct jpeg_decoder_testing;

}  // namespace detail

// Reusable JPEG decoder: keeps libjpeg's state (and its allocations) alive
// between images. Not thread-safe; use one per thread.
class jpeg_decoder {
 public:
  jpeg_decoder() {
    detail::init_jpeg_errors(err_);
    ci_.err = &err_.mgr;
    jpeg_create_decompress(&ci_);
  }
  ~jpeg_decoder() { jpeg_destroy_decompress(&ci_); }
  jpeg_decoder(const jpeg_decoder&) = delete;
  jpeg_decoder& operator=(const jpeg_decoder&) = delete;

  // Reads the header only.
  jpeg_info read_info(const std::byte* data, std::size_t size, const location& where = {}) {
    detail::jpeg_decode_job job{};
    start(job, data, size, where);
    return info_from_header();
  }

  // Decodes the whole image.
  image<std::uint8_t> decode(const std::byte* data, std::size_t size,
                             const jpeg_decode_options& opt = {}, const limits& lim = {},
                             const location& where = {}) {
    jpeg_region all{0, 0, INT32_MAX, INT32_MAX};
    return run(data, size, opt, lim, where, nullptr, all).pixels;
  }

  // Decodes only `region` of the (scaled) output: byte-identical to cropping
  // the full decode, but skips the IDCT and colour conversion of everything
  // else (libjpeg-turbo's jpeg_crop_scanline + jpeg_skip_scanlines).
  jpeg_region_image decode_region(const std::byte* data, std::size_t size, jpeg_region region,
                                  const jpeg_decode_options& opt = {}, const limits& lim = {},
                                  const location& where = {}) {
    return run(data, size, opt, lim, where, &region, region);
  }

  // decode_region without the image: on_row(image_view<const std::uint8_t>
  // row, int y) gets each row of the clipped region in turn (one row high,
  // in opt.mode; y from 0), valid until it returns. The same pixels, checks
  // and errors as decode_region; rows already handed out stay handed out when
  // a later error throws. An exception from on_row aborts the decode.
  template <class RowFn>
  jpeg_rows_info decode_region_rows(const std::byte* data, std::size_t size, jpeg_region region,
                                    const jpeg_decode_options& opt, const limits& lim, const location& where,
                                    RowFn&& on_row) {
    detail::jpeg_decode_job job{};
    jpeg_rows_info geo;
    if (!prepare(job, geo, data, size, opt, lim, where, region)) return geo;
    const int comps = job.components;
    err_.strict = opt.strict;
    bool ok = detail::jpeg_region_start_step(ci_, err_, job);
    try {
      if (ok && native_ == pixel_mode::cmyk) row_.resize(std::size_t(geo.width) * std::size_t(comps));
      for (int y = 0; ok && y < geo.height; ++y) {
        ok = detail::jpeg_region_rows_step(ci_, err_, job, 1, nullptr);
        if (!ok) break;
        const std::uint8_t* px = job.scratch + job.skip_left;
        if (native_ == pixel_mode::cmyk) {
          std::copy(px, px + row_.size(), row_.begin());
          invert(row_.data(), row_.size());
          px = row_.data();
        }
        image_view<const std::uint8_t> row(px, geo.width, 1, comps);
        row.set_mode(native_);
        if (geo.mode == native_) {
          on_row(row, y);
        } else {
          const image<std::uint8_t> converted = convert(row, native_, geo.mode);
          on_row(converted.view(), y);
        }
      }
    } catch (...) {
      err_.strict = false;
      jpeg_abort_decompress(&ci_);
      throw;
    }
    ok = ok && detail::jpeg_region_finish_step(ci_, err_, job);
    err_.strict = false;
    rest_scanned_ = ok && job.rest_scanned;
    if (!ok) fail(where, "data");
    return geo;
  }

 private:
  [[noreturn]] void fail(const location& where, const char* during) {
    const int id = err_.kind == 1 ? 402 : err_.kind == 2 ? 403 : (std::strcmp(during, "header") == 0 ? 400 : 401);
    std::string reason = err_.kind == 1 ? "truncated JPEG (" : "corrupt JPEG (";
    reason.append(during).append("): ").append(err_.message);
    jpeg_abort_decompress(&ci_);
    throw decode_error(id, where, reason);
  }

  void start(detail::jpeg_decode_job& job, const std::byte* data, std::size_t size,
             const location& where) {
    if (size == 0 || data == nullptr) throw decode_error(400, where, "empty JPEG data");
    if (size > 0xffffffffu) throw limit_error(505, where, "JPEG data larger than 4 GiB");
    job.data = reinterpret_cast<const unsigned char*>(data);
    job.size = static_cast<unsigned long>(size);
    if (used_ && !detail::jpeg_defines_tables(job.data, size)) {  // start from no tables
      jpeg_destroy_decompress(&ci_);
      ci_ = jpeg_decompress_struct{};
      ci_.err = &err_.mgr;
      jpeg_create_decompress(&ci_);
    }
    used_ = true;
    if (!detail::jpeg_header_step(ci_, err_, job)) fail(where, "header");
    if (ci_.num_components != 1 && ci_.num_components != 3 && ci_.num_components != 4) {
      jpeg_abort_decompress(&ci_);
      throw decode_error(404, where, "unsupported JPEG with " + std::to_string(ci_.num_components) + " components");
    }
  }

  jpeg_info info_from_header() const {
    jpeg_info info;
    info.width = static_cast<int>(ci_.image_width);
    info.height = static_cast<int>(ci_.image_height);
    info.components = ci_.num_components;
    info.mode = detail::jpeg_native_mode(ci_.num_components);
    info.progressive = ci_.progressive_mode != 0;
    return info;
  }

  // The clipped region and the job for it; false when nothing of the region
  // lies inside the image (the decoder is then idle again).
  bool prepare(detail::jpeg_decode_job& job, jpeg_rows_info& geo, const std::byte* data, std::size_t size,
               const jpeg_decode_options& opt, const limits& lim, const location& where, jpeg_region want) {
    rest_scanned_ = false;
    if (opt.scale_denom != 1 && opt.scale_denom != 2 && opt.scale_denom != 4 && opt.scale_denom != 8)
      throw decode_error(405, where, "JPEG scale_denom must be 1, 2, 4 or 8, not " + std::to_string(opt.scale_denom));
    if (opt.mode && !is_8bit_mode(*opt.mode))
      throw decode_error(405, where, std::string("JPEG decodes to 8-bit modes only, not ") + mode_name(*opt.mode));
    start(job, data, size, where);
    const jpeg_info info = info_from_header();
    try {
      check_image_pixels(std::uint64_t(info.width), std::uint64_t(info.height), lim, where);
    } catch (...) {
      jpeg_abort_decompress(&ci_);
      throw;
    }
    native_ = info.mode;
    geo.mode = opt.mode.value_or(native_);
    job.components = info.components;
    job.out_space = info.components == 1 ? JCS_GRAYSCALE : info.components == 3 ? JCS_RGB : JCS_CMYK;
    job.scale_denom = opt.scale_denom;
    if (!detail::jpeg_dimensions_step(ci_, err_, job)) fail(where, "header");
    const long long ow = ci_.output_width, oh = ci_.output_height;
    if (ow <= 0 || oh <= 0) {
      jpeg_abort_decompress(&ci_);
      throw decode_error(400, where, "JPEG image has zero width or height");
    }
    // Clip the wanted region to the image.
    const long long x0 = std::clamp<long long>(want.x, 0, ow), y0 = std::clamp<long long>(want.y, 0, oh);
    const long long x1 = std::clamp<long long>(static_cast<long long>(want.x) + std::max(want.width, 0), 0, ow);
    const long long y1 = std::clamp<long long>(static_cast<long long>(want.y) + std::max(want.height, 0), 0, oh);
    geo.x = static_cast<int>(x0);
    geo.y = static_cast<int>(y0);
    if (x1 <= x0 || y1 <= y0) {
      jpeg_abort_decompress(&ci_);
      return false;
    }
    geo.width = static_cast<int>(x1 - x0);
    geo.height = static_cast<int>(y1 - y0);
    job.check_rest = opt.check_rest;
    job.rest_scan = !opt.strict && !full_rest_check_;
    job.avoid_nt_rows = job.out_space == JCS_RGB && ci_.jpeg_color_space == JCS_YCbCr;
    job.rx = JDIMENSION(x0);
    job.ry = JDIMENSION(y0);
    job.rw = JDIMENSION(geo.width);
    job.rh = JDIMENSION(geo.height);
    try {
      job.scratch_stride = (std::size_t(ow + 64) * std::size_t(info.components) + 15) / 16 * 16;
      scratch_.resize(4 * job.scratch_stride + 16);
    } catch (...) {
      jpeg_abort_decompress(&ci_);
      throw;
    }
    const auto base = reinterpret_cast<std::uintptr_t>(scratch_.data());
    job.scratch = scratch_.data() + ((8 - (base & 15u)) & 15u);  // 8 mod 16: see jpeg_nt_row
    return true;
  }

  jpeg_region_image run(const std::byte* data, std::size_t size, const jpeg_decode_options& opt,
                        const limits& lim, const location& where, const jpeg_region* region,
                        jpeg_region want) {
    detail::jpeg_decode_job job{};
    jpeg_rows_info geo;
    const bool any = prepare(job, geo, data, size, opt, lim, where, want);
    jpeg_region_image result;
    result.x = geo.x;
    result.y = geo.y;
    if (!any) {
      result.pixels = image<std::uint8_t>(0, 0, channels_of(geo.mode));
      result.pixels.set_mode(geo.mode);
      return result;
    }
    image<std::uint8_t> px;
    try {
      px = image<std::uint8_t>(geo.width, geo.height, job.components);
    } catch (...) {
      jpeg_abort_decompress(&ci_);
      throw;
    }
    px.set_mode(native_);
    job.out = px.data();
    err_.strict = opt.strict;
    const bool ok = region ? detail::jpeg_region_start_step(ci_, err_, job) &&
                                 detail::jpeg_region_rows_step(ci_, err_, job, job.rh, job.out) &&
                                 detail::jpeg_region_finish_step(ci_, err_, job)
                           : detail::jpeg_pixels_step(ci_, err_, job);
    err_.strict = false;
    rest_scanned_ = ok && job.rest_scanned;
    if (!ok) fail(where, "data");
    if (native_ == pixel_mode::cmyk) invert(px.data(), px.size());
    if (geo.mode != native_)
      result.pixels = convert(px.view(), native_, geo.mode);
    else
      result.pixels = std::move(px);
    return result;
  }

  // Pillow reads CMYK as Adobe-inverted ("CMYK;I").
  static void invert(std::uint8_t* p, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) p[i] = std::uint8_t(255 - p[i]);
  }

  friend struct detail::jpeg_decoder_testing;

  detail::jpeg_error_state err_{};
  jpeg_decompress_struct ci_{};
  std::vector<unsigned char> scratch_;
  bool used_ = false;
  bool full_rest_check_ = false;  // tests: check_rest always decodes the rest
  bool rest_scanned_ = false;     // the last decode ended with the EOI scan
  pixel_mode native_ = pixel_mode::l;  // the mode of the file being decoded
  std::vector<std::uint8_t> row_;      // decode_region_rows: one row after CMYK inversion
};

namespace detail {
// For tests only: force check_rest's full decode of the rest, so that the
// EOI scan (jpeg_rest_is_clean) can be compared with it.
struct jpeg_decoder_testing {
  static void force_full_rest_check(jpeg_decoder& d, bool on) noexcept { d.full_rest_check_ = on; }
  static bool rest_scanned(const jpeg_decoder& d) noexcept { return d.rest_scanned_; }
};
}  // namespace detail

namespace detail {

// Growable output buffer for the encoder, malloc-based so that growing it
// inside a libjpeg callback never throws.
struct jpeg_byte_sink {
  jpeg_destination_mgr mgr;  // first member
  unsigned char* buf;
  std::size_t cap;
  std::size_t len;           // bytes finished when the encoder ended
};

extern "C" {
inline void wds_jpeg_init_destination(j_compress_ptr ci) {
  auto* s = reinterpret_cast<jpeg_byte_sink*>(ci->dest);
  s->mgr.next_output_byte = s->buf;
  s->mgr.free_in_buffer = s->cap;
}
inline boolean wds_jpeg_empty_output_buffer(j_compress_ptr ci) {
  auto* s = reinterpret_cast<jpeg_byte_sink*>(ci->dest);
  const std::size_t used = s->cap;  // libjpeg calls this only when the buffer is full
  const std::size_t ncap = s->cap * 2;
  auto* nbuf = static_cast<unsigned char*>(std::realloc(s->buf, ncap));
  if (nbuf == nullptr) {
    auto* st = reinterpret_cast<jpeg_error_state*>(ci->err);
    std::strcpy(st->message, "out of memory for the encoded JPEG");
    st->kind = 0;
    std::longjmp(st->jump, 1);
  }
  s->buf = nbuf;
  s->cap = ncap;
  s->mgr.next_output_byte = s->buf + used;
  s->mgr.free_in_buffer = ncap - used;
  return TRUE;
}
inline void wds_jpeg_term_destination(j_compress_ptr ci) {
  auto* s = reinterpret_cast<jpeg_byte_sink*>(ci->dest);
  s->len = s->cap - s->mgr.free_in_buffer;
}
}

struct jpeg_encode_job {
  const std::uint8_t* origin;
  std::ptrdiff_t x_step, y_step;
  int width, height, channels;
  unsigned char* scratch;  // one packed row
  jpeg_options opt;
  // Gray input written as the RGB image (v, v, v) would be: libjpeg's colour
  // conversion gives Y = v and Cb = Cr = 128 exactly for such pixels, so the
  // planes go in as raw data (jpeg_write_raw_data): the same coefficients,
  // the same bytes, without converting and downsampling planes known ahead.
  bool gray_as_rgb = false;
  unsigned char* y_plane = nullptr;  // luma_rows rows of luma_width samples
  unsigned char* c_plane = nullptr;  // 8 rows of chroma_width samples, all 128
  int luma_rows = 0, luma_width = 0, chroma_width = 0;
};

// The luma sampling factors (h, v) of a 3-channel file; chroma is 1x1.
inline std::pair<int, int> jpeg_luma_sampling(jpeg_subsampling s) noexcept {
  return {s == jpeg_subsampling::s444 ? 1 : 2, s == jpeg_subsampling::s420 ? 2 : 1};
}

// Fills the luma rows of iMCU row `y0` as libjpeg pads: the last column
// repeated to the plane's width, the last row below the image.
inline void jpeg_fill_luma(const jpeg_encode_job& job, int y0) {
  for (int r = 0; r < job.luma_rows; ++r) {
    const int y = std::min(y0 + r, job.height - 1);
    const std::uint8_t* src = job.origin + y * job.y_step;
    unsigned char* d = job.y_plane + std::size_t(r) * std::size_t(job.luma_width);
    if (job.x_step == 1) {
      std::memcpy(d, src, std::size_t(job.width));
    } else {
      for (int x = 0; x < job.width; ++x, src += job.x_step) d[x] = *src;
    }
    std::memset(d + job.width, d[job.width - 1], std::size_t(job.luma_width - job.width));
  }
}

// Everything up to the first row: parameters, jpeg_start_compress, COM.
// Called inside a step's setjmp.
inline void jpeg_encode_begin(jpeg_compress_struct& ci, const jpeg_encode_job& job) {
  ci.image_width = JDIMENSION(job.width);
  ci.image_height = JDIMENSION(job.height);
  const int channels = job.gray_as_rgb ? 3 : job.channels;
  ci.input_components = channels;
  ci.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, job.opt.quality, TRUE);
  if (channels == 3) {
    const auto [h, v] = jpeg_luma_sampling(job.opt.subsampling);
    ci.comp_info[0].h_samp_factor = h;
    ci.comp_info[0].v_samp_factor = v;
    for (int c = 1; c < 3; ++c) ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
  }
  if (job.opt.progressive) jpeg_simple_progression(&ci);
  ci.optimize_coding = job.opt.optimize ? TRUE : FALSE;
  ci.raw_data_in = job.gray_as_rgb ? TRUE : FALSE;
  jpeg_start_compress(&ci, TRUE);
  if (!job.opt.comment.empty())
    jpeg_write_marker(&ci, JPEG_COM, reinterpret_cast<const JOCTET*>(job.opt.comment.data()),
                      static_cast<unsigned>(job.opt.comment.size()));
}

// Packed rows in the file's channel order (CMYK already inverted).
inline bool jpeg_encode_rows_step(jpeg_compress_struct& ci, jpeg_error_state& st, JSAMPROW* rows, JDIMENSION n) {
  if (setjmp(st.jump)) return false;
  jpeg_write_scanlines(&ci, rows, n);  // all n: the destination never suspends
  return true;
}

inline bool jpeg_encode_start_step(jpeg_compress_struct& ci, jpeg_error_state& st, const jpeg_encode_job& job) {
  if (setjmp(st.jump)) return false;
  jpeg_encode_begin(ci, job);
  return true;
}

inline bool jpeg_encode_finish_step(jpeg_compress_struct& ci, jpeg_error_state& st) {
  if (setjmp(st.jump)) return false;
  jpeg_finish_compress(&ci);
  return true;
}

inline bool jpeg_encode_step(jpeg_compress_struct& ci, jpeg_error_state& st, const jpeg_encode_job& job) {
  if (setjmp(st.jump)) return false;
  jpeg_encode_begin(ci, job);
  if (job.gray_as_rgb) {
    JSAMPROW yrows[16], crows[16];
    for (int r = 0; r < job.luma_rows; ++r) yrows[r] = job.y_plane + std::size_t(r) * std::size_t(job.luma_width);
    const int crow_count = ci.comp_info[1].v_samp_factor * DCTSIZE;
    for (int r = 0; r < crow_count; ++r) crows[r] = job.c_plane;  // every chroma row is the same
    JSAMPARRAY planes[3] = {yrows, crows, crows};
    for (int y0 = 0; y0 < job.height; y0 += job.luma_rows) {
      jpeg_fill_luma(job, y0);
      jpeg_write_raw_data(&ci, planes, JDIMENSION(job.luma_rows));
    }
    jpeg_finish_compress(&ci);
    return true;
  }
  const bool packed = job.x_step == job.channels && job.channels != 4;
  for (int y = 0; y < job.height; ++y) {
    const std::uint8_t* src = job.origin + y * job.y_step;
    JSAMPROW row;
    if (packed) {
      row = const_cast<JSAMPROW>(src);  // libjpeg only reads input rows
    } else {
      unsigned char* d = job.scratch;
      for (int x = 0; x < job.width; ++x, src += job.x_step)
        for (int c = 0; c < job.channels; ++c)
          *d++ = job.channels == 4 ? static_cast<unsigned char>(255 - src[c]) : src[c];
      row = job.scratch;
    }
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  return true;
}

}  // namespace detail

// Reusable JPEG encoder (keeps libjpeg state and the output buffer). A view
// with 1 channel is written as grayscale, 3 as RGB (YCbCr in the file), 4 as
// CMYK (Adobe-inverted, as Pillow writes CMYK). Not thread-safe.
class jpeg_encoder {
 public:
  jpeg_encoder() {
    detail::init_jpeg_errors(err_);
    sink_.mgr.init_destination = detail::wds_jpeg_init_destination;
    sink_.mgr.empty_output_buffer = detail::wds_jpeg_empty_output_buffer;
    sink_.mgr.term_destination = detail::wds_jpeg_term_destination;
    create();
  }
  ~jpeg_encoder() {
    jpeg_destroy_compress(&ci_);
    std::free(sink_.buf);
  }
  jpeg_encoder(const jpeg_encoder&) = delete;
  jpeg_encoder& operator=(const jpeg_encoder&) = delete;

  // Appends nothing: `out` is replaced by the encoded file.
  void encode(image_view<const std::uint8_t> src, const jpeg_options& opt, std::vector<std::byte>& out) {
    encode_as(src, opt, out, false);
  }

  std::vector<std::byte> encode(image_view<const std::uint8_t> src, const jpeg_options& opt = {}) {
    std::vector<std::byte> out;
    encode(src, opt, out);
    return out;
  }

  // The bytes encode() writes for the RGB image whose pixels are (v, v, v)
  // for each v of the 1-channel `gray`, without making that image: a gray
  // mask converted to RGB, as the reference pipeline's trimap is.
  void encode_gray_as_rgb(image_view<const std::uint8_t> gray, const jpeg_options& opt, std::vector<std::byte>& out) {
    if (gray.channels() != 1) throw decode_error(406, location{}, "encode_gray_as_rgb needs a 1-channel image");
    encode_as(gray, opt, out, true);
  }

  // Row-at-a-time encoding: the bytes encode() writes for the width x height
  // image with `channels` (1 L, 3 RGB, 4 CMYK) whose packed rows write_row()
  // gets top to bottom, without holding that image. finish_rows() replaces
  // `out` with the file once every row is in; begin_rows() or encode() before
  // that abandons the unfinished image.
  void begin_rows(int width, int height, int channels, const jpeg_options& opt = {}) {
    check_encodable(image_view<const std::uint8_t>(nullptr, width, height, channels), opt);
    detail::jpeg_encode_job job = prepare(width, height, channels, opt);
    if (!detail::jpeg_encode_start_step(ci_, err_, job)) failed();
    rows_active_ = true;
    rows_left_ = height;
    row_channels_ = channels;
    row_tables_dirty_ = opt.optimize || opt.progressive;
  }

  // One packed row of width * channels bytes (CMYK as Pillow holds it).
  void write_row(const std::uint8_t* row) {
    if (!rows_active_ || rows_left_ == 0)
      throw decode_error(406, location{}, rows_active_ ? "write_row: every row of the image is written already"
                                                       : "write_row without begin_rows");
    JSAMPROW r = const_cast<JSAMPROW>(row);  // libjpeg only reads input rows
    if (row_channels_ == 4) {
      for (std::size_t i = 0; i < scratch_.size(); ++i) scratch_[i] = static_cast<unsigned char>(255 - row[i]);
      r = scratch_.data();
    }
    if (!detail::jpeg_encode_rows_step(ci_, err_, &r, 1)) failed();
    --rows_left_;
  }

  void finish_rows(std::vector<std::byte>& out) {
    if (!rows_active_) throw decode_error(406, location{}, "finish_rows without begin_rows");
    if (rows_left_ != 0) {
      const int left = rows_left_;
      jpeg_abort_compress(&ci_);
      rows_active_ = false;
      throw decode_error(406, location{}, "finish_rows with " + std::to_string(left) + " rows not written");
    }
    if (!detail::jpeg_encode_finish_step(ci_, err_)) failed();
    rows_active_ = false;
    done(row_tables_dirty_, out);
  }

 private:
  static void check_encodable(image_view<const std::uint8_t> src, const jpeg_options& opt) {
    const int ch = src.channels();
    if (ch != 1 && ch != 3 && ch != 4)
      throw decode_error(406, location{}, "cannot write a " + std::to_string(ch) + "-channel image as JPEG (1 = L, 3 = RGB, 4 = CMYK)");
    // Like Pillow, refuse RGBA; a 4-channel view without a mode is taken as CMYK.
    if (ch == 4 && src.has_mode() && src.mode() != pixel_mode::cmyk)
      throw decode_error(406, location{}, std::string("cannot write mode ") + mode_name(src.mode()) + " as JPEG");
    if (src.width() <= 0 || src.height() <= 0)
      throw decode_error(406, location{}, "cannot write an empty image as JPEG");
    if (src.width() > 65500 || src.height() > 65500)
      throw decode_error(406, location{}, "JPEG images are at most 65500 pixels wide and high");
    if (opt.comment.size() > 65533)
      throw decode_error(406, location{}, "JPEG comment longer than 65533 bytes");
    if (opt.quality < 0 || opt.quality > 100)
      throw decode_error(406, location{}, "JPEG quality must be 0..100, not " + std::to_string(opt.quality));
  }

  void encode_as(image_view<const std::uint8_t> src, const jpeg_options& opt, std::vector<std::byte>& out, bool gray) {
    check_encodable(src, opt);
    detail::jpeg_encode_job job = prepare(src.width(), src.height(), src.channels(), opt);
    job.origin = src.origin();
    job.x_step = src.x_step();
    job.y_step = src.y_step();
    if (gray) {
      // The planes' widths as libjpeg computes them (width_in_blocks * 8),
      // luma rounded up to whole MCUs.
      const auto [h, v] = detail::jpeg_luma_sampling(opt.subsampling);
      const int w = src.width();
      job.gray_as_rgb = true;
      job.luma_rows = v * DCTSIZE;
      job.luma_width = (w + h * DCTSIZE - 1) / (h * DCTSIZE) * (h * DCTSIZE);
      job.chroma_width = ((w + h - 1) / h + DCTSIZE - 1) / DCTSIZE * DCTSIZE;
      planes_.assign(std::size_t(job.luma_rows) * std::size_t(job.luma_width), 0);
      chroma_.assign(std::size_t(job.chroma_width), 128);
      job.y_plane = planes_.data();
      job.c_plane = chroma_.data();
    }
    if (!detail::jpeg_encode_step(ci_, err_, job)) failed();
    done(opt.optimize || opt.progressive, out);
  }

  // The job for one image, with the output buffer and libjpeg's tables ready.
  detail::jpeg_encode_job prepare(int width, int height, int channels, const jpeg_options& opt) {
    if (rows_active_) {  // an unfinished begin_rows() image is abandoned
      jpeg_abort_compress(&ci_);
      rows_active_ = false;
    }
    scratch_.resize(std::size_t(width) * std::size_t(channels));
    const std::size_t want = std::max<std::size_t>(4096, std::size_t(width) * std::size_t(height) * std::size_t(channels) / 4);
    if (sink_.cap < want) {
      std::free(sink_.buf);
      sink_.buf = static_cast<unsigned char*>(std::malloc(want));
      sink_.cap = sink_.buf ? want : 0;
      if (!sink_.buf) throw std::bad_alloc();
    }
    detail::jpeg_encode_job job;
    job.width = width;
    job.height = height;
    job.channels = channels;
    job.scratch = scratch_.data();
    job.opt = opt;
    sink_.len = 0;
    // Optimized Huffman tables overwrite libjpeg-turbo's standard ones in
    // place and jpeg_set_defaults does not restore them: start afresh.
    if (tables_dirty_ && !opt.optimize && !opt.progressive) {
      jpeg_destroy_compress(&ci_);
      create();
    }
    tables_dirty_ = true;
    return job;
  }

  [[noreturn]] void failed() {
    jpeg_abort_compress(&ci_);
    rows_active_ = false;
    throw decode_error(407, location{}, std::string("JPEG encoding failed: ") + err_.message);
  }

  void done(bool tables_dirty, std::vector<std::byte>& out) {
    tables_dirty_ = tables_dirty;
    const auto* b = reinterpret_cast<const std::byte*>(sink_.buf);
    out.assign(b, b + sink_.len);
  }

  void create() {
    ci_ = jpeg_compress_struct{};
    ci_.err = &err_.mgr;
    jpeg_create_compress(&ci_);
    ci_.dest = &sink_.mgr;
  }

  detail::jpeg_error_state err_{};
  jpeg_compress_struct ci_{};
  detail::jpeg_byte_sink sink_{};
  std::vector<unsigned char> scratch_;
  std::vector<unsigned char> planes_, chroma_;  // encode_gray_as_rgb's luma rows and chroma row
  bool tables_dirty_ = false;
  bool rows_active_ = false;  // between begin_rows() and finish_rows()
  int rows_left_ = 0, row_channels_ = 0;
  bool row_tables_dirty_ = false;
};

// info["comment"] as Pillow 9.4's JpegImageFile reads it: the payload of the
// last COM marker before the first SOS (bytes as they are; empty = none,
// which is also what Pillow's save then writes). Walks the markers as
// Pillow's _open does (fill bytes, junk between segments, RSTn/JPGn without
// a length); stops at SOS, the end of the data or an unknown marker.
inline std::optional<std::string> jpeg_comment(const std::byte* data, std::size_t size) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  if (p == nullptr || size < 3 || p[0] != 0xFF || p[1] != 0xD8) return std::nullopt;
  std::string comment;  // (not optional<string> inside the loop: g++ 12 warns falsely)
  std::size_t i = 2;
  while (i < size) {
    if (p[i] != 0xFF) { ++i; continue; }  // junk
    if (i + 1 >= size) break;
    const unsigned m = p[i + 1];
    if (m == 0xFF) { ++i; continue; }    // fill byte: FF FF -> look at the second FF
    if (m == 0x00) { i += 2; continue; }  // escaped FF
    if (m == 0xDA) break;                 // start of scan
    if (m == 0xC8 || (m >= 0xD0 && m <= 0xD9) || (m >= 0xF0 && m <= 0xFD)) { i += 2; continue; }
    if (m < 0xC0) break;  // Pillow: "no marker found"
    if (i + 4 > size) break;
    const std::size_t len = (std::size_t(p[i + 2]) << 8) | p[i + 3];
    // Pillow reads nothing for a length below 2 and goes on after the length.
    const std::size_t body = len < 2 ? 0 : len - 2;
    if (i + 4 + body > size) break;
    if (m == 0xFE) comment.assign(reinterpret_cast<const char*>(p + i + 4), body);
    i += 4 + body;
  }
  if (comment.empty()) return std::nullopt;
  return comment;
}

// One-shot helpers (construct a decoder/encoder per call; reuse the objects
// above in loops).
inline image<std::uint8_t> decode_jpeg(const std::byte* data, std::size_t size,
                                       std::optional<pixel_mode> mode = std::nullopt,
                                       const limits& lim = {}, const location& where = {}) {
  jpeg_decoder d;
  jpeg_decode_options opt;
  opt.mode = mode;
  return d.decode(data, size, opt, lim, where);
}

inline jpeg_info read_jpeg_info(const std::byte* data, std::size_t size, const location& where = {}) {
  jpeg_decoder d;
  return d.read_info(data, size, where);
}

inline std::vector<std::byte> encode_jpeg(image_view<const std::uint8_t> src, const jpeg_options& opt = {}) {
  jpeg_encoder e;
  return e.encode(src, opt);
}

WDS_NAMESPACE_END
