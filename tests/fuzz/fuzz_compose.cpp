// SPDX-License-Identifier: MIT
// The run-time transform spec parser (wds::compose), for both pipeline inputs;
// a spec that compiles is also run on a tiny image so argument checks that
// only happen at run time are reached.
#include "fuzz_support.hpp"

#include <wds/compose.hpp>

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wds::limits lim = wds_fuzz::fuzz_limits();
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  wds_fuzz::run_one([&] { (void)wds::compose(spec, wds::pipeline_input::bytes, lim); });
  wds_fuzz::run_one([&] {
    auto p = wds::compose(spec, wds::pipeline_input::image, lim);
    wds::image<std::uint8_t> img(9, 7, 3);
    (void)p.apply_image(wds::any_image(std::move(img)));
  });
  return 0;
}
