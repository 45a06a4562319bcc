// SPDX-License-Identifier: MIT
// PNG decoding (spng behind wds::png_decoder): info, native mode, and RGB.
#include "fuzz_support.hpp"

#include <wds/codec/png.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wds::limits lim = wds_fuzz::fuzz_limits();
  const auto* p = reinterpret_cast<const std::byte*>(data);
  wds_fuzz::run_one([&] { (void)wds::read_png_info(p, size, lim); });
  wds_fuzz::run_one([&] { (void)wds::decode_png(p, size, std::nullopt, lim); });
  wds_fuzz::run_one([&] { (void)wds::decode_png(p, size, wds::pixel_mode::rgb, lim); });
  return 0;
}
