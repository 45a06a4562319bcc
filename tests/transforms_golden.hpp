// Helpers for the Pillow / torchvision parity tests of resize and transforms
// (test_resize.cpp, test_transforms.cpp) that read tests/data/transforms
// (written by tests/golden/gen_transforms.py).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"
#include "wds/image.hpp"

namespace wds_test {

inline std::string transforms_path(const std::string& name) { return data_path("transforms/" + name); }

// A golden array from tests/data/transforms, one assertion per check: the file
// reads, has the npy magic, and parses (version 1/2, C order, sizes agree).
inline npy_array read_transforms_npy(const std::string& name) {
  const std::string path = transforms_path(name);
  std::vector<std::byte> raw;
  REQUIRE_NOTHROW(raw = read_file(path));
  REQUIRE(raw.size() > 10);
  REQUIRE(std::memcmp(raw.data(), "\x93NUMPY", 6) == 0);
  npy_array a;
  REQUIRE_NOTHROW(a = parse_npy(raw, path));
  return a;
}

// An HxWxC golden array of numpy type `descr` as an image of T.
template <class T>
wds::image<T> read_typed(const std::string& name, const char* descr) {
  const npy_array a = read_transforms_npy(name);
  REQUIRE(a.descr == descr);
  REQUIRE(a.shape.size() == 3);
  wds::image<T> img(int(a.shape[1]), int(a.shape[0]), int(a.shape[2]));
  REQUIRE(a.bytes.size() == img.size_bytes());
  std::memcpy(img.data(), a.bytes.data(), a.bytes.size());
  return img;
}

inline wds::image<std::uint8_t> read_image(const std::string& name) { return read_typed<std::uint8_t>(name, "|u1"); }

// One line of cases.txt: "<op> <input> <output> key=value...".
struct golden_case {
  std::string op, input, output;
  std::map<std::string, std::string> args;
};

inline std::vector<golden_case> read_cases(const std::string& op) {
  std::ifstream f(transforms_path("cases.txt"));
  REQUIRE(f.good());
  std::vector<golden_case> out;
  std::string line;
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    golden_case c;
    ss >> c.op >> c.input >> c.output;
    if (c.op != op) continue;
    std::string kv;
    while (ss >> kv) c.args[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
    out.push_back(c);
  }
  return out;
}

// Same size and samples; the largest sample difference goes to `max_diff`.
inline bool same_pixels(wds::image_view<const std::uint8_t> a, wds::image_view<const std::uint8_t> b,
                        int* max_diff = nullptr) {
  if (a.width() != b.width() || a.height() != b.height() || a.channels() != b.channels()) return false;
  int worst = 0;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < a.width(); ++x)
      for (int c = 0; c < a.channels(); ++c) worst = std::max(worst, std::abs(int(a(x, y, c)) - int(b(x, y, c))));
  if (max_diff) *max_diff = worst;
  return worst == 0;
}

// Internal linkage: each test file that includes this caches the input modes
// itself, so each one checks cases.txt once, as before these were shared.
namespace {

// Input images carry their Pillow mode (cases "input ... mode=RGBA").
inline wds::pixel_mode input_mode(const std::string& input) {
  static const std::map<std::string, wds::pixel_mode> modes = [] {
    std::map<std::string, wds::pixel_mode> m;
    for (const auto& c : read_cases("input")) m[c.input] = parse_pillow_mode(c.args.at("mode")).value();
    return m;
  }();
  return modes.at(input);
}

inline wds::image<std::uint8_t> read_input(const std::string& name) {
  auto img = read_image(name);
  img.set_mode(input_mode(name));
  return img;
}

}  // namespace

}  // namespace wds_test
