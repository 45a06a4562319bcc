// SPDX-License-Identifier: MIT
// parallel_gzip_source against zlib's inflate (zlib_gzip_source): with chunks
// of a few hundred bytes, every input must be accepted with the same bytes or
// refused with the same error id. The input is read as a gzip file, and as a
// deflate body behind a fixed gzip header (most mutations then reach the
// block finder and the chunk chain rather than the header parser).
#include "fuzz_support.hpp"

#include <wds/codec/gzip.hpp>
#include <wds/codec/gzip_parallel.hpp>
#include <wds/io.hpp>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace {
std::uint64_t fnv1a64(const std::vector<std::byte>& v) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::byte b : v) h = (h ^ static_cast<std::uint8_t>(b)) * 1099511628211ull;
  return h;
}

template <class Source, class... Args>
std::string outcome(const std::vector<std::byte>& in, const wds::limits& lim, Args&&... args) {
  try {
    Source src(wds::memory_source(in.data(), in.size()), "fuzz.gz", lim, std::forward<Args>(args)...);
    std::vector<std::byte> out, buf(4093);
    while (std::size_t k = src.read(buf.data(), buf.size())) out.insert(out.end(), buf.begin(), buf.begin() + k);
    src.verify_end();
    return "ok " + std::to_string(out.size()) + " " + std::to_string(fnv1a64(out));
  } catch (const wds::error& e) {
    return "error " + std::to_string(e.id());
  }
}

// Accepted inputs: zlib's bytes. Refused ones: zlib's error id, or gzip_source's
// (with ISA-L a stream cut inside a block can be io.111 where zlib, which checks
// a partial block header early, says io.112: parallel_gzip_source decodes with
// igzip too and may take either).
void compare(const std::vector<std::byte>& in, const wds::limits& lim) {
  const std::string want = outcome<wds::zlib_gzip_source<wds::memory_source>>(in, lim);
  const std::string also = outcome<wds::gzip_source<wds::memory_source>>(in, lim);
  for (auto [threads, chunk] : {std::pair<unsigned, std::size_t>{2, 256}, {3, 1000}}) {
    wds::parallel_gzip_options opt;
    opt.threads = threads;
    opt.chunk_size = chunk;
    const std::string got = outcome<wds::parallel_gzip_source<wds::memory_source>>(in, lim, opt);
    if (got != want && (want.rfind("ok", 0) == 0 || got != also)) std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wds::limits lim = wds_fuzz::fuzz_limits();
  std::vector<std::byte> in(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  compare(in, lim);
  if (size > 10) {  // the same bytes after a fixed header: a deflate body and (maybe) a trailer
    std::vector<std::byte> body = {std::byte{0x1f}, std::byte{0x8b}, std::byte{8}, std::byte{0}, std::byte{0},
                                   std::byte{0},    std::byte{0},    std::byte{0}, std::byte{0}, std::byte{3}};
    body.insert(body.end(), in.begin() + 10, in.end());
    compare(body, lim);
  }
  return 0;
}
