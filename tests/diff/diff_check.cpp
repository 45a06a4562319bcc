// SPDX-License-Identifier: MIT
// wds_diff_check: compares wds with the oracle's recorded results for a
// corpus written by tests/diff/images/gen.py (see tests/diff/README.md).
//
//   wds_diff_check DIR            every case of DIR/cases.txt
//   wds_diff_check --one FILE SPEC EXPECTED
//
// Prints each mismatch as one reproducer line, then "diff: K/N identical".
// Exit status 0 when all compared cases are identical, 1 otherwise.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "wds/compose.hpp"
#include "wds/error.hpp"

namespace {

std::uint64_t fnv1a64(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = std::byte(static_cast<unsigned char>(c[i]));
  return out;
}

// What wds gives for `spec` on `data`, in the oracle's notation.
std::string ours(const std::vector<std::byte>& data, const std::string& spec, std::string& why) {
  try {
    const auto p = wds::compose(spec);
    const auto out = p.apply(data.data(), data.size());
    if (spec.size() >= 4 && spec.compare(spec.size() - 4, 4, "|png") == 0) {
      const wds::any_image im = wds::decode_image(out.data(), out.size(), std::nullopt);
      const auto* u8 = std::get_if<wds::image<std::uint8_t>>(&im);
      if (!u8) return "skip";
      return "png:" + hex64(fnv1a64(u8->data(), u8->size_bytes())) + ":" + std::to_string(u8->height()) + "x" +
             std::to_string(u8->width()) + "x" + std::to_string(u8->channels());
    }
    return "jpeg:" + hex64(fnv1a64(out.data(), out.size()));
  } catch (const wds::error& e) {
    why = e.what();
    return "refuse";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--one") {
    std::string why;
    const std::string got = ours(read_all(argv[2]), argv[3], why);
    std::cout << "want " << argv[4] << "\ngot  " << got << (why.empty() ? "" : " (" + why + ")") << "\n";
    return got == argv[4] ? 0 : 1;
  }
  if (argc != 2) {
    std::cerr << "usage: wds_diff_check DIR | --one FILE SPEC EXPECTED\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream cases(dir + "/cases.txt");
  if (!cases) {
    std::cerr << "wds_diff_check: cannot read " << dir << "/cases.txt\n";
    return 2;
  }
  std::string line;
  long n = 0, same = 0;
  while (std::getline(cases, line)) {
    std::istringstream ss(line);
    std::string id, file, spec, want;
    if (!std::getline(ss, id, '\t') || !std::getline(ss, file, '\t') || !std::getline(ss, spec, '\t') ||
        !std::getline(ss, want, '\t'))
      continue;
    if (want == "skip") continue;
    std::string why;
    const std::string got = ours(read_all(dir + "/" + file), spec, why);
    if (got == "skip") continue;
    ++n;
    if (got == want) {
      ++same;
      continue;
    }
    std::cout << "MISMATCH " << id << ": wds_diff_check --one " << dir << "/" << file << " '" << spec << "' " << want
              << "  # got " << got << (why.empty() ? "" : " (" + why + ")") << "\n";
  }
  std::cout << "diff: " << same << "/" << n << " identical\n";
  return same == n ? 0 : 1;
}
