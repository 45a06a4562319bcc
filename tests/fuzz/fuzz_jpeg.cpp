// SPDX-License-Identifier: MIT
// JPEG header and pixel decoding (libjpeg-turbo behind wds::jpeg_decoder), in
// the file's own mode and converted, with a small pixel limit.
#include "fuzz_support.hpp"

#include <wds/codec/jpeg.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wds::limits lim = wds_fuzz::fuzz_limits();
  const auto* p = reinterpret_cast<const std::byte*>(data);
  wds_fuzz::run_one([&] { (void)wds::read_jpeg_info(p, size); });
  wds_fuzz::run_one([&] {
    auto img = wds::decode_jpeg(p, size, std::nullopt, lim);
    (void)img.width();
  });
  wds_fuzz::run_one([&] {
    auto img = wds::decode_jpeg(p, size, wds::pixel_mode::rgb, lim);
    (void)img.width();
  });
  return 0;
}
