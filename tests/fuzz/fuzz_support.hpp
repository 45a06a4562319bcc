// SPDX-License-Identifier: MIT
#pragma once

// Shared by the libFuzzer targets: the contract under test is that bad input
// ends in a wds::error (any other exception, a crash, a leak or a hang is a
// bug), and that memory stays bounded under deliberately small limits.

#include <wds/error.hpp>
#include <wds/limits.hpp>

#include <cstddef>
#include <cstdint>

namespace wds_fuzz {

// Small enough that one input cannot exhaust -rss_limit_mb=2048 or time out,
// large enough that real seeds still decode.
inline wds::limits fuzz_limits() {
  wds::limits lim;
  lim.max_member_size = std::uint64_t{16} << 20;
  lim.max_pax_size = std::uint64_t{64} << 10;
  lim.max_sample_fields = 256;
  lim.warn_image_pixels = 1u << 20;
  lim.max_image_pixels = 4u << 20;
  lim.max_png_chunk_size = std::uint64_t{4} << 20;
  lim.max_decompressed_size = std::uint64_t{64} << 20;
  return lim;
}

// Runs `f`, treating wds::error as the expected outcome for bad input.
template <class F>
int run_one(F&& f) {
  try {
    f();
  } catch (const wds::error&) {
  }
  return 0;
}

}  // namespace wds_fuzz
