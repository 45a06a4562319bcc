// SPDX-License-Identifier: MIT
// gzip_source (concatenated members, CRC/length trailers, trailing zero
// padding) alone, and as the source of a tar reader the way open_input uses it.
#include "fuzz_support.hpp"

#include <wds/codec/gzip.hpp>
#include <wds/io.hpp>
#include <wds/tar.hpp>

#include <utility>
#include <vector>

namespace {
// memory_source without read_view: the decompressor copies into its own buffer,
// as it does for file and pipe sources.
struct copied_source {
  wds::memory_source in;
  std::size_t read(std::byte* dst, std::size_t n) { return in.read(dst, n); }
};

template <class Source>
void drain(Source src, const wds::limits& lim) {
  wds::gzip_source<Source> gz(std::move(src), "fuzz.gz", lim);
  std::vector<std::byte> buf(64 << 10);
  while (gz.read(buf.data(), buf.size()) > 0) {
  }
  wds::verify_end(gz);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wds::limits lim = wds_fuzz::fuzz_limits();
  wds_fuzz::run_one([&] { drain(wds::memory_source(data, size), lim); });  // input read in place
  wds_fuzz::run_one([&] { drain(copied_source{wds::memory_source(data, size)}, lim); });
  wds_fuzz::run_one([&] {
    wds::tar_reader reader(wds::gzip_source<wds::memory_source>(wds::memory_source(data, size), "fuzz.tar.gz", lim),
                           "fuzz.tar.gz", lim);
    std::vector<std::byte> buf;
    while (reader.next()) reader.read_payload(buf);
  });
  return 0;
}
