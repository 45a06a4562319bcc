// SPDX-License-Identifier: MIT
// Pillow 9.4 / torchvision 0.14 parity of wds/resize.hpp (golden data from
// tests/golden/gen_transforms.py).
#include <cmath>
#include <cstring>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "wds/resize.hpp"
#include "wds/transforms.hpp"

namespace {

const std::string data_dir = std::string(WDS_TEST_DATA_DIR) + "/transforms/";

// Minimal .npy reader for the golden files (numpy-written, little endian).
struct npy_array {
  std::string descr;
  std::vector<std::size_t> shape;
  std::vector<char> bytes;
};

npy_array read_npy(const std::string& name) {
  std::ifstream f(data_dir + name, std::ios::binary);
  REQUIRE(f.good());
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE(all.size() > 10);
  REQUIRE(all.compare(0, 6, "\x93NUMPY") == 0);
  const int major = static_cast<unsigned char>(all[6]);
  std::size_t header_len, off;
  if (major == 1) {
    header_len = std::size_t(static_cast<unsigned char>(all[8])) |
                 std::size_t(static_cast<unsigned char>(all[9])) << 8;
    off = 10;
  } else {
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= std::size_t(static_cast<unsigned char>(all[8 + i])) << (8 * i);
    off = 12;
  }
  const std::string header = all.substr(off, header_len);
  npy_array a;
  const auto d = header.find("'descr': '");
  a.descr = header.substr(d + 10, header.find('\'', d + 10) - d - 10);
  REQUIRE(header.find("'fortran_order': False") != std::string::npos);
  const auto s = header.find("'shape': (");
  std::string dims = header.substr(s + 10, header.find(')', s) - s - 10);
  std::stringstream ss(dims);
  std::string tok;
  while (std::getline(ss, tok, ','))
    if (tok.find_first_not_of(' ') != std::string::npos) a.shape.push_back(std::stoul(tok));
  a.bytes.assign(all.begin() + long(off + header_len), all.end());
  return a;
}

wds::image<std::uint8_t> read_image(const std::string& name) {
  const npy_array a = read_npy(name);
  REQUIRE(a.descr == "|u1");
  REQUIRE(a.shape.size() == 3);
  wds::image<std::uint8_t> img(int(a.shape[1]), int(a.shape[0]), int(a.shape[2]));
  REQUIRE(a.bytes.size() == img.size());
  std::copy(a.bytes.begin(), a.bytes.end(), reinterpret_cast<char*>(img.data()));
  return img;
}

struct golden_case {
  std::string op, input, output;
  std::map<std::string, std::string> args;
};

std::vector<golden_case> read_cases(const std::string& op) {
  std::ifstream f(data_dir + "cases.txt");
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

// Input images carry their Pillow mode (cases "input ... mode=RGBA").
wds::pixel_mode input_mode(const std::string& input) {
  static std::map<std::string, wds::pixel_mode> modes = [] {
    std::map<std::string, wds::pixel_mode> m;
    for (const auto& c : read_cases("input")) {
      const std::string& s = c.args.at("mode");
      m[c.input] = s == "L" ? wds::pixel_mode::l : s == "LA" ? wds::pixel_mode::la
                 : s == "RGB" ? wds::pixel_mode::rgb : wds::pixel_mode::rgba;
    }
    return m;
  }();
  return modes.at(input);
}

wds::image<std::uint8_t> read_input(const std::string& name) {
  auto img = read_image(name);
  img.set_mode(input_mode(name));
  return img;
}

bool same_pixels(wds::image_view<const std::uint8_t> a, wds::image_view<const std::uint8_t> b,
                 int* max_diff = nullptr) {
  if (a.width() != b.width() || a.height() != b.height() || a.channels() != b.channels()) return false;
  int worst = 0;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < a.width(); ++x)
      for (int c = 0; c < a.channels(); ++c) worst = std::max(worst, std::abs(int(a(x, y, c)) - int(b(x, y, c))));
  if (max_diff) *max_diff = worst;
  return worst == 0;
}

}  // namespace

TEST_CASE("resize matches Pillow 9.4 Image.resize bit for bit", "[resize][golden]") {
  const auto cases = read_cases("resize");
  REQUIRE(cases.size() > 300);
  std::map<std::string, int> per_filter;
  for (const auto& c : cases) {
    INFO(c.input << " -> " << c.output << " " << c.args.at("filter") << " " << c.args.at("width") << "x"
                 << c.args.at("height"));
    const auto in = read_input(c.input);
    const auto expected = read_image(c.output);
    const auto f = wds::parse_filter(c.args.at("filter"));
    REQUIRE(f);
    const auto out = wds::resize(in.view(), std::stoi(c.args.at("width")), std::stoi(c.args.at("height")), *f);
    int diff = 0;
    CHECK(same_pixels(out.view(), expected.view(), &diff));
    CHECK(diff == 0);
    ++per_filter[c.args.at("filter")];
  }
  CHECK(per_filter.size() == 6);
}

template <class T>
wds::image<T> read_typed(const std::string& name, const char* descr) {
  const npy_array a = read_npy(name);
  REQUIRE(a.descr == descr);
  REQUIRE(a.shape.size() == 3);
  wds::image<T> img(int(a.shape[1]), int(a.shape[0]), int(a.shape[2]));
  REQUIRE(a.bytes.size() == img.size_bytes());
  std::memcpy(img.data(), a.bytes.data(), a.bytes.size());
  return img;
}

TEST_CASE("resize of modes I and F matches Pillow bit for bit", "[resize][golden]") {
  int n = 0;
  for (const auto& c : read_cases("resize_i")) {
    INFO(c.output << " " << c.args.at("filter"));
    const auto in = read_typed<std::int32_t>(c.input, "<i4");
    const auto want = read_typed<std::int32_t>(c.output, "<i4");
    const auto out = wds::resize(in.view(), std::stoi(c.args.at("width")), std::stoi(c.args.at("height")),
                                 *wds::parse_filter(c.args.at("filter")));
    REQUIRE(out.size() == want.size());
    CHECK(std::memcmp(out.data(), want.data(), out.size_bytes()) == 0);
    ++n;
  }
  for (const auto& c : read_cases("resize_f")) {
    INFO(c.output << " " << c.args.at("filter"));
    const auto in = read_typed<float>(c.input, "<f4");
    const auto want = read_typed<float>(c.output, "<f4");
    const wds::any_image any(in);
    const auto out = std::get<wds::image<float>>(wds::resize(any, std::stoi(c.args.at("width")),
                                                             std::stoi(c.args.at("height")),
                                                             *wds::parse_filter(c.args.at("filter"))));
    REQUIRE(out.size() == want.size());
    CHECK(std::memcmp(out.data(), want.data(), out.size_bytes()) == 0);
    ++n;
  }
  CHECK(n == 60);
}

TEST_CASE("resize_plan is reusable and equals one-shot resize", "[resize]") {
  const auto in = read_input("chelsea_rgb.npy");
  const wds::resize_plan plan(in.width(), in.height(), 30, 17, wds::resample_filter::bicubic);
  wds::resize_plan::scratch scratch;
  const auto a = plan(in.view(), scratch);
  const auto b = plan(in.view(), scratch);
  const auto c = wds::resize(in.view(), 30, 17, wds::resample_filter::bicubic);
  CHECK(same_pixels(a.view(), b.view()));
  CHECK(same_pixels(a.view(), c.view()));
  // A flipped (negative-step) source resizes like its materialized copy.
  const auto flipped = wds::materialize(in.view().flipped_left_right());
  CHECK(same_pixels(plan(in.view().flipped_left_right()).view(), plan(flipped.view()).view()));
  try {
    (void)plan(wds::resize(in.view(), 10, 10).view());
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 634);
  }
}

TEST_CASE("torchvision Resize(int, max_size) output size", "[resize][golden]") {
  std::ifstream f(data_dir + "params.txt");
  REQUIRE(f.good());
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::string op;
    ss >> op;
    if (op != "resized_size") continue;
    int h, w, size, max_size, oh, ow;
    ss >> h >> w >> size >> max_size >> oh >> ow;
    INFO(line);
    const auto r = wds::resized_size(h, w, size, max_size ? std::optional<int>(max_size) : std::nullopt);
    CHECK(r.height == oh);
    CHECK(r.width == ow);
    ++n;
  }
  CHECK(n > 1000);
  try {
    (void)wds::resized_size(100, 200, 256, 256);
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 630);
  }
}

TEST_CASE("torchvision Resize on PIL images", "[resize][golden]") {
  const auto cases = read_cases("tv_resize");
  REQUIRE(!cases.empty());
  for (const auto& c : cases) {
    INFO(c.input << " -> " << c.output);
    const auto in = read_input(c.input);
    const auto expected = read_image(c.output);
    const int max_size = std::stoi(c.args.at("max_size"));
    const wds::transforms::resize op(std::stoi(c.args.at("size")), *wds::parse_filter(c.args.at("filter")),
                                     max_size ? std::optional<int>(max_size) : std::nullopt);
    const auto out = std::move(op(in.view())).take();
    CHECK(same_pixels(out.view(), expected.view()));
  }
}

TEST_CASE("resize rejects bad sizes", "[resize]") {
  wds::image<std::uint8_t> img(4, 4, 3, 1);
  for (auto [w, h] : {std::pair{0, 4}, std::pair{4, 0}, std::pair{-1, -1}}) {
    try {
      (void)wds::resize(img.view(), w, h);
      FAIL("expected an error");
    } catch (const wds::spec_error& e) {
      CHECK(e.id() == 632);
    }
  }
  wds::image<std::uint8_t> five(4, 4, 5, 1);
  try {
    (void)wds::resize(five.view(), 2, 2);
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 636);
  }
}
