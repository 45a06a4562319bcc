// SPDX-License-Identifier: MIT
// The ETL on a whole shard: read, group, transform (the reference pipeline, or
// a decode/resize/encode map), write. The first byte picks the options.
#include "fuzz_support.hpp"

#include <wds/etl.hpp>
#include <wds/io.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  wds::etl::options opt;
  opt.limits = wds_fuzz::fuzz_limits();
  opt.on_error = (data[0] & 1) ? wds::etl::error_policy::skip : wds::etl::error_policy::fail;
  if (data[0] & 2) {
    opt.maps.push_back({"jpg", "decode|resize(16)|png"});
    opt.maps.push_back({"png", "decode(L)|center_crop(8)|jpeg(75)"});
    opt.renames.push_back({"cls", "label"});
  }
  wds_fuzz::run_one([&] {
    wds::memory_source in(data + 1, size - 1, "fuzz.tar");
    wds::memory_sink out;
    (void)wds::etl::transform_shard(in, out, opt);
  });
  return 0;
}
