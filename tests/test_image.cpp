// SPDX-License-Identifier: MIT
// image / image_view: O(1) views, modes carried through views.
#include <cstdint>

#include "catch.hpp"
#include "wds/image.hpp"

TEST_CASE("views crop and flip without copying and keep the mode", "[image]") {
  wds::image<std::uint8_t> img(4, 3, 4);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 4; ++c) img(x, y, c) = std::uint8_t(y * 40 + x * 4 + c);
  img.set_mode(wds::pixel_mode::cmyk);
  auto v = img.view();
  CHECK(v.mode() == wds::pixel_mode::cmyk);
  auto s = v.subview(1, 1, 2, 2);
  CHECK(s.origin() == &img(1, 1));
  CHECK(s.mode() == wds::pixel_mode::cmyk);
  auto f = s.flipped_left_right().flipped_up_down();
  CHECK(f(0, 0, 2) == img(2, 2, 2));
  CHECK(f.mode() == wds::pixel_mode::cmyk);
  wds::image_view<const std::uint8_t> cf = f;
  CHECK(cf.mode() == wds::pixel_mode::cmyk);
  const auto m = wds::materialize(cf);
  CHECK(m.mode() == wds::pixel_mode::cmyk);
  CHECK(m(1, 1, 3) == img(1, 1, 3));
  CHECK(m(0, 1, 0) == img(2, 1, 0));
}

TEST_CASE("default modes follow the sample type and channel count", "[image]") {
  CHECK(wds::image<std::uint8_t>(1, 1, 4).view().mode() == wds::pixel_mode::rgba);
  CHECK(wds::image<std::uint8_t>(1, 1, 2).view().mode() == wds::pixel_mode::la);
  CHECK(wds::image<std::uint8_t>(1, 1, 1).view().mode() == wds::pixel_mode::l);
  CHECK(wds::image<std::uint16_t>(1, 1, 1).mode() == wds::pixel_mode::i16);
  CHECK(wds::image<float>(1, 1, 1).view().mode() == wds::pixel_mode::f);
  wds::image<std::uint8_t> raw(2, 2, 3, 0);
  wds::image_view<std::uint8_t> v(raw.data(), 2, 2, 3);
  CHECK_FALSE(v.has_mode());
  CHECK(v.with_mode(wds::pixel_mode::rgb).has_mode());
  CHECK(v.flipped_left_right().x_step() == -3);
}
