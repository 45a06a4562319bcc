// SPDX-License-Identifier: MIT
// torchvision 0.14 (PIL path) parity of wds/transforms.hpp: golden data from
// tests/golden/gen_transforms.py, plus the static composition.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "transforms_golden.hpp"
#include "wds/transforms.hpp"

using wds_test::golden_case;
using wds_test::read_cases;
using wds_test::read_image;
using wds_test::read_input;
using wds_test::same_pixels;

namespace {

wds::tensor<float> read_tensor(const std::string& name) {
  const wds_test::npy_array a = wds_test::read_transforms_npy(name);
  REQUIRE(a.descr == "<f4");
  wds::tensor<float> t(a.shape);
  REQUIRE(a.bytes.size() == t.size() * 4);
  std::memcpy(t.data(), a.bytes.data(), a.bytes.size());
  return t;
}

std::vector<float> floats(const std::string& csv) {
  std::vector<float> v;
  std::stringstream ss(csv);
  std::string tok;
  while (std::getline(ss, tok, ',')) v.push_back(float(std::stod(tok)));
  return v;
}

std::vector<std::vector<std::string>> read_params(const std::string& op) {
  std::ifstream f(wds_test::transforms_path("params.txt"));
  REQUIRE(f.good());
  std::vector<std::vector<std::string>> out;
  std::string line;
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::vector<std::string> t;
    std::string w;
    while (ss >> w) t.push_back(w);
    if (!t.empty() && t[0] == op) out.push_back(t);
  }
  return out;
}

wds::pad_mode pad_mode_of(const std::string& s) {
  return s == "edge" ? wds::pad_mode::edge : s == "reflect" ? wds::pad_mode::reflect
       : s == "symmetric" ? wds::pad_mode::symmetric : wds::pad_mode::constant;
}
wds::pixel_mode mode_of(const std::string& s) { return wds_test::parse_pillow_mode(s).value(); }
int arg(const golden_case& c, const char* k) { return std::stoi(c.args.at(k)); }

}  // namespace

TEST_CASE("geometry ops match torchvision on PIL bit for bit", "[transforms][golden]") {
  int n = 0;
  for (const char* op : {"center_crop", "crop", "hflip", "vflip", "pad"}) {
    const auto cases = read_cases(op);
    REQUIRE(!cases.empty());
    for (const auto& c : cases) {
      INFO(op << " " << c.input << " -> " << c.output);
      const auto in = read_input(c.input);
      const auto expected = read_image(c.output);
      const std::string o = op;
      wds::image<std::uint8_t> out;
      if (o == "center_crop") {
        out = std::move(wds::center_crop(in.view(), arg(c, "height"), arg(c, "width"))).take();
      } else if (o == "crop") {
        out = std::move(wds::crop(in.view(), arg(c, "top"), arg(c, "left"), arg(c, "height"), arg(c, "width"))).take();
      } else if (o == "hflip") {
        out = wds::materialize(wds::hflip(in.view()));
      } else if (o == "vflip") {
        out = wds::materialize(wds::vflip(in.view()));
      } else {
        out = wds::pad(in.view(), arg(c, "left"), arg(c, "top"), arg(c, "right"), arg(c, "bottom"),
                       pad_mode_of(c.args.at("mode")), std::uint8_t(arg(c, "fill")));
      }
      CHECK(same_pixels(out.view(), expected.view()));
      ++n;
    }
  }
  CHECK(n > 200);
}

TEST_CASE("center_crop rounds the offset half to even, crops are views", "[transforms]") {
  wds::image<std::uint8_t> img(257, 10, 1, 0);
  for (int x = 0; x < 257; ++x) img(x, 0) = std::uint8_t(x);
  auto r = wds::center_crop(img.view(), 10, 224);
  CHECK_FALSE(r.owns());
  CHECK(r.view()(0, 0) == 16);  // round(33 / 2) = 16 (half to even), not 17
  wds::image<std::uint8_t> img2(259, 10, 1, 0);
  for (int x = 0; x < 259; ++x) img2(x, 0) = std::uint8_t(x);
  CHECK(wds::center_crop(img2.view(), 10, 224).view()(0, 0) == 18);  // round(17.5) = 18
  auto padded = wds::center_crop(img.view(), 12, 224);  // pads 1 row above and below
  CHECK(padded.owns());
  CHECK(padded.view()(0, 0) == 0);
  CHECK(padded.view()(0, 1) == 16);
  // A flip is a view onto the same pixels.
  auto f = wds::hflip(img.view());
  CHECK(f.origin() == &img(256, 0));
  CHECK(f(0, 0) == img(256, 0));
}

TEST_CASE("grayscale and convert match Pillow", "[transforms][golden]") {
  for (const auto& c : read_cases("grayscale")) {
    INFO(c.input << " -> " << c.output);
    const auto in = read_input(c.input);
    const auto out = wds::grayscale(in.view(), arg(c, "channels"));
    CHECK(same_pixels(out.view(), read_image(c.output).view()));
  }
  for (const auto& c : read_cases("convert")) {
    INFO(c.input << " -> " << c.output);
    const auto in = read_input(c.input);
    const wds::transforms::convert_to op(mode_of(c.args.at("to")));
    const auto out = std::move(op(in.view())).take();
    CHECK(out.mode() == mode_of(c.args.at("to")));
    CHECK(same_pixels(out.view(), read_image(c.output).view()));
  }
}

TEST_CASE("to_tensor / normalize / to_pil_image match torchvision", "[transforms][golden]") {
  for (const auto& c : read_cases("to_tensor")) {
    INFO(c.input);
    const auto t = wds::to_tensor(read_input(c.input).view());
    const auto e = read_tensor(c.output);
    REQUIRE(t.shape() == e.shape());
    for (std::size_t i = 0; i < t.size(); ++i) CHECK(std::fabs(t[i] - e[i]) <= 1e-6f);
    CHECK(std::memcmp(t.data(), e.data(), t.size() * 4) == 0);  // in fact exact
  }
  for (const auto& c : read_cases("normalize")) {
    INFO(c.input);
    const auto t = wds::normalize(wds::to_tensor(read_input(c.input).view()), floats(c.args.at("mean")),
                                  floats(c.args.at("std")));
    const auto e = read_tensor(c.output);
    REQUIRE(t.shape() == e.shape());
    float worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) worst = std::max(worst, std::fabs(t[i] - e[i]));
    CHECK(worst <= 1e-6f);
  }
  int lut_cases = 0;
  for (const auto& c : read_cases("to_pil_image")) {
    INFO(c.input << " -> " << c.output);
    const auto in = read_input(c.input);
    const auto mean = floats(c.args.at("mean")), std_dev = floats(c.args.at("std"));
    const auto expected = read_image(c.output);
    const auto chained = wds::to_pil_image(wds::normalize(wds::to_tensor(in.view()), mean, std_dev));
    CHECK(same_pixels(chained.view(), expected.view()));
    const wds::normalize_lut lut(mean, std_dev);
    CHECK(same_pixels(lut(in.view()).view(), expected.view()));
    ++lut_cases;
  }
  CHECK(lut_cases >= 12);
}

TEST_CASE("to_pil_image wraps out-of-range values like torch's .byte()", "[transforms][golden]") {
  const auto cases = read_cases("to_pil_image_raw");
  REQUIRE(cases.size() == 1);
  const auto t = read_tensor(cases[0].input);
  const auto expected = read_image(cases[0].output);
  const auto out = wds::to_pil_image(t);
  CHECK(same_pixels(out.view(), expected.view()));
  CHECK(wds::float_to_byte_like_torch(-2.1f) == 233);
  CHECK(wds::float_to_byte_like_torch(1.5f) == 126);
  CHECK(wds::float_to_byte_like_torch(2.64f) == 161);
}

TEST_CASE("fused normalize LUT equals the unfused chain for all 768 inputs", "[transforms]") {
  wds::image<std::uint8_t> ramp(256, 1, 3);
  for (int u = 0; u < 256; ++u)
    for (int c = 0; c < 3; ++c) ramp(u, 0, c) = std::uint8_t(u);
  for (const auto& [m, s] : {std::pair{wds::imagenet_mean(), wds::imagenet_std()},
                             std::pair{std::vector<float>{0.5f, 0.5f, 0.5f}, std::vector<float>{0.5f, 0.5f, 0.5f}},
                             std::pair{std::vector<float>{-3.f, 0.999f, 1e-3f}, std::vector<float>{1e-4f, 3.f, 0.0071f}}}) {
    const auto fused = wds::transforms::normalize_u8(m, s)(ramp.view());
    const auto chain = wds::to_pil_image(wds::normalize(wds::to_tensor(ramp.view()), m, s));
    CHECK(same_pixels(fused.view(), chain.view()));
    // The static pipeline fuses the same three ops.
    const auto piped = (wds::transforms::to_tensor{} | wds::transforms::normalize(m, s) |
                        wds::transforms::to_pil_image{} | wds::transforms::hflip{})(ramp.view());
    CHECK(same_pixels(piped.view(), wds::hflip(chain.view())));
  }
  // Zero padding through ImageNet normalization comes out as (228, 249, 52).
  const auto& t = wds::normalize_lut(wds::imagenet_mean(), wds::imagenet_std());
  CHECK(t.table(0)[0] == 228);
  CHECK(t.table(1)[0] == 249);
  CHECK(t.table(2)[0] == 52);
}

TEST_CASE("std::mt19937 draws what torch.manual_seed draws", "[transforms][random][golden]") {
  for (const auto& p : read_params("rand")) {
    std::mt19937 g(std::stoul(p[1]));
    for (std::size_t i = 2; i < p.size(); ++i) {
      const double want = std::strtod(p[i].c_str(), nullptr);
      CHECK(double(wds::torch_uniform(g, 0.0f, 1.0f)) == want);
    }
  }
  for (const auto& p : read_params("randint")) {
    std::mt19937 g(std::stoul(p[1]));
    const std::int64_t highs[] = {1, 2, 3, 100, 1000001};
    for (std::size_t i = 0; i < 5; ++i) CHECK(wds::torch_randint(g, 0, highs[i]) == std::stoll(p[2 + i]));
  }
}

TEST_CASE("random crop parameters match torchvision get_params", "[transforms][random][golden]") {
  int n = 0;
  for (const auto& p : read_params("rrc")) {
    INFO(p[1] << " " << p[2] << "x" << p[3]);
    std::mt19937 g(std::stoul(p[1]));
    const auto b = wds::random_resized_crop_params(std::stoi(p[2]), std::stoi(p[3]),
                                                   {std::stod(p[4]), std::stod(p[5])},
                                                   {std::stod(p[6]), std::stod(p[7])}, g);
    CHECK(b.top == std::stoi(p[8]));
    CHECK(b.left == std::stoi(p[9]));
    CHECK(b.height == std::stoi(p[10]));
    CHECK(b.width == std::stoi(p[11]));
    ++n;
  }
  CHECK(n > 500);
  for (const auto& p : read_params("random_crop")) {
    std::mt19937 g(std::stoul(p[1]));
    const auto b = wds::random_crop_params(std::stoi(p[2]), std::stoi(p[3]), std::stoi(p[4]), std::stoi(p[5]), g);
    CHECK(b.top == std::stoi(p[6]));
    CHECK(b.left == std::stoi(p[7]));
  }
  for (const auto& p : read_params("random_hflip")) {
    std::mt19937 g(std::stoul(p[1]));
    wds::image<std::uint8_t> img(2, 1, 1);
    img(0, 0) = 1;
    img(1, 0) = 2;
    const auto v = wds::transforms::random_hflip(std::stod(p[2]))(img.view(), g);
    CHECK((v(0, 0) == 2) == (p[3] == "1"));
  }
}

TEST_CASE("static pipelines compose views and owned results", "[transforms]") {
  using namespace wds::transforms;
  const auto in = read_input("chelsea_rgb.npy");
  // Equivalent to applying the free functions one by one.
  const auto p = resize(40) | center_crop(32, 30) | hflip{} | vflip{};
  const auto out = p(in);
  const auto sz = wds::resized_size(in.height(), in.width(), 40);
  CHECK(sz.height == 40);
  CHECK(sz.width == 54);  // int(40 * 83 / 61)
  const auto r = wds::resize(in.view(), sz.width, sz.height, wds::resample_filter::bilinear);
  const auto expected = wds::materialize(wds::vflip(wds::hflip(wds::center_crop(r.view(), 32, 30).view())));
  CHECK(same_pixels(out.view(), expected.view()));
  // Nested pipelines flatten; tensor stages move.
  const auto q = p | (to_tensor{} | normalize::imagenet());
  const wds::tensor<float> t = q(in);
  CHECK(t.shape() == std::vector<std::size_t>{3, 32, 30});
  static_assert(std::tuple_size_v<std::decay_t<decltype(q.ops())>> == 6);
  // Random ops take the generator at call time; same seed, same result.
  const auto rp = random_resized_crop(24) | random_hflip{} | grayscale(3);
  std::mt19937 g1(7), g2(7);
  const auto a = rp(in, g1), b = rp(in, g2);
  CHECK(a.width() == 24);
  CHECK(a.channels() == 3);
  CHECK(same_pixels(a.view(), b.view()));
}

TEST_CASE("random_crop pads like torchvision before cropping", "[transforms]") {
  using namespace wds::transforms;
  wds::image<std::uint8_t> img(5, 4, 1, 9);
  random_crop rc(6, 8);
  rc.pad_if_needed = true;
  std::mt19937 g(1);
  const auto out = std::move(rc(img.view(), g)).take();
  CHECK(out.width() == 8);
  CHECK(out.height() == 6);
  wds::image<std::uint8_t> small(3, 3, 1, 9);
  random_crop strict(4);
  try {
    (void)strict(small.view(), g);
    FAIL("expected an error");
  } catch (const wds::spec_error& e) {
    CHECK(e.id() == 647);
  }
}

TEST_CASE("pad handles wide reflections and negative amounts", "[transforms]") {
  wds::image<std::uint8_t> row(3, 1, 1);
  row(0, 0) = 1; row(1, 0) = 2; row(2, 0) = 3;
  // numpy: np.pad([1,2,3], (7, 0), 'reflect') = [2,3,2,1,2,3,2,1,2,3]
  const auto r = wds::pad(row.view(), 7, 0, 0, 0, wds::pad_mode::reflect);
  const int want[] = {2, 3, 2, 1, 2, 3, 2, 1, 2, 3};
  for (int x = 0; x < 10; ++x) CHECK(r(x, 0) == want[x]);
  const auto c = wds::pad(row.view(), -1, 0, 2, 0, wds::pad_mode::edge);
  CHECK(c.width() == 4);
  CHECK(c(0, 0) == 2);
  CHECK(c(3, 0) == 3);
}
