// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>

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
  // Total bytes a gzip stream may inflate to; 0 = unlimited. Memory stays bounded
  // either way (streaming), and member/pax limits still apply inside the tar.
  std::uint64_t max_decompressed_size = 0;
};

}  // namespace wds
