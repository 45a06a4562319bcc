// SPDX-License-Identifier: MIT
// tar_reader + webdataset grouping over arbitrary bytes, reading payloads in the
// three ways the API offers (payload(), read_payload(), streaming read()).
#include "fuzz_support.hpp"

#include <wds/io.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wds::limits lim = wds_fuzz::fuzz_limits();
  wds_fuzz::run_one([&] {
    wds::sample_reader samples(wds::memory_source(data, size, "fuzz.tar"), "fuzz.tar", lim);
    std::size_t total = 0;
    while (auto s = samples.next()) {
      for (const auto& f : s->fields()) total += f.data.size() + f.ext.size();
      samples.recycle(std::move(*s));
    }
    (void)total;
  });
  wds_fuzz::run_one([&] {
    wds::tar_reader reader(wds::memory_source(data, size, "fuzz.tar"), "fuzz.tar", lim);
    std::vector<std::byte> buf;
    std::byte chunk[700];
    unsigned i = 0;
    while (const wds::tar_member* m = reader.next()) {
      (void)m->name.size();
      switch (i++ % 3) {
        case 0: (void)reader.payload(); break;
        case 1: reader.read_payload(buf); break;
        default:
          while (reader.read(chunk, sizeof chunk) > 0) {
          }
      }
    }
  });
  return 0;
}
