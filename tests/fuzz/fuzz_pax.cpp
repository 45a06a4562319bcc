// SPDX-License-Identifier: MIT
// The pax extended-header parser: the input is the body of a pax 'x' (or, when
// the first byte is odd, a global 'g') record placed before a small regular
// member, so records like size/path/mtime reach the member fields.
#include "fuzz_support.hpp"

#include <wds/io.hpp>
#include <wds/tar.hpp>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace {

void put_header(std::vector<std::byte>& out, const char* name, std::size_t size, char type) {
  std::array<std::byte, 512> h{};
  std::memcpy(h.data(), name, std::strlen(name));
  auto octal = [&](std::size_t off, std::size_t len, std::uint64_t v) {
    std::string s(len - 1, '0');
    for (std::size_t i = len - 1; i-- > 0; v >>= 3) s[i] = static_cast<char>('0' + (v & 7));
    std::memcpy(h.data() + off, s.data(), s.size());
  };
  octal(100, 8, 0644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  std::memset(h.data() + 148, ' ', 8);
  h[156] = static_cast<std::byte>(type);
  std::memcpy(h.data() + 257, "ustar\0" "00", 8);
  unsigned sum = 0;
  for (std::byte b : h) sum += static_cast<unsigned char>(b);
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  std::memcpy(h.data() + 148, chk, 7);
  out.insert(out.end(), h.begin(), h.end());
}

void put_payload(std::vector<std::byte>& out, const std::uint8_t* p, std::size_t n) {
  out.insert(out.end(), reinterpret_cast<const std::byte*>(p), reinterpret_cast<const std::byte*>(p) + n);
  out.resize(out.size() + (512 - n % 512) % 512);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const char type = (data[0] & 1) ? 'g' : 'x';
  ++data;
  --size;
  std::vector<std::byte> tar;
  put_header(tar, "././@PaxHeader", size, type);
  put_payload(tar, data, size);
  static const std::uint8_t body[] = "hello";
  put_header(tar, "k.txt", 5, '0');
  put_payload(tar, body, 5);
  tar.resize(tar.size() + 1024);
  wds_fuzz::run_one([&] {
    wds::tar_reader reader(wds::memory_source(tar, "fuzz-pax.tar"), "fuzz-pax.tar", wds_fuzz::fuzz_limits());
    std::vector<std::byte> buf;
    while (const wds::tar_member* m = reader.next()) {
      (void)m->pax.size();
      reader.read_payload(buf);
    }
  });
  return 0;
}
