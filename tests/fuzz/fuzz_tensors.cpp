// SPDX-License-Identifier: MIT
// The field decoders: .npy, tenbin, json, cls and txt. The first byte picks
// the decoder so one corpus covers them all.
#include "fuzz_support.hpp"

#include <wds/fields.hpp>
#include <wds/json.hpp>
#include <wds/npy.hpp>
#include <wds/tenbin.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const wds::limits lim = wds_fuzz::fuzz_limits();
  const unsigned pick = data[0] % 5;
  const auto* p = reinterpret_cast<const std::byte*>(data + 1);
  const std::size_t n = size - 1;
  wds_fuzz::run_one([&] {
    switch (pick) {
      case 0: (void)wds::npy_decode(p, n, lim); break;
      case 1: (void)wds::tenbin_decode(p, n, lim); break;
      case 2: (void)wds::json::parse(p, n); break;
      case 3: (void)wds::decode_cls(p, n); break;
      default: (void)wds::decode_text(p, n); break;
    }
  });
  return 0;
}
