// PNG chunk rules exactly as Pillow 9.4 (accept / refuse, pixels, and
// info["comment"]) on crafted files; golden data: tests/golden/gen_png_chunks.py.
#include "wds/config.hpp"

#include "catch.hpp"

#if WDS_HAS_PNG

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"
#include "wds/codec/png.hpp"

namespace {

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

struct chunk_case {
  std::string name, decision, fnv, shape, comment;
};

std::vector<chunk_case> chunk_cases() {
  std::ifstream in(wds_test::data_path("pngchunks/manifest.txt"));
  std::vector<chunk_case> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    chunk_case c;
    ss >> c.name >> c.decision >> c.fnv >> c.shape >> c.comment;
    if (!c.name.empty()) out.push_back(c);
  }
  return out;
}

}  // namespace

TEST_CASE("png chunks: accept/refuse, pixels and comment as Pillow 9.4", "[png][pngchunks]") {
  const auto cases = chunk_cases();
  REQUIRE(cases.size() >= 60);
  wds::png_decoder dec;
  for (const auto& c : cases) {
    INFO(c.name);
    const auto data = wds_test::read_file(wds_test::data_path("pngchunks/" + c.name + ".png"));
    if (c.decision == "refuse") {
      CHECK_THROWS_AS(dec.decode(data.data(), data.size(), wds::pixel_mode::rgb), wds::decode_error);
      continue;
    }
    wds::any_image img;
    try {
      img = dec.decode(data.data(), data.size(), wds::pixel_mode::rgb);
    } catch (const std::exception& e) {
      FAIL_CHECK("refused what Pillow accepts: " << e.what());
      continue;
    }
    const auto& im = std::get<wds::image<std::uint8_t>>(img);
    char h[17];
    std::snprintf(h, sizeof h, "%016llx", static_cast<unsigned long long>(wds_test::fnv1a64(im.data(), im.size_bytes())));
    CHECK(std::to_string(im.height()) + "x" + std::to_string(im.width()) == c.shape);
    CHECK(std::string(h) == c.fnv);
    const auto& com = dec.comment();
    CHECK((com && !com->empty() ? hex(*com) : std::string("-")) == c.comment);
  }
}

TEST_CASE("png chunks: limits::png_strict refuses what only libspng checks", "[png][pngchunks]") {
  wds::limits strict;
  strict.png_strict = true;
  wds::png_decoder dec;
  for (const char* name : {"idat_first_bad_crc", "idat_last_bad_crc", "iend_bad_crc", "adler_bad_later_idat"}) {
    INFO(name);
    const auto data = wds_test::read_file(wds_test::data_path(std::string("pngchunks/") + name + ".png"));
    CHECK_NOTHROW(dec.decode(data.data(), data.size(), wds::pixel_mode::rgb));
    CHECK_THROWS_AS(dec.decode(data.data(), data.size(), wds::pixel_mode::rgb, strict), wds::decode_error);
  }
  // Strict mode still refuses everything Pillow refuses.
  const auto bad = wds_test::read_file(wds_test::data_path("pngchunks/iccp_bad_crc.png"));
  CHECK_THROWS_AS(dec.decode(bad.data(), bad.size(), wds::pixel_mode::rgb, strict), wds::decode_error);
  const auto good = wds_test::read_file(wds_test::data_path("pngchunks/good.png"));
  CHECK_NOTHROW(dec.decode(good.data(), good.size(), wds::pixel_mode::rgb, strict));
}

#else
TEST_CASE("png chunks: skipped (WDS_HAS_PNG=0)", "[png]") { SUCCEED("built without libspng"); }
#endif
