// SPDX-License-Identifier: MIT
#pragma once

#include <wds/error.hpp>

#include <atomic>
#include <cstdint>
#include <string>

namespace wds {

// Bounds on everything whose size comes from untrusted input. Every allocation
// sized from a header is checked against one of these first.
struct limits {
  // Largest member payload read into memory (larger ones must be streamed).
  std::uint64_t max_member_size = std::uint64_t{1} << 32;  // 4 GiB
  // Largest pax extended header or GNU long name/link record.
  std::uint64_t max_pax_size = std::uint64_t{1} << 20;  // 1 MiB
  // Most fields in one sample.
  std::uint32_t max_sample_fields = 4096;
  // Pillow's DecompressionBomb thresholds: warn above, error above twice that.
  std::uint64_t warn_image_pixels = 89'478'485;
  std::uint64_t max_image_pixels = 2 * 89'478'485ull;
  // Largest PNG chunk (spng chunk limits).
  std::uint64_t max_png_chunk_size = std::uint64_t{64} << 20;
  // PNG: also apply libspng's checks that Pillow 9.4 does not make (CRCs of
  // every chunk, IDAT/IEND included, Adler-32 always, chunk order and
  // contents). Off: accept and refuse exactly what Pillow does.
  bool png_strict = false;
  // Total bytes a compressed stream (gzip, bzip2, xz, zstd) may inflate to; 0 = unlimited. Memory stays bounded
  // either way (streaming), and member/pax limits still apply inside the tar.
  std::uint64_t max_decompressed_size = 0;
  // Memory an xz or zstd decoder may take for its dictionary/window (xz
  // memlimit, zstd windowLogMax): limit.505 above it.
  std::uint64_t max_decoder_memory = std::uint64_t{256} << 20;
};

namespace detail {
inline std::atomic<std::uint64_t>& decompression_bomb_counter() noexcept {
  static std::atomic<std::uint64_t> count{0};
  return count;
}
inline std::atomic<std::uint64_t>& trailing_garbage_counter() noexcept {
  static std::atomic<std::uint64_t> count{0};
  return count;
}
}  // namespace detail

// How many compressed shards ended in bytes that start no stream, after their
// tar end marker (ignored with a warning, as bzip2 -d and gzip -d do), process-wide.
inline std::uint64_t trailing_garbage_warnings() noexcept {
  return detail::trailing_garbage_counter().load(std::memory_order_relaxed);
}

// How many images were decoded whose pixel count exceeded
// limits::warn_image_pixels (Pillow's DecompressionBombWarning), process-wide.
inline std::uint64_t decompression_bomb_warnings() noexcept {
  return detail::decompression_bomb_counter().load(std::memory_order_relaxed);
}

// Pillow's _decompression_bomb_check, run by every decoder on the header size
// before any pixel buffer exists: limit_error 500 above max_image_pixels, a
// counted warning above warn_image_pixels.
inline void check_image_pixels(std::uint64_t width, std::uint64_t height, const limits& lim,
                               const location& where) {
  const bool overflow = height != 0 && width > UINT64_MAX / height;
  const std::uint64_t pixels = overflow ? UINT64_MAX : width * height;
  if (pixels > lim.max_image_pixels)
    throw limit_error(500, where,
                      "image of " + std::to_string(width) + "x" + std::to_string(height) + " = " +
                          (overflow ? std::string("too many") : std::to_string(pixels)) +
                          " pixels exceeds limits::max_image_pixels (" + std::to_string(lim.max_image_pixels) +
                          ")");
  if (pixels > lim.warn_image_pixels) detail::decompression_bomb_counter().fetch_add(1, std::memory_order_relaxed);
}

}  // namespace wds
