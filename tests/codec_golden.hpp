// Helpers for the codec and mode-conversion parity tests (test_jpeg.cpp,
// test_png.cpp, test_convert.cpp) that read tests/data/codecs (written by
// tests/golden/gen_codecs.py).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "catch.hpp"
#include "support.hpp"
#include "wds/image.hpp"

namespace wds_test {

// numpy's descr for the sample type of `im`.
inline const char* dtype_of(const wds::any_image& im) {
  switch (im.index()) {
    case 0: return "|u1";
    case 1: return "<u2";
    case 2: return "<i4";
    default: return "<f4";
  }
}

// Checks `got` against "x.npy" or "fnv:<hex>:<HxWxC>:<dtype>".
inline bool matches(const wds::any_image& got, const std::string& expected, std::string& why) {
  return std::visit(
      [&](const auto& im) {
        std::string shape = std::to_string(im.height()) + "x" + std::to_string(im.width());
        if (im.channels() > 1) shape += "x" + std::to_string(im.channels());
        if (expected.rfind("fnv:", 0) == 0) {
          std::stringstream ss(expected.substr(4));
          std::string hex, shp, dt;
          std::getline(ss, hex, ':');
          std::getline(ss, shp, ':');
          std::getline(ss, dt, ':');
          if (shp != shape || dt != dtype_of(got)) { why = "shape/dtype " + shape; return false; }
          const auto h = fnv1a64(im.data(), im.size_bytes());
          if (h != std::stoull(hex, nullptr, 16)) { why = "hash differs"; return false; }
          return true;
        }
        const auto want = read_npy(data_path("codecs/" + expected));
        std::string wshape;
        for (std::size_t i = 0; i < want.shape.size(); ++i) wshape += (i ? "x" : "") + std::to_string(want.shape[i]);
        if (wshape != shape || want.descr != dtype_of(got)) { why = "shape/dtype " + shape + " vs " + wshape; return false; }
        if (std::memcmp(im.data(), want.bytes.data(), want.bytes.size()) != 0) {
          std::size_t i = 0;
          const auto* a = reinterpret_cast<const unsigned char*>(im.data());
          const auto* b = reinterpret_cast<const unsigned char*>(want.bytes.data());
          while (a[i] == b[i]) ++i;
          why = "pixels differ from byte " + std::to_string(i);
          return false;
        }
        return true;
      },
      got);
}

// One line of tests/data/codecs/manifest.txt: its kind, its arguments and the
// whole line (for INFO).
struct manifest_line {
  std::string kind;
  std::vector<std::string> args;
  std::string text;
};

// The manifest lines of `kind` whose first argument ends in `ext` (any if empty).
inline std::vector<manifest_line> manifest(const std::string& kind, const std::string& ext) {
  std::ifstream mf(data_path("codecs/manifest.txt"));
  if (!mf) throw std::runtime_error("no manifest");
  std::vector<manifest_line> out;
  std::string line;
  while (std::getline(mf, line)) {
    std::istringstream ls(line.substr(0, line.find('#')));
    manifest_line m;
    m.text = line;
    ls >> m.kind;
    if (m.kind != kind) continue;
    std::string a;
    while (ls >> a) m.args.push_back(a);
    if (!ext.empty() && m.args.at(0).size() >= ext.size() &&
        m.args[0].compare(m.args[0].size() - ext.size(), ext.size(), ext) != 0)
      continue;
    out.push_back(m);
  }
  return out;
}

inline std::vector<std::byte> data_file(const std::string& name) { return read_file(data_path("codecs/" + name)); }

inline wds::image<std::uint8_t> crop(const wds::image<std::uint8_t>& im, int x, int y, int w, int h) {
  return wds::materialize(im.view().subview(x, y, w, h));
}

// An HxW[xC] array as an image of sample type T in mode `m`.
template <class T>
wds::image<T> image_from(const npy_array& a, wds::pixel_mode m) {
  const int h = int(a.shape.at(0)), w = int(a.shape.at(1)), c = a.shape.size() > 2 ? int(a.shape[2]) : 1;
  wds::image<T> im(w, h, c);
  REQUIRE(a.bytes.size() == im.size_bytes());
  std::memcpy(im.data(), a.bytes.data(), im.size_bytes());
  im.set_mode(m);
  return im;
}

// An array as the any_image alternative its descr names.
inline wds::any_image any_from(const npy_array& a, wds::pixel_mode m) {
  if (a.descr == "|u1") return image_from<std::uint8_t>(a, m);
  if (a.descr == "<u2") return image_from<std::uint16_t>(a, m);
  if (a.descr == "<i4") return image_from<std::int32_t>(a, m);
  if (a.descr == "<f4") return image_from<float>(a, m);
  throw std::runtime_error("dtype " + a.descr);
}

}  // namespace wds_test
